"""Box-constrained linear least squares, one target at a time."""

import numpy as np
from scipy.optimize import lsq_linear


def solve_bounded(A, penalty, targets, lower, upper, progress=None):
    """Solve ``min ||A w - r||^2 + ||penalty @ w||^2`` with ``lower <= w <= upper``.

    Each row ``r`` of ``targets`` is solved with the bounded-variable
    least-squares method (BVLS), which ends at the exact optimum. Features
    whose lower and upper bounds are equal are held fixed.

    Parameters
    ----------
    A : ndarray of shape (n_outputs, n_features)
        Forward map.
    penalty : ndarray of shape (n_features, n_features) or None
        Regularization matrix, already scaled by ``sqrt(alpha)``.
    targets : ndarray of shape (n_targets, n_outputs)
        Right-hand sides.
    lower, upper : ndarray of shape (n_features,)
        Bounds on ``w``; infinite values leave a side open.
    progress : callable or None
        Called as ``progress(done, total)`` after each target.

    Returns
    -------
    W : ndarray of shape (n_targets, n_features)
        Solutions.
    active : ndarray of shape (n_targets, n_features), dtype=int8
        -1 at the lower bound, 1 at the upper bound, 0 elsewhere; features
        with equal bounds count as at their lower bound.
    success : ndarray of shape (n_targets,), dtype=bool
        Whether BVLS reported convergence.
    """
    n_targets = targets.shape[0]
    n_features = A.shape[1]
    fixed = lower == upper
    free = ~fixed

    W = np.empty((n_targets, n_features))
    W[:, fixed] = lower[fixed]
    active = np.zeros((n_targets, n_features), dtype=np.int8)
    success = np.ones(n_targets, dtype=bool)

    # Fixed features move to the right-hand side; the regularization rows
    # are appended below the forward map.
    offset_outputs = A[:, fixed] @ lower[fixed]
    system = A[:, free]
    offset_penalty = None
    if penalty is not None:
        offset_penalty = penalty[:, fixed] @ lower[fixed]
        system = np.vstack([system, penalty[:, free]])

    for i in range(n_targets):
        rhs = targets[i] - offset_outputs
        if penalty is not None:
            rhs = np.concatenate([rhs, -offset_penalty])
        if free.any():
            solution = lsq_linear(
                system,
                rhs,
                bounds=(lower[free], upper[free]),
                method="bvls",
                tol=1e-12,
            )
            W[i, free] = np.clip(solution.x, lower[free], upper[free])
            active[i, free] = solution.active_mask
            success[i] = solution.status > 0
        if progress is not None:
            progress(i + 1, n_targets)

    active[:, fixed] = -1
    return W, active, success
