"""Extraction of the affine map ``y = A @ x + b`` behind a fitted model."""

import numpy as np
import scipy.sparse as sp
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

# Rows of the probe matrix evaluated per call, to bound memory for models
# with many features.
_PROBE_CHUNK = 1024

# A model is accepted as affine when its predictions differ from the
# extracted map by at most this share of their spread on the check points,
# plus this share of their magnitude for rounding.
_SPREAD_RTOL = 1e-5
_MAGNITUDE_RTOL = 1e-6


def unwrap_frozen(estimator):
    """Return the model inside any ``FrozenEstimator`` layers."""
    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    return estimator


def as_model_input(estimator, X):
    """Return ``X`` as a DataFrame when ``estimator`` was fitted on one.

    Passing column names avoids scikit-learn's warning about missing feature
    names and keeps column-selecting steps working.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return X
    import pandas as pd

    return pd.DataFrame(X, columns=names)


def _as_2d_float(values):
    if sp.issparse(values):
        values = values.toarray()
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    return values


def _evaluate(function, X):
    """Apply ``function`` to the rows of ``X`` in chunks.

    Floating-point warnings are silenced because probes off the training data
    may leave a step's domain; the caller rejects non-finite results.
    """
    with np.errstate(all="ignore"):
        parts = [
            _as_2d_float(function(X[start : start + _PROBE_CHUNK]))
            for start in range(0, X.shape[0], _PROBE_CHUNK)
        ]
    return np.vstack(parts)


def _fit_affine(function, X_reference, seed=0):
    """Probe ``function`` along each coordinate and check the result.

    Returns ``(A, b, is_affine, relative_gap)``, where ``A`` has shape
    (n_outputs, n_inputs). ``relative_gap`` is the largest gap between
    ``function`` and ``A @ x + b`` as a share of the spread of the outputs.
    It is measured on training rows and on random points scattered twice as
    wide as the training data.
    """
    X_reference = np.asarray(X_reference, dtype=np.float64)
    n_features = X_reference.shape[1]
    center = X_reference.mean(axis=0)
    step = X_reference.std(axis=0)
    step[step == 0] = np.maximum(np.abs(center[step == 0]), 1.0)

    probes = np.vstack([center, center + np.diag(step)])
    try:
        values = _evaluate(function, probes)
    except ValueError:
        # A transform such as log fails on probes outside its domain.
        return None, None, False, np.nan
    A = ((values[1:] - values[0]) / step[:, None]).T
    b = values[0] - A @ center

    rng = np.random.default_rng(seed)
    rows = X_reference[rng.permutation(X_reference.shape[0])[:100]]
    scattered = center + 2 * step * rng.standard_normal((n_features + 10, n_features))
    checks = np.vstack([rows, scattered])
    try:
        expected = _evaluate(function, checks)
    except ValueError:
        return A, b, False, np.nan
    gap = np.abs(expected - (checks @ A.T + b))
    spread = np.ptp(expected, axis=0)
    magnitude = np.max(np.abs(expected), axis=0)
    tolerance = _SPREAD_RTOL * spread + _MAGNITUDE_RTOL * magnitude
    tolerance = np.maximum(tolerance, 1e3 * np.finfo(np.float64).tiny)
    is_affine = bool(np.all(gap <= tolerance))
    with np.errstate(invalid="ignore"):
        relative_gap = float(
            np.max(gap / np.maximum(spread, np.finfo(np.float64).tiny))
        )
    return A, b, is_affine, relative_gap


def _model_function(estimator):
    return lambda X: estimator.predict(as_model_input(estimator, X))


def _step_function(step):
    return lambda X: step.transform(as_model_input(step, X))


def _not_affine_error(owner, culprit, deviation):
    if np.isfinite(deviation):
        gap = (
            f"its predictions depart from an affine map by up to {deviation:.3g} "
            "times their range, on training rows and points around them"
        )
    else:
        gap = (
            "it fails or returns NaN or infinite values on points around the "
            "training data"
        )
    return ValueError(
        f"{owner} needs a model whose predict is affine in X, but {culprit} is "
        f"not affine: {gap}. Invert a differentiable nonlinear model with "
        "GradientInverter, and a model without gradients with "
        "BlackBoxInverter."
    )


def extract_affine_map(estimator, X, owner="LinearInverter"):
    """Return ``(A, b)`` such that ``estimator.predict(x) == A @ x + b``.

    The map is read off ``predict`` by probing along each input coordinate
    in float64, then checked against ``predict`` on training rows and on
    random points around them, so it works for every affine model whatever
    the layout of its ``coef_``. When the check fails on a Pipeline, each
    step is probed on its own to name the step that is not affine.

    Parameters
    ----------
    estimator : fitted regressor or Pipeline
        Model to read.
    X : ndarray of shape (n_samples, n_features)
        Training inputs, used to place the probes and the check points.
    owner : str
        Name used in error messages.

    Returns
    -------
    A : ndarray of shape (n_outputs, n_features)
    b : ndarray of shape (n_outputs,)

    Raises
    ------
    ValueError
        If ``predict`` is not affine in X.
    """
    model = unwrap_frozen(estimator)
    A, b, is_affine, deviation = _fit_affine(_model_function(model), X)
    if is_affine:
        return A, b

    if isinstance(model, Pipeline):
        Xt = np.asarray(X, dtype=np.float64)
        for name, step in model.steps[:-1]:
            if step is None or step == "passthrough":
                continue
            _, _, step_is_affine, step_deviation = _fit_affine(_step_function(step), Xt)
            if not step_is_affine:
                culprit = f"step {name!r} ({type(step).__name__})"
                raise _not_affine_error(owner, culprit, step_deviation)
            Xt = _as_2d_float(step.transform(as_model_input(step, Xt)))
        name, final = model.steps[-1]
        culprit = f"step {name!r} ({type(final).__name__})"
        raise _not_affine_error(owner, culprit, deviation)
    raise _not_affine_error(owner, type(model).__name__, deviation)
