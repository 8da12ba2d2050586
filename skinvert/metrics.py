"""Quality measures for inverse problems, and scorers for model selection."""

import numpy as np
from sklearn.utils.validation import check_array


def resimulation_error(Y, X_hat, forward):
    """Return the per-target mean squared re-simulation error.

    The re-simulation error of a recovered input is the forward error
    ``mean((forward(x_hat) - y)**2)`` measured with a forward function the
    caller trusts, such as the true simulator rather than the surrogate
    model that was inverted.

    Parameters
    ----------
    Y : array-like of shape (n_targets, n_outputs) or (n_targets,)
        Targets.
    X_hat : array-like of shape (n_targets, n_features)
        Recovered inputs.
    forward : callable
        Maps an array of shape (n_targets, n_features) to outputs of the
        shape of ``Y``.

    Returns
    -------
    error : ndarray of shape (n_targets,)
        Mean squared error over the outputs of each target.

    Examples
    --------
    >>> import numpy as np
    >>> from skinvert.metrics import resimulation_error
    >>> resimulation_error([[1.0], [4.0]], [[1.0], [1.5]], lambda X: X**2)
    array([0.    , 3.0625])
    """
    Y = check_array(Y, ensure_2d=False, input_name="Y")
    Y = Y.reshape(Y.shape[0], -1)
    X_hat = check_array(X_hat, input_name="X_hat")
    Y_resim = np.asarray(forward(X_hat), dtype=np.float64)
    Y_resim = Y_resim.reshape(Y_resim.shape[0], -1)
    if Y_resim.shape != Y.shape:
        raise ValueError(
            f"forward(X_hat) has shape {Y_resim.shape}, but Y has shape "
            f"{Y.shape}; forward must return one row of outputs per input."
        )
    return np.mean((Y_resim - Y) ** 2, axis=1)


def best_of_t_resimulation_error(Y, candidates, forward, *, max_t=None):
    """Return the best-of-T re-simulation error r_T for T = 1, 2, ...

    For each target, r_T takes the smallest true re-simulation error among
    its first T candidates, in the order the surrogate ranked them (best
    first, as in ``invert(Y).candidates``), and averages it over targets.
    This is the measure of the Neural-Adjoint benchmark (Ren, Padilla and
    Malof, NeurIPS 2020), which reports it for T from 1 to 50.

    Parameters
    ----------
    Y : array-like of shape (n_targets, n_outputs) or (n_targets,)
        Targets.
    candidates : array-like of shape (n_targets, n_candidates, n_features)
        Candidate inputs per target, ranked best first.
    forward : callable
        The trusted forward function, such as the true simulator; it maps an
        array of shape (n, n_features) to outputs shaped like the rows of
        ``Y``. It is called once on all candidates.
    max_t : int or None, default=None
        Largest T; None means ``n_candidates``.

    Returns
    -------
    r : ndarray of shape (max_t,)
        ``r[T - 1]`` is r_T. Targets whose candidates all re-simulate to NaN
        (for example, a projectile that never lands) count as NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from skinvert.metrics import best_of_t_resimulation_error
    >>> candidates = np.array([[[2.0], [1.0]], [[0.5], [3.0]]])
    >>> best_of_t_resimulation_error([[1.0], [9.0]], candidates, lambda X: X**2)
    array([42.78125,  0.     ])
    """
    Y = check_array(Y, ensure_2d=False, input_name="Y")
    Y = Y.reshape(Y.shape[0], -1)
    candidates = np.asarray(candidates, dtype=np.float64)
    if candidates.ndim != 3 or candidates.shape[0] != Y.shape[0]:
        raise ValueError(
            f"candidates has shape {candidates.shape}, but Y has {Y.shape[0]} "
            "targets; pass an array of shape (n_targets, n_candidates, "
            "n_features), such as invert(Y).candidates."
        )
    n_targets, n_candidates, n_features = candidates.shape
    if max_t is None:
        max_t = n_candidates
    elif isinstance(max_t, bool) or not isinstance(max_t, (int, np.integer)):
        raise ValueError(
            f"best_of_t_resimulation_error: max_t must be an integer, got "
            f"{max_t!r}. Pass the number of candidates to use, or None for all."
        )
    if not 1 <= max_t <= n_candidates:
        raise ValueError(
            f"max_t={max_t} is outside 1..{n_candidates}, the number of "
            "candidates per target."
        )

    flat = candidates[:, :max_t].reshape(-1, n_features)
    owners = np.repeat(np.arange(n_targets), max_t)
    errors = resimulation_error(Y[owners], flat, forward).reshape(n_targets, max_t)
    # NaN (no result) never wins a minimum unless every candidate is NaN.
    finite = np.where(np.isnan(errors), np.inf, errors)
    best = np.minimum.accumulate(finite, axis=1)
    best[np.isinf(best)] = np.nan
    return best.mean(axis=0)


class ResimulationScorer:
    """Scorer for ``scoring=``: minus the mean re-simulation error.

    Called as ``scorer(inverter, X, y)``: inverts ``y``, re-simulates the
    recovered inputs and returns minus the mean over targets of the mean
    squared forward error, so that greater is better.

    Parameters
    ----------
    forward : callable or None, default=None
        Function that re-simulates inputs; None uses the inverter's own
        forward model, ``inverter.transform``.
    squared : bool, default=True
        If False, return minus the root of the mean squared error.
    """

    def __init__(self, forward=None, squared=True):
        self.forward = forward
        self.squared = squared

    def __call__(self, inverter, X, y):
        X_hat = np.asarray(inverter.inverse_transform(y))
        forward = inverter.transform if self.forward is None else self.forward
        error = float(np.mean(resimulation_error(y, X_hat, forward)))
        return -(error if self.squared else np.sqrt(error))

    def __repr__(self):
        return f"ResimulationScorer(forward={self.forward!r}, squared={self.squared})"


def make_resimulation_scorer(forward=None, *, squared=True):
    """Build a scorer that rates inverters by re-simulation error.

    Parameters
    ----------
    forward : callable or None, default=None
        Function that re-simulates recovered inputs; None uses the
        inverter's forward model.
    squared : bool, default=True
        Score with the mean squared error if True, its root otherwise.

    Returns
    -------
    scorer : ResimulationScorer
        Callable ``scorer(inverter, X, y)``, greater is better.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skinvert import LinearInverter
    >>> from skinvert.metrics import make_resimulation_scorer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=60)
    >>> search = GridSearchCV(
    ...     LinearInverter(Ridge()),
    ...     {"alpha": [0.0, 1.0, 100.0]},
    ...     scoring=make_resimulation_scorer(),
    ... ).fit(X, y)
    >>> float(search.best_params_["alpha"])
    0.0
    """
    return ResimulationScorer(forward=forward, squared=squared)


neg_resimulation_mse = make_resimulation_scorer()
neg_resimulation_rmse = make_resimulation_scorer(squared=False)
