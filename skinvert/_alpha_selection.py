"""Automatic choice of the Tikhonov strength from a singular value decomposition.

All criteria work on the standardized problem ``M @ z ~ R`` with ``M = U
diag(s) V^T`` and a batch of right-hand sides ``R`` (one column per target),
through the coefficients ``beta = U^T R`` and the squared norm of the part
of ``R`` outside the range of ``U``. The filter factor of singular value
``s_i`` at strength ``alpha`` is ``f_i = s_i^2 / (s_i^2 + alpha)``.
"""

import warnings

import numpy as np
from scipy.optimize import brentq

# The search grid spans these powers of ten times the largest squared
# singular value, ten points per decade.
GRID_DECADES = (-12, 2)
_POINTS_PER_DECADE = 10


def alpha_grid(s_max):
    """Return the alphas searched by the automatic criteria."""
    low, high = GRID_DECADES
    n_points = (high - low) * _POINTS_PER_DECADE + 1
    return s_max**2 * np.logspace(low, high, n_points)


def _filter_factors(s, alphas):
    s2 = s**2
    return s2[None, :] / (s2[None, :] + alphas[:, None])


def norms(s, beta, outside, alphas):
    """Return the squared residual and solution norms summed over targets.

    Returns ``(rho, eta)``, each of shape (n_alphas,), with ``rho =
    ||M Z - R||_F^2`` and ``eta = ||Z||_F^2``.
    """
    beta2 = np.sum(beta**2, axis=1)
    f = _filter_factors(s, alphas)
    rho = ((1 - f) ** 2) @ beta2 + outside
    eta = (f**2) @ (beta2 / s**2)
    return rho, eta


def gcv_scores(s, beta, outside, n_outputs, alphas):
    """Return the generalized cross-validation score at each alpha.

    ``G(alpha) = (rho / n_targets) / (n_outputs - sum_i f_i)^2``.
    """
    n_targets = beta.shape[1]
    rho, _ = norms(s, beta, outside, alphas)
    trace = n_outputs - _filter_factors(s, alphas).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = (rho / n_targets) / trace**2
    scores[~np.isfinite(scores)] = np.inf
    return scores


def lcurve_curvature(s, beta, outside, alphas):
    """Return the curvature of the L-curve at each alpha.

    The L-curve is ``(log ||M Z - R||, log ||Z||)`` traced by alpha; its
    corner is the point of largest curvature. The derivatives of ``rho`` and
    ``eta`` with respect to ``t = log(alpha)`` are exact, from ``df_i / dt =
    -f_i (1 - f_i)``; the tests check the result against finite differences.
    """
    beta2 = np.sum(beta**2, axis=1)
    weights = beta2 / s**2
    f = _filter_factors(s, alphas)
    rho, eta = norms(s, beta, outside, alphas)
    d_rho = 2 * (((1 - f) ** 2 * f) @ beta2)
    dd_rho = -2 * ((f * (1 - f) ** 2 * (1 - 3 * f)) @ beta2)
    d_eta = -2 * ((f**2 * (1 - f)) @ weights)
    dd_eta = 2 * ((f**2 * (2 - 3 * f) * (1 - f)) @ weights)

    # u = log ||M Z - R|| and v = log ||Z||, as functions of t.
    with np.errstate(divide="ignore", invalid="ignore"):
        du = d_rho / (2 * rho)
        ddu = (dd_rho * rho - d_rho**2) / (2 * rho**2)
        dv = d_eta / (2 * eta)
        ddv = (dd_eta * eta - d_eta**2) / (2 * eta**2)
        curvature = (du * ddv - ddu * dv) / (du**2 + dv**2) ** 1.5
    curvature[~np.isfinite(curvature)] = -np.inf
    return curvature


def discrepancy_alpha(s, beta, outside, n_outputs, noise_level, alphas):
    """Return the alpha whose mean squared residual per target matches the noise.

    Morozov's discrepancy principle: solve ``rho(alpha) / n_targets ==
    n_outputs * noise_level**2``. The residual grows with alpha, so the root
    is bracketed by the grid. Returns ``(alpha, on_edge)``.
    """
    n_targets = beta.shape[1]
    goal = n_outputs * noise_level**2

    def gap(log_alpha):
        rho, _ = norms(s, beta, outside, np.array([np.exp(log_alpha)]))
        return rho[0] / n_targets - goal

    low, high = np.log(alphas[0]), np.log(alphas[-1])
    gap_low, gap_high = gap(low), gap(high)
    if gap_low >= 0:
        return float(alphas[0]), True
    if gap_high <= 0:
        return float(alphas[-1]), True
    return float(np.exp(brentq(gap, low, high, xtol=1e-10))), False


def select_alpha(method, s, beta, outside, n_outputs, noise_level=None, owner=""):
    """Choose alpha with ``method`` and warn when it lands on the grid edge.

    Returns ``(alpha, alphas, criterion)`` where ``criterion`` contains the GCV
    score, the L-curve curvature or the mean squared residual per target
    over ``alphas``.
    """
    alphas = alpha_grid(s[0])
    if method == "gcv":
        criterion = gcv_scores(s, beta, outside, n_outputs, alphas)
        finite = criterion[np.isfinite(criterion)]
        if finite.size and np.ptp(finite) <= 1e-9 * np.max(np.abs(finite)):
            warnings.warn(
                f"{owner}: alpha='gcv' cannot choose, because its score is the "
                "same for every alpha. That happens when the map has no more "
                f"outputs than independent directions (here {n_outputs} output(s), "
                f"rank {s.size}). alpha_ is set to 0, the exact fit. Use "
                "alpha='discrepancy' or tune alpha with GridSearchCV.",
                UserWarning,
                stacklevel=6,
            )
            return 0.0, alphas, criterion
        index = int(np.argmin(criterion))
        alpha, on_edge = alphas[index], index in (0, alphas.size - 1)
    elif method == "lcurve":
        criterion = lcurve_curvature(s, beta, outside, alphas)
        index = int(np.argmax(criterion))
        alpha, on_edge = alphas[index], index in (0, alphas.size - 1)
    else:
        alpha, on_edge = discrepancy_alpha(
            s, beta, outside, n_outputs, noise_level, alphas
        )
        rho, _ = norms(s, beta, outside, alphas)
        criterion = rho / beta.shape[1]

    if on_edge:
        low, high = GRID_DECADES
        warnings.warn(
            f"{owner}: alpha={method!r} chose alpha_={alpha:.3g}, an end of the "
            f"searched range (1e{low} to 1e{high} times the largest squared "
            "singular value, in standardized input units). The criterion may "
            "keep improving beyond it: noise-free training targets push it to "
            "the low end, targets dominated by noise to the high end. Pass a "
            "number for alpha or tune it with GridSearchCV.",
            UserWarning,
            # Points at the caller of fit: select_alpha, _select_alpha,
            # _fit_inverse, fit and its validation wrapper sit in between.
            stacklevel=6,
        )
    return float(alpha), alphas, criterion
