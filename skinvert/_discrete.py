"""Integer and categorical input columns: which they are, and how to search them.

An integer column is searched as a real coordinate whose samples are
rounded to the nearest allowed value. A categorical column has no order, so
each search row keeps a probability per allowed value instead, samples from
it, and moves it toward the values of its best samples, as the
cross-entropy method does.
"""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

# Share of a categorical distribution that moves toward the weighted values
# of a row's best samples each generation. NOTE: not tuned; the tests use
# columns of 3 values only.
_CATEGORICAL_RATE = 0.2


def column_mask(inverter, columns, parameter):
    """Return ``columns`` (indices, names or a boolean mask) as a boolean mask."""
    name = type(inverter).__name__
    n_features = inverter.n_features_in_
    mask = np.zeros(n_features, dtype=bool)
    if columns is None:
        return mask

    array = np.asarray(columns)
    if array.ndim != 1:
        raise ValueError(
            f"{name}: {parameter} must be a 1-D list of column indices, column "
            f"names or a boolean mask; got an array of shape {array.shape}."
        )
    if array.size == 0:
        return mask

    if array.dtype.kind == "b":
        if array.size != n_features:
            raise ValueError(
                f"{name}: {parameter} is a boolean mask of length {array.size}, "
                f"but X has {n_features} features."
            )
        return array.copy()

    if array.dtype.kind in "iu":
        bad = array[(array < -n_features) | (array >= n_features)]
        if bad.size:
            raise ValueError(
                f"{name}: {parameter} contains column index {int(bad[0])}, but X "
                f"has {n_features} features."
            )
        mask[array] = True
        return mask

    if array.dtype.kind in "UO":
        names = getattr(inverter, "feature_names_in_", None)
        if names is None:
            raise ValueError(
                f"{name}: {parameter} contains column names, but X had no column "
                "names in fit. Pass column indices, or fit on a DataFrame."
            )
        lookup = {str(feature): i for i, feature in enumerate(names)}
        unknown = [str(column) for column in array if str(column) not in lookup]
        if unknown:
            raise ValueError(
                f"{name}: {parameter} names column {unknown[0]!r}, which is not "
                f"among the features seen in fit: {list(lookup)}."
            )
        mask[[lookup[str(column)] for column in array]] = True
        return mask

    raise ValueError(
        f"{name}: {parameter} must contain column indices, column names or "
        f"booleans; got values of dtype {array.dtype}."
    )


def encoded_columns(inverter, estimator):
    """Return the categories of the input columns that the model encodes.

    The model is searched for an OneHotEncoder or OrdinalEncoder that reads
    input columns as they are: the first step of a Pipeline, or a transformer
    (alone or after a SimpleImputer) inside a ColumnTransformer that is the
    first step. A HistGradientBoosting model's own categorical features
    count too. Returns a dict from column index to the allowed values, or to
    None where the training values are the allowed ones.
    """
    estimator = _unwrap(estimator)
    if isinstance(estimator, Pipeline):
        estimator = _unwrap(estimator.steps[0][1])
    found = {}
    if _is_encoder(estimator):
        for column, categories in enumerate(estimator.categories_):
            found[column] = _numeric_categories(inverter, categories, column)
    elif isinstance(estimator, ColumnTransformer):
        for _, transformer, columns in estimator.transformers_:
            encoder = _leading_encoder(transformer)
            if encoder is None:
                continue
            indices = _column_indices(inverter, estimator, columns)
            for column, categories in zip(indices, encoder.categories_, strict=True):
                found[column] = _numeric_categories(inverter, categories, column)
    is_categorical = getattr(estimator, "is_categorical_", None)
    if is_categorical is not None:
        for column in np.flatnonzero(is_categorical):
            found.setdefault(int(column), None)
    return found


def _unwrap(estimator):
    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    return estimator


def _is_encoder(estimator):
    return isinstance(estimator, (OneHotEncoder, OrdinalEncoder))


def _leading_encoder(transformer):
    transformer = _unwrap(transformer)
    if _is_encoder(transformer):
        return transformer
    if not isinstance(transformer, Pipeline):
        return None
    for _, step in transformer.steps:
        step = _unwrap(step)
        if _is_encoder(step):
            return step
        if not isinstance(step, SimpleImputer):
            return None
    return None


def _column_indices(inverter, transformer, columns):
    """Return the input column indices that a ColumnTransformer entry selects."""
    n_features = inverter.n_features_in_
    names = getattr(transformer, "feature_names_in_", None)
    if isinstance(columns, slice):
        if isinstance(columns.start, str) or isinstance(columns.stop, str):
            lookup = list(names)
            stop = None if columns.stop is None else lookup.index(columns.stop) + 1
            start = None if columns.start is None else lookup.index(columns.start)
            columns = slice(start, stop, columns.step)
        return list(range(n_features))[columns]
    array = np.atleast_1d(np.asarray(columns))
    if array.dtype.kind == "b":
        return [int(i) for i in np.flatnonzero(array)]
    if array.dtype.kind in "iu":
        return [int(i) % n_features for i in array]
    lookup = {str(feature): i for i, feature in enumerate(names)}
    return [lookup[str(column)] for column in array]


def _numeric_categories(inverter, categories, column):
    categories = np.asarray(categories)
    if categories.dtype.kind not in "iufb":
        raise ValueError(
            f"{type(inverter).__name__}: an encoder in the model reads input "
            f"column {column} as categories {categories.tolist()[:5]}, which are "
            "not numbers. The inverter searches numeric inputs only: encode the "
            "categories as numbers before the model, or pass "
            "categorical_features=None to search the column as a real number."
        )
    values = categories.astype(np.float64)
    return np.unique(values[~np.isnan(values)])


def snap(values, grid):
    """Round ``values`` to the nearest entry of the sorted ``grid``."""
    midpoints = (grid[1:] + grid[:-1]) / 2
    return grid[np.searchsorted(midpoints, values)]


class CategoricalBatch:
    """Independent categorical distributions, one per row and column.

    Parameters
    ----------
    starts : ndarray of shape (n_rows, n_columns) of int
        Index of each row's starting value in each column's grid. Half of
        each initial distribution sits on it, the rest is uniform.
    sizes : list of int
        Number of allowed values per column.
    population_size : int
        Samples per row and generation. Every value keeps a probability of
        about ``1 / (population_size * (size - 1))`` at least, so that it is
        still sampled now and then.
    """

    def __init__(self, starts, sizes, population_size):
        self.probabilities = []
        self.floors = []
        for column, size in enumerate(sizes):
            probability = np.full((starts.shape[0], size), 0.5 / size)
            probability[np.arange(starts.shape[0]), starts[:, column]] += 0.5
            self.probabilities.append(probability)
            self.floors.append(1.0 / (population_size * max(size - 1, 1)))

    def ask(self, rows, uniforms):
        """Return value indices of shape (rows.size, population_size, n_columns).

        ``uniforms`` are draws from [0, 1) of that shape.
        """
        chosen = np.empty(uniforms.shape, dtype=np.int64)
        for column, probability in enumerate(self.probabilities):
            cumulative = np.cumsum(probability[rows], axis=1)
            below = cumulative[:, None, :] <= uniforms[:, :, column, None]
            chosen[:, :, column] = np.minimum(
                below.sum(axis=2), probability.shape[1] - 1
            )
        return chosen

    def tell(self, rows, chosen, order, weights):
        """Move each row's distributions toward the values of its best samples."""
        elite = np.take_along_axis(chosen, order[:, : weights.size, None], axis=1)
        for column, probability in enumerate(self.probabilities):
            size = probability.shape[1]
            frequency = np.einsum(
                "k,rkv->rv", weights, np.eye(size)[elite[:, :, column]]
            )
            updated = (1 - _CATEGORICAL_RATE) * probability[rows]
            updated += _CATEGORICAL_RATE * frequency
            updated = np.maximum(updated, self.floors[column])
            probability[rows] = updated / updated.sum(axis=1, keepdims=True)
