"""Targets shared by the iterative inverters: class targets, misfit, starts.

The gradient, latent and black-box inverters read targets, score a misfit
and pick starting points the same way. This module contains that shared
part, so all of them judge a target reached by the same rule.
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
    ``tol``. A class label is reached when the model predicts it, and a
    probability vector when the root-mean-square gap is at most ``tol``.
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


def starting_points(inverter, Y, n_candidates, rng):
    """Return starts of shape (n_targets, n_candidates, n_features).

    With ``inverter.init="nearest"`` the k-th start of a target is the
    training row with the k-th nearest output. Otherwise ``"mean"``,
    ``"random"``, an array or an estimator with ``predict(Y)`` gives the
    first start, and the others are drawn from the prior. The inverter must
    store its training inputs and their outputs as ``_train_X`` and
    ``_train_outputs``. Starts are clipped to ``bounds_``.
    """
    n_targets = Y.shape[0]
    init = inverter.init
    if isinstance(init, str) and init == "nearest":
        scale = None if hasattr(inverter, "classes_") else inverter.output_scale_
        starts = nearest_training_rows(
            inverter._train_X, inverter._train_outputs, Y, n_candidates, scale
        )
        if starts.shape[1] < n_candidates:
            extra = inverter._prior_draws(
                rng, (n_targets, n_candidates - starts.shape[1])
            )
            starts = np.concatenate([starts, extra], axis=1)
    else:
        first = _first_start(inverter, Y, rng)
        draws = inverter._prior_draws(rng, (n_targets, n_candidates - 1))
        starts = np.concatenate([first[:, None], draws], axis=1)
    if inverter.bounds_ is not None:
        starts = np.clip(starts, *inverter.bounds_)
    return starts


def _first_start(inverter, Y, rng):
    n_targets = Y.shape[0]
    n_features = inverter.n_features_in_
    init = inverter.init
    if isinstance(init, str):
        if init == "mean":
            return np.tile(inverter.prior_mean_, (n_targets, 1))
        return inverter._prior_draws(rng, (n_targets,))
    if hasattr(init, "predict"):
        start = np.asarray(init.predict(Y), dtype=np.float64)
        name = f"init.predict(Y) of {type(init).__name__}"
    else:
        start = check_array(
            init, dtype=FLOAT_DTYPES, ensure_2d=False, input_name="init"
        )
        start = np.asarray(start, dtype=np.float64)
        name = "init"
    if start.ndim == 1 and start.shape[0] == n_features:
        start = np.tile(start, (n_targets, 1))
    if start.shape != (n_targets, n_features):
        raise ValueError(
            f"{type(inverter).__name__}: {name} has shape {start.shape}, but "
            f"{n_targets} targets with {n_features} features need shape "
            f"({n_targets}, {n_features}) or ({n_features},)."
        )
    if not np.all(np.isfinite(start)):
        raise ValueError(f"{type(inverter).__name__}: {name} contains NaN or infinity.")
    return start


def rank_candidates(solved, n_targets, n_candidates):
    """Order each target's candidates by loss, best first.

    Parameters
    ----------
    solved : dict of ndarray
        Per-row results of a batched search, rows grouped by target:
        ``"x"`` of shape (n_targets * n_candidates, n_features), ``"loss"``
        and any other per-row arrays.
    n_targets, n_candidates : int
        Number of targets and of candidates per target.

    Returns
    -------
    ranked : dict
        ``"candidates"`` of shape (n_targets, n_candidates, n_features) and
        ``"candidate_losses"`` of shape (n_targets, n_candidates), best
        first, and for every other key of ``solved`` its value for each
        target's best candidate.
    """
    losses = solved["loss"].reshape(n_targets, n_candidates)
    order = np.argsort(losses, axis=1, kind="stable")
    pick = (np.arange(n_targets)[:, None], order)
    ranked = {
        "candidates": solved["x"].reshape(n_targets, n_candidates, -1)[pick],
        "candidate_losses": losses[pick],
    }
    for key, values in solved.items():
        if key not in ("x", "loss"):
            shaped = values.reshape(n_targets, n_candidates, *values.shape[1:])
            ranked[key] = shaped[pick][:, 0]
    return ranked


def confirm_unreachable(inverter, Y, X, first_starts, reached, reaches):
    """Search again without the prior for targets a regularized result misses.

    With ``alpha > 0`` the misfit is part of the trade-off, so a target is
    unreachable only if it stays far off without the prior. Class labels are
    reached when predicted, so they need no second look.

    Parameters
    ----------
    inverter : BaseInverter
        The fitted inverter.
    Y : ndarray of shape (n_targets, n_outputs)
        Targets.
    X : ndarray of shape (n_targets, n_features)
        Regularized results.
    first_starts : ndarray of shape (n_targets, n_features)
        First start of each target.
    reached : ndarray of shape (n_targets,) of bool
        Whether each result reaches its target.
    reaches : callable
        ``reaches(starts, owners)`` searches with ``alpha=0`` from each row
        of ``starts`` toward ``Y[owners]`` and returns whether it reached it.

    Returns
    -------
    reached : ndarray of shape (n_targets,) of bool
        True where the result or a search without the prior reaches the
        target.
    """
    reached = reached.copy()
    if inverter.alpha == 0:
        return reached
    check = ~reached
    if hasattr(inverter, "classes_"):
        check &= ~is_label_row(Y)
    check = np.flatnonzero(check)
    if check.size:
        # From the regularized result and from the first start, since either
        # may lie in the basin of an exact fit.
        again = np.concatenate([X[check], first_starts[check]])
        hit = reaches(again, np.concatenate([check, check]))
        reached[check] = hit[: check.size] | hit[check.size :]
    return reached
