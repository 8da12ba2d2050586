"""Targets shared by the iterative inverters: class targets, misfit, starts.

The gradient and black-box inverters read targets, score a misfit and pick
starting points the same way; this module holds that shared part, so both
judge a target reached by the same rule.
"""

import numpy as np
from sklearn.utils.validation import check_array

from ._validation import FLOAT_DTYPES

# Rows of the training data compared with the targets at once by
# nearest_training_rows.
_NEAREST_CHUNK = 1024


def is_label_row(P):
    """Return True for rows of ``P`` that are one-hot, i.e. class labels."""
    return (P.max(axis=1) == 1.0) & (np.count_nonzero(P, axis=1) == 1)


def class_targets(inverter, Y):
    """Return classifier targets as rows of class probabilities.

    A 2-D numeric ``Y`` with one column per class is read as probability
    vectors; anything else as a 1-D array of class labels, turned one-hot.
    """
    name = type(inverter).__name__
    classes = inverter.classes_
    array = np.asarray(Y)
    if array.ndim == 2 and array.shape[1] == classes.size and array.dtype.kind in "fiu":
        P = check_array(array, dtype=FLOAT_DTYPES, input_name="Y", estimator=inverter)
        if np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError(
                f"{name}: Y has one column per class, so it is read as "
                "probability vectors, but some rows are negative or do not sum "
                "to 1. Pass probabilities, or a 1-D array of class labels."
            )
        return np.asarray(P, dtype=np.float64)
    labels = check_array(
        array, dtype=None, ensure_2d=False, input_name="Y", estimator=inverter
    )
    if labels.ndim != 1:
        raise ValueError(
            f"{name}: Y has shape {labels.shape}. For a classifier pass a 1-D "
            f"array of class labels or probability vectors of shape "
            f"(n_targets, {classes.size})."
        )
    lookup = {label: i for i, label in enumerate(classes.tolist())}
    unknown = [label for label in labels.tolist() if label not in lookup]
    if unknown:
        raise ValueError(
            f"{name}: Y contains labels the classifier does not know, such as "
            f"{unknown[0]!r}. Known classes: {classes.tolist()}."
        )
    index = np.array([lookup[label] for label in labels.tolist()], dtype=np.int64)
    return np.eye(classes.size)[index]


def loss_scale(inverter, n_outputs):
    """Return the loss normalizer and the loss at which a start stops.

    Regression losses are divided by the summed output variances so that
    tolerances are relative. The floor guarantees a misfit ten times below
    ``tol`` in the units of ``output_scale_``.
    """
    if hasattr(inverter, "classes_"):
        # A squared probability gap below this floor is a root-mean-square
        # gap ten times below tol.
        return 1.0, inverter.classes_.size * (0.1 * inverter.tol) ** 2
    variances = inverter.output_scale_**2
    normalizer = float(variances.sum())
    floor = (0.1 * inverter.tol) ** 2 * n_outputs * variances.min() / normalizer
    return normalizer, floor


def misfit(inverter, outputs, Y):
    """Return the residual per target and whether it counts as reached.

    ``outputs`` are the model's predictions, or its class probabilities for
    a classifier, at the recovered inputs. A regression target is reached
    when the root-mean-square of its error over ``output_scale_`` is at most
    ``tol``; a class label when the model predicts it; a probability vector
    when the root-mean-square gap is at most ``tol``.
    """
    if not hasattr(inverter, "classes_"):
        gap = outputs - Y
        residual = np.sqrt(np.mean(gap**2, axis=1))
        relative = np.sqrt(np.mean((gap / inverter.output_scale_) ** 2, axis=1))
        return residual, relative <= inverter.tol
    is_label = is_label_row(Y)
    label = np.argmax(Y, axis=1)
    rows = np.arange(Y.shape[0])
    residual = np.where(
        is_label,
        1.0 - outputs[rows, label],
        np.sqrt(np.mean((outputs - Y) ** 2, axis=1)),
    )
    reached = np.where(
        is_label, np.argmax(outputs, axis=1) == label, residual <= inverter.tol
    )
    return residual, reached


def nearest_training_rows(X_train, outputs, Y, k, scale=None):
    """Return, per target, the ``k`` training rows with the nearest outputs.

    Parameters
    ----------
    X_train : ndarray of shape (n_train, n_features)
        Training inputs.
    outputs : ndarray of shape (n_train, n_outputs)
        The model's outputs for ``X_train``.
    Y : ndarray of shape (n_targets, n_outputs)
        Targets.
    k : int
        Rows per target; at most ``n_train`` are returned.
    scale : ndarray of shape (n_outputs,) or None
        Output units for the distance; None compares raw outputs.

    Returns
    -------
    rows : ndarray of shape (n_targets, min(k, n_train), n_features)
        Nearest rows first.
    """
    weights = 1.0 if scale is None else 1.0 / scale
    scaled = outputs * weights
    k = min(k, scaled.shape[0])
    squared = np.sum(scaled**2, axis=1)
    chosen = np.empty((Y.shape[0], k), dtype=np.int64)
    for start in range(0, Y.shape[0], _NEAREST_CHUNK):
        rows = slice(start, start + _NEAREST_CHUNK)
        target = Y[rows] * weights
        distance = (
            np.sum(target**2, axis=1)[:, None] - 2 * target @ scaled.T + squared[None]
        )
        nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(distance, nearest, axis=1), axis=1)
        chosen[rows] = np.take_along_axis(nearest, order, axis=1)
    return X_train[chosen]
