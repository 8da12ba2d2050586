"""Checks shared by the inverters: targets, bounds and float dtypes."""

import numbers

import numpy as np
from sklearn.utils.validation import check_array

FLOAT_DTYPES = (np.float64, np.float32)


def check_targets(inverter, Y, n_outputs):
    """Validate targets and return them as a 2-D float array.

    A 1-D ``Y`` is one target per row when the model has one output.
    """
    name = type(inverter).__name__
    if np.ndim(Y) == 0:
        value = np.asarray(Y).item()
        raise ValueError(
            f"{name}: Y is the scalar {value!r}, but targets must be an array. "
            f"Pass a list or 1-D array of targets, such as [{value!r}]."
        )
    Y = _order_target_columns(inverter, Y)
    try:
        Y = check_array(
            Y,
            dtype=FLOAT_DTYPES,
            ensure_2d=False,
            input_name="Y",
            estimator=inverter,
        )
    except ValueError as exc:
        if "NaN" in str(exc) or "infinity" in str(exc):
            raise ValueError(
                f"{name}: {exc} Every target must be a finite number; drop the "
                "rows with missing targets before inverting."
            ) from exc
        if "convert" not in str(exc):
            raise
        raise ValueError(
            f"{name}: Y must contain numbers, one column per model output; {exc}."
        ) from exc
    if Y.ndim == 1:
        if n_outputs != 1:
            raise ValueError(
                f"{name}: Y is 1-D with {Y.shape[0]} values, but the model has "
                f"{n_outputs} outputs. Pass Y with shape (n_targets, {n_outputs}); "
                "for a single target use Y.reshape(1, -1)."
            )
        Y = Y.reshape(-1, 1)
    if Y.shape[1] != n_outputs:
        raise ValueError(
            f"Y has {Y.shape[1]} columns, but {name} is expecting one column per "
            f"model output ({n_outputs})."
        )
    return Y


def _order_target_columns(inverter, Y):
    """Put the columns of a DataFrame ``Y`` in the order of the fitted outputs.

    Column names are checked only when ``y`` had names in ``fit``.
    """
    expected = getattr(inverter, "_output_names", None)
    columns = getattr(Y, "columns", None)
    if expected is None or columns is None:
        return Y
    received = [str(column) for column in columns]
    if received == expected:
        return Y
    if sorted(received) == sorted(expected):
        return Y.iloc[:, [received.index(name) for name in expected]]
    missing = [name for name in expected if name not in received]
    unexpected = [name for name in received if name not in expected]
    raise ValueError(
        f"{type(inverter).__name__}: the columns of Y do not match the outputs "
        f"seen in fit. Missing: {missing}; unexpected: {unexpected}. Name the "
        "columns as y was named in fit, or pass a NumPy array in that order."
    )


def resolve_bounds(inverter, bounds, data_min, data_max):
    """Return ``(lower, upper)`` arrays of shape (n_features,), or None.

    ``bounds`` is None, ``"data"`` for the training minimum and maximum, or a
    pair ``(lower, upper)`` of scalars or arrays in the units of X. Infinite
    values leave a side open.
    """
    if bounds is None:
        return None
    name = type(inverter).__name__
    n_features = data_min.shape[0]
    if isinstance(bounds, str):
        # The string itself is checked by the parameter constraints.
        return data_min.astype(np.float64), data_max.astype(np.float64)

    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise ValueError(
            f"{name}: bounds must be None, 'data' or a pair (lower, upper); "
            f"got {bounds!r}."
        )
    resolved = []
    for side, value in zip(("lower", "upper"), bounds, strict=False):
        if value is None:
            raise ValueError(
                f"{name}: the {side} bound is None; use -np.inf or np.inf for a "
                "side without a bound."
            )
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            array = np.full(n_features, float(value))
        else:
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{name}: the {side} bound must be a number or an array of "
                    f"{n_features} numbers; got {value!r}."
                ) from exc
            if array.ndim == 0:
                array = np.full(n_features, float(array))
            if array.shape != (n_features,):
                raise ValueError(
                    f"{name}: the {side} bound has shape {array.shape}, but X has "
                    f"{n_features} features. Pass a scalar or an array of shape "
                    f"({n_features},)."
                )
        if np.isnan(array).any():
            raise ValueError(
                f"{name}: the {side} bound contains NaN; use -np.inf or np.inf "
                "for a side without a bound."
            )
        resolved.append(array)

    lower, upper = resolved
    crossed = np.flatnonzero(lower > upper)
    if crossed.size:
        i = crossed[0]
        raise ValueError(
            f"{name}: the lower bound is above the upper bound for {crossed.size} "
            f"feature(s), first at feature {i} ({float(lower[i])} > "
            f"{float(upper[i])}). "
            "Pass bounds=(lower, upper) with lower <= upper."
        )
    if np.isposinf(lower).any() or np.isneginf(upper).any():
        raise ValueError(
            f"{name}: a lower bound of +inf or an upper bound of -inf leaves no "
            "feasible input; use -np.inf and np.inf for open sides."
        )
    return lower, upper


def float32_inside(bound, direction):
    """Round float64 bounds to float32 without stepping outside them."""
    rounded = bound.astype(np.float32)
    outside = rounded < bound if direction > 0 else rounded > bound
    rounded[outside] = np.nextafter(rounded[outside], np.float32(direction * np.inf))
    return rounded
