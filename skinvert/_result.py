"""Result object returned by ``invert``."""

from dataclasses import dataclass

import numpy as np


@dataclass
class InversionResult:
    """Recovered inputs and per-target diagnostics.

    Attributes
    ----------
    X : ndarray of shape (n_targets, n_features)
        Recovered inputs, one row per target.
    residual : ndarray of shape (n_targets,)
        Root-mean-square forward error ``f(X) - Y`` over the outputs of each
        target, in the units of Y.
    converged : ndarray of shape (n_targets,), dtype=bool
        True where the solver reached its optimum and the target is reachable
        within the bounds (its smallest achievable misfit is within ``tol``).
    active_bounds : ndarray of shape (n_targets, n_features), dtype=int8 or None
        -1 where a feature sits at its lower bound, 1 at its upper bound and 0
        elsewhere; None without bounds.
    X_std : ndarray of shape (n_targets, n_features) or None
        Posterior standard deviation of each recovered feature under the
        Gaussian prior, ignoring the bounds; None where the method has none.
    alpha : float or None
        Regularization strength used.
    n_iter : ndarray of shape (n_targets,) or None
        Iterations run for the returned input; None for closed forms.
    stopped : ndarray of shape (n_targets,), dtype=bool, or None
        True where the optimizer met a stopping test before ``max_iter``;
        None for closed forms.
    candidates : ndarray of shape (n_targets, n_candidates, n_features) or None
        Every candidate input found per target (one per start), best first.
    candidate_losses : ndarray of shape (n_targets, n_candidates) or None
        Objective value of each candidate, in the order of ``candidates``.
    """

    X: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    active_bounds: np.ndarray | None = None
    X_std: np.ndarray | None = None
    alpha: float | None = None
    n_iter: np.ndarray | None = None
    stopped: np.ndarray | None = None
    candidates: np.ndarray | None = None
    candidate_losses: np.ndarray | None = None

    def __repr__(self):
        n_targets = self.X.shape[0]
        n_converged = int(np.sum(self.converged))
        return (
            f"InversionResult(n_targets={n_targets}, n_converged={n_converged}, "
            f"max_residual={np.max(self.residual, initial=0.0):.3g})"
        )
