"""Gaussian prior over the input space, learned from the training inputs."""

import numpy as np

# Share of the identity mixed into the training correlation matrix so that
# the full-covariance prior stays invertible when features are collinear or
# there are fewer samples than features. It bounds the prior's condition
# number by about 1e6.
_CORRELATION_SHRINKAGE = 1e-6


def fit_input_prior(X, kind):
    """Learn the prior ``x = mean + L @ z``, with ``z`` standard normal.

    With ``kind="diag"``, ``L = diag(scale)`` and the features are
    independent; with ``kind="full"``, ``L`` is the symmetric square root of
    the training covariance, shrunk slightly toward its diagonal.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training inputs.
    kind : {"diag", "full"}
        Covariance structure.

    Returns
    -------
    prior : dict
        ``mean``, ``scale`` (per-feature standard deviation, 1 for constant
        features), ``data_min``, ``data_max``, ``sqrt`` (``L``),
        ``inverse_sqrt`` and ``covariance`` (``L @ L.T``).
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    # A constant feature gets unit scale, as in StandardScaler, so that
    # standardizing never divides by zero.
    scale[scale <= 10 * np.finfo(np.float64).eps * np.abs(mean)] = 1.0
    scale[scale == 0] = 1.0

    if kind == "full":
        Z = (X - mean) / scale
        correlation = Z.T @ Z / n_samples
        correlation *= 1 - _CORRELATION_SHRINKAGE
        correlation[np.diag_indices(n_features)] += _CORRELATION_SHRINKAGE
        eigval, eigvec = np.linalg.eigh(correlation)
        eigval = np.clip(eigval, _CORRELATION_SHRINKAGE, None)
        sqrt = scale[:, None] * ((eigvec * np.sqrt(eigval)) @ eigvec.T)
        inverse_sqrt = ((eigvec / np.sqrt(eigval)) @ eigvec.T) / scale[None, :]
    else:
        sqrt = np.diag(scale)
        inverse_sqrt = np.diag(1.0 / scale)

    return {
        "mean": mean,
        "scale": scale,
        "data_min": X.min(axis=0),
        "data_max": X.max(axis=0),
        "sqrt": sqrt,
        "inverse_sqrt": inverse_sqrt,
        "covariance": sqrt @ sqrt.T,
    }
