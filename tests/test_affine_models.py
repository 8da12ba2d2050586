"""LinearInverter on scikit-learn's affine models, checked against their attributes.

Every expected map is computed here with numpy from the fitted model's own
attributes (``coef_``, ``intercept_``, ``mean_``, ``components_``, ...), never
with skinvert's helpers. A wrong reading of a ``coef_`` layout or of a
Pipeline step therefore shows up as a mismatch.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.cross_decomposition import PLSRegression
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import (
    ARDRegression,
    BayesianRidge,
    ElasticNet,
    HuberRegressor,
    Lasso,
    LinearRegression,
    Ridge,
    SGDRegressor,
)
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)
from sklearn.svm import LinearSVR
from sklearn.tree import DecisionTreeRegressor

from skinvert import LinearInverter

N_SAMPLES = 80
N_FEATURES = 4
N_OUTPUTS = 6
FEATURE_NAMES = ["length", "width", "height", "mass"]

# Tolerances of the float64 map checks. The absolute parts, relative to the
# largest coefficient or prediction, cover coefficients that are exactly zero
# (Lasso, ARDRegression), where the probed map contains rounding noise.
MAP_RTOL = 1e-9
MAP_ATOL_SHARE = 1e-10
RECOVERY_TOL = 1e-8

# Models that accept only 1-D y warn when given a column y. That warning comes
# from scikit-learn, not from the inverter.
COLUMN_Y_WARNING = pytest.mark.filterwarnings(
    "ignore:A column-vector y was passed:sklearn.exceptions.DataConversionWarning"
)


def make_data(seed=0, dtype=np.float64):
    """Return X (80, 4) with unequal scales and offsets, y (80,) and Y (80, 6)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES)) * [1.0, 2.0, 0.5, 1.5]
    X += [0.0, 1.0, -1.0, 2.0]
    y = X @ rng.normal(size=N_FEATURES) + 0.3 + 0.1 * rng.normal(size=N_SAMPLES)
    Y = X @ rng.normal(size=(N_FEATURES, N_OUTPUTS)) + rng.normal(size=N_OUTPUTS)
    Y += 0.01 * rng.normal(size=Y.shape)
    return X.astype(dtype), y.astype(dtype), Y.astype(dtype)


def select_targets(kind, y, Y):
    """Return y as 1-D ("1d"), as one column ("col") or the multi-output Y."""
    if kind == "1d":
        return y
    if kind == "col":
        return y.reshape(-1, 1)
    return Y


def model_map(model):
    """Compute (A, b) with ``model.predict(X) == X @ A.T + b`` from its attributes."""
    if isinstance(model, MultiOutputRegressor):
        parts = [model_map(estimator) for estimator in model.estimators_]
        A = np.vstack([part[0] for part in parts])
        b = np.concatenate([part[1] for part in parts])
        return A, b
    if isinstance(model, TransformedTargetRegressor):
        # predict applies the fitted StandardScaler's inverse to the
        # regressor's output: y = scale * y_regressor + mean, per target.
        A, b = model_map(model.regressor_)
        scale = model.transformer_.scale_
        return A * scale[:, np.newaxis], b * scale + model.transformer_.mean_

    coef = np.asarray(model.coef_, dtype=np.float64)
    if coef.ndim == 1:
        # One target: coef_ has shape (n_features,).
        A = coef.reshape(1, -1)
    else:
        # coef_ has shape (n_targets, n_features).
        A = coef
    # intercept_ is a scalar, has shape (1,) or has shape (n_targets,).
    intercept = np.asarray(model.intercept_, dtype=np.float64).reshape(-1)
    b = np.broadcast_to(intercept, (A.shape[0],)).copy()
    if isinstance(model, PLSRegression):
        # PLSRegression.predict subtracts _x_mean from X before applying coef_.
        b -= A @ np.asarray(model._x_mean, dtype=np.float64)
    return A, b


def step_map(step, n_features):
    """Compute (M, c) with ``step.transform(X) == X @ M.T + c`` from its attributes."""
    if step is None or isinstance(step, str):
        return np.eye(n_features), np.zeros(n_features)
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else np.zeros(n_features)
        scale = step.scale_ if step.with_std else np.ones(n_features)
        return np.diag(1.0 / scale), -mean / scale
    if isinstance(step, MinMaxScaler):
        return np.diag(step.scale_), np.asarray(step.min_, dtype=np.float64)
    if isinstance(step, MaxAbsScaler):
        return np.diag(1.0 / step.scale_), np.zeros(n_features)
    if isinstance(step, PCA):
        M = np.asarray(step.components_, dtype=np.float64)
        if step.whiten:
            M = M / np.sqrt(step.explained_variance_)[:, np.newaxis]
        return M, -M @ step.mean_
    raise TypeError(f"step_map has no formula for {type(step).__name__}")


def pipeline_map(pipeline, n_features):
    """Compose the steps' maps and the final model's map by hand."""
    M_total = np.eye(n_features)
    c_total = np.zeros(n_features)
    for _, step in pipeline.steps[:-1]:
        M, c = step_map(step, M_total.shape[0])
        M_total = M @ M_total
        c_total = M @ c_total + c
    A, b = model_map(pipeline.steps[-1][1])
    return A @ M_total, A @ c_total + b


def expected_map(model, n_features=N_FEATURES):
    model = model.estimator if isinstance(model, FrozenEstimator) else model
    if isinstance(model, Pipeline):
        return pipeline_map(model, n_features)
    return model_map(model)


def coef_atol(A):
    return MAP_ATOL_SHARE * np.max(np.abs(A))


def intercept_atol(A, b, X):
    return MAP_ATOL_SHARE * np.max(np.abs(X @ A.T + b))


def predict_2d(model, X):
    Y = np.asarray(model.predict(X))
    return Y.reshape(Y.shape[0], -1)


def nearest_mean_solution(A, b, X_train, targets):
    """Compute the least-squares inputs nearest the training mean.

    Distances are measured in standardized units: per-feature training
    standard deviations, as in LinearInverter's default ``prior="diag"``.
    """
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    M = A * scale
    Z = (targets - (A @ mean + b)) @ np.linalg.pinv(M).T
    return mean + Z * scale


# --- Single models

SINGLE_OUTPUT_MODELS = [
    ("linear", LinearRegression()),
    ("ridge", Ridge(alpha=0.5)),
    ("lasso", Lasso(alpha=1e-3)),
    ("enet", ElasticNet(alpha=1e-3, l1_ratio=0.5)),
    ("bayes", BayesianRidge()),
    ("huber", HuberRegressor()),
    ("sgd", SGDRegressor(random_state=0)),
    ("svr", LinearSVR(max_iter=100_000, random_state=0)),
    ("pls", PLSRegression(n_components=2)),
    ("ard", ARDRegression()),
    ("ttr", TransformedTargetRegressor(Ridge(alpha=0.5), transformer=StandardScaler())),
]

# PLSRegression keeps all 4 components so that the multi-output map is
# injective.
MULTI_OUTPUT_MODELS = [
    ("linear", LinearRegression()),
    ("ridge", Ridge(alpha=0.5)),
    ("lasso", Lasso(alpha=1e-3)),
    ("enet", ElasticNet(alpha=1e-3, l1_ratio=0.5)),
    ("pls", PLSRegression(n_components=N_FEATURES)),
    ("multi-svr", MultiOutputRegressor(LinearSVR(max_iter=100_000, random_state=0))),
    ("ttr", TransformedTargetRegressor(Ridge(alpha=0.5), transformer=StandardScaler())),
]

SINGLE_OUTPUT_CASES = [
    pytest.param(model, kind, id=f"{name}-{kind}", marks=COLUMN_Y_WARNING)
    for name, model in SINGLE_OUTPUT_MODELS
    for kind in ("1d", "col")
]
MULTI_OUTPUT_CASES = [
    pytest.param(model, "multi", id=f"{name}-multi")
    for name, model in MULTI_OUTPUT_MODELS
]
MODEL_CASES = SINGLE_OUTPUT_CASES + MULTI_OUTPUT_CASES


def fit_inverter(model, kind, seed=0):
    X, y, Y = make_data(seed)
    targets = select_targets(kind, y, Y)
    inverter = LinearInverter(clone(model)).fit(X, targets)
    return inverter, X, targets


@pytest.mark.parametrize("model, kind", MODEL_CASES)
def test_model_coef(model, kind):
    inverter, _, _ = fit_inverter(model, kind)
    A, _ = model_map(inverter.estimator_)
    assert_allclose(inverter.coef_, A, rtol=MAP_RTOL, atol=coef_atol(A))


@pytest.mark.parametrize("model, kind", MODEL_CASES)
def test_model_intercept(model, kind):
    inverter, X, _ = fit_inverter(model, kind)
    A, b = model_map(inverter.estimator_)
    assert_allclose(inverter.intercept_, b, rtol=MAP_RTOL, atol=intercept_atol(A, b, X))


@pytest.mark.parametrize("model, kind", MODEL_CASES)
def test_model_map_shape(model, kind):
    inverter, _, targets = fit_inverter(model, kind)
    n_outputs = 1 if targets.ndim == 1 else targets.shape[1]
    assert inverter.coef_.shape == (n_outputs, N_FEATURES)


@pytest.mark.parametrize("model, kind", MODEL_CASES)
def test_model_transform(model, kind):
    inverter, X, _ = fit_inverter(model, kind)
    expected = predict_2d(inverter.estimator_, X)
    assert_allclose(inverter.transform(X), expected, rtol=1e-12)


@pytest.mark.parametrize("model, kind", MULTI_OUTPUT_CASES)
def test_model_injective_recovery(model, kind):
    inverter, X, _ = fit_inverter(model, kind)
    X_hat = inverter.inverse_transform(inverter.estimator_.predict(X))
    assert_allclose(X_hat, X, rtol=RECOVERY_TOL, atol=RECOVERY_TOL)


@pytest.mark.parametrize("model, kind", SINGLE_OUTPUT_CASES)
def test_model_nearest_mean_inverse(model, kind):
    inverter, X, targets = fit_inverter(model, kind)
    A, b = model_map(inverter.estimator_)
    targets_2d = targets.reshape(-1, 1)
    expected = nearest_mean_solution(A, b, X, targets_2d)
    assert_allclose(inverter.inverse_transform(targets), expected, rtol=1e-8, atol=1e-8)


# --- Pipelines of affine steps


def affine_pipeline(*steps, final=None):
    """Build a Pipeline of ``steps`` that ends in ``final`` (default Ridge)."""
    final = Ridge(alpha=0.5) if final is None else final
    return Pipeline([*steps, ("model", final)])


INJECTIVE_PIPELINES = [
    ("std", affine_pipeline(("scale", StandardScaler()))),
    ("std-center", affine_pipeline(("scale", StandardScaler(with_std=False)))),
    ("std-scale", affine_pipeline(("scale", StandardScaler(with_mean=False)))),
    (
        "std-none",
        affine_pipeline(("scale", StandardScaler(with_mean=False, with_std=False))),
    ),
    ("minmax", affine_pipeline(("scale", MinMaxScaler(feature_range=(-1, 2))))),
    ("maxabs", affine_pipeline(("scale", MaxAbsScaler()))),
    ("pca", affine_pipeline(("pca", PCA()))),
    ("pca-whiten", affine_pipeline(("pca", PCA(whiten=True)))),
    (
        "passthrough",
        affine_pipeline(("skip", "passthrough"), ("scale", StandardScaler())),
    ),
    (
        "std-pca-whiten",
        affine_pipeline(("scale", StandardScaler()), ("pca", PCA(whiten=True))),
    ),
    (
        "maxabs-std-pls",
        affine_pipeline(
            ("maxabs", MaxAbsScaler()),
            ("scale", StandardScaler()),
            final=PLSRegression(n_components=N_FEATURES),
        ),
    ),
    (
        "minmax-linear",
        affine_pipeline(("scale", MinMaxScaler()), final=LinearRegression()),
    ),
]

REDUCED_PIPELINES = [
    ("pca-2", affine_pipeline(("pca", PCA(n_components=2)))),
    ("pca-3-whiten", affine_pipeline(("pca", PCA(n_components=3, whiten=True)))),
    (
        "minmax-pca-2",
        affine_pipeline(
            ("scale", MinMaxScaler()),
            ("pca", PCA(n_components=2)),
            final=LinearRegression(),
        ),
    ),
]

INJECTIVE_PIPELINE_CASES = [
    pytest.param(pipeline, "multi", id=name) for name, pipeline in INJECTIVE_PIPELINES
]
PIPELINE_CASES = (
    INJECTIVE_PIPELINE_CASES
    + [pytest.param(pipeline, "multi", id=name) for name, pipeline in REDUCED_PIPELINES]
    + [
        pytest.param(affine_pipeline(("scale", StandardScaler())), "1d", id="std-1d"),
        pytest.param(
            affine_pipeline(("scale", StandardScaler()), ("pca", PCA(whiten=True))),
            "1d",
            id="std-pca-whiten-1d",
        ),
    ]
)


@pytest.mark.parametrize("pipeline, kind", PIPELINE_CASES)
def test_pipeline_coef(pipeline, kind):
    inverter, _, _ = fit_inverter(pipeline, kind)
    A, _ = pipeline_map(inverter.estimator_, N_FEATURES)
    assert_allclose(inverter.coef_, A, rtol=MAP_RTOL, atol=coef_atol(A))


@pytest.mark.parametrize("pipeline, kind", PIPELINE_CASES)
def test_pipeline_intercept(pipeline, kind):
    inverter, X, _ = fit_inverter(pipeline, kind)
    A, b = pipeline_map(inverter.estimator_, N_FEATURES)
    assert_allclose(inverter.intercept_, b, rtol=MAP_RTOL, atol=intercept_atol(A, b, X))


@pytest.mark.parametrize("pipeline, kind", PIPELINE_CASES)
def test_pipeline_hand_map_predicts(pipeline, kind):
    # Guards the hand composition itself: it must reproduce predict.
    inverter, X, _ = fit_inverter(pipeline, kind)
    A, b = pipeline_map(inverter.estimator_, N_FEATURES)
    expected = predict_2d(inverter.estimator_, X)
    assert_allclose(X @ A.T + b, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("pipeline, kind", INJECTIVE_PIPELINE_CASES)
def test_pipeline_injective_recovery(pipeline, kind):
    inverter, X, _ = fit_inverter(pipeline, kind)
    X_hat = inverter.inverse_transform(inverter.estimator_.predict(X))
    assert_allclose(X_hat, X, rtol=RECOVERY_TOL, atol=RECOVERY_TOL)


# --- FrozenEstimator

FROZEN_MODELS = [
    pytest.param(Ridge(alpha=0.5), id="ridge"),
    pytest.param(PLSRegression(n_components=N_FEATURES), id="pls"),
]
FIT_WITH_Y = [pytest.param(False, id="no-y"), pytest.param(True, id="with-y")]


def fit_frozen(model, with_y):
    """Fit ``model`` on the data of seed 0, then an inverter on a frozen copy.

    With y, the inverter gets targets from another seed, so a refit would
    change the weights.
    """
    X, _, Y = make_data(seed=0)
    fitted = clone(model).fit(X, Y)
    state = {
        "coef_object": fitted.coef_,
        "coef_values": fitted.coef_.copy(),
        "intercept_values": np.array(fitted.intercept_, copy=True),
    }
    inverter = LinearInverter(FrozenEstimator(fitted))
    if with_y:
        _, _, other_Y = make_data(seed=1)
        inverter.fit(X, other_Y)
    else:
        inverter.fit(X)
    return inverter, fitted, state, X


@pytest.mark.parametrize("with_y", FIT_WITH_Y)
@pytest.mark.parametrize("model", FROZEN_MODELS)
def test_frozen_coef(model, with_y):
    inverter, fitted, _, _ = fit_frozen(model, with_y)
    A, _ = model_map(fitted)
    assert_allclose(inverter.coef_, A, rtol=MAP_RTOL, atol=coef_atol(A))


@pytest.mark.parametrize("with_y", FIT_WITH_Y)
@pytest.mark.parametrize("model", FROZEN_MODELS)
def test_frozen_intercept(model, with_y):
    inverter, fitted, _, X = fit_frozen(model, with_y)
    A, b = model_map(fitted)
    assert_allclose(inverter.intercept_, b, rtol=MAP_RTOL, atol=intercept_atol(A, b, X))


@pytest.mark.parametrize("with_y", FIT_WITH_Y)
@pytest.mark.parametrize("model", FROZEN_MODELS)
def test_frozen_keeps_coef_object(model, with_y):
    _, fitted, state, _ = fit_frozen(model, with_y)
    assert fitted.coef_ is state["coef_object"]


@pytest.mark.parametrize("with_y", FIT_WITH_Y)
@pytest.mark.parametrize("model", FROZEN_MODELS)
def test_frozen_keeps_coef_values(model, with_y):
    _, fitted, state, _ = fit_frozen(model, with_y)
    assert_array_equal(fitted.coef_, state["coef_values"])


@pytest.mark.parametrize("with_y", FIT_WITH_Y)
@pytest.mark.parametrize("model", FROZEN_MODELS)
def test_frozen_keeps_intercept_values(model, with_y):
    _, fitted, state, _ = fit_frozen(model, with_y)
    assert_array_equal(fitted.intercept_, state["intercept_values"])


@pytest.mark.parametrize("with_y", FIT_WITH_Y)
@pytest.mark.parametrize("model", FROZEN_MODELS)
def test_frozen_wraps_fitted_model(model, with_y):
    inverter, fitted, _, _ = fit_frozen(model, with_y)
    assert inverter.estimator_.estimator is fitted


# --- float32

FLOAT32_MODELS = [
    pytest.param(LinearRegression(), id="linear"),
    pytest.param(Ridge(alpha=0.5), id="ridge"),
    pytest.param(Lasso(alpha=1e-3), id="lasso"),
    pytest.param(PLSRegression(n_components=N_FEATURES), id="pls"),
    pytest.param(affine_pipeline(("scale", StandardScaler())), id="std-ridge"),
    pytest.param(affine_pipeline(("pca", PCA(whiten=True))), id="pca-whiten-ridge"),
]

# These keep float32 weights when fitted on float32 data, which shows that
# the clone saw the float32 X and y.
FLOAT32_WEIGHT_MODELS = [
    pytest.param(LinearRegression(), id="linear"),
    pytest.param(Ridge(alpha=0.5), id="ridge"),
    pytest.param(Lasso(alpha=1e-3), id="lasso"),
]

FLOAT32_MAP_RTOL = 1e-5
FLOAT32_RECOVERY_TOL = 1e-4


def fit_float32(model):
    X, _, Y = make_data(dtype=np.float32)
    inverter = LinearInverter(clone(model)).fit(X, Y)
    return inverter, X, Y


@pytest.mark.parametrize("model", FLOAT32_WEIGHT_MODELS)
def test_float32_model_weights(model):
    inverter, _, _ = fit_float32(model)
    assert inverter.estimator_.coef_.dtype == np.float32


@pytest.mark.parametrize("model", FLOAT32_MODELS)
def test_float32_transform_dtype(model):
    inverter, X, _ = fit_float32(model)
    assert inverter.transform(X).dtype == np.float32


@pytest.mark.parametrize("model", FLOAT32_MODELS)
def test_float32_inverse_dtype(model):
    inverter, X, _ = fit_float32(model)
    Y_pred = inverter.transform(X)
    assert inverter.inverse_transform(Y_pred).dtype == np.float32


@pytest.mark.parametrize("model", FLOAT32_MODELS)
def test_float32_coef(model):
    inverter, _, _ = fit_float32(model)
    A, _ = expected_map(inverter.estimator_)
    assert_allclose(
        inverter.coef_, A, rtol=FLOAT32_MAP_RTOL, atol=1e-7 * np.max(np.abs(A))
    )


@pytest.mark.parametrize("model", FLOAT32_MODELS)
def test_float32_intercept(model):
    inverter, X, _ = fit_float32(model)
    A, b = expected_map(inverter.estimator_)
    scale = np.max(np.abs(X.astype(np.float64) @ A.T + b))
    assert_allclose(inverter.intercept_, b, rtol=FLOAT32_MAP_RTOL, atol=1e-7 * scale)


@pytest.mark.parametrize("model", FLOAT32_MODELS)
def test_float32_injective_recovery(model):
    inverter, X, _ = fit_float32(model)
    Y_pred = inverter.estimator_.predict(X).astype(np.float32)
    X_hat = inverter.inverse_transform(Y_pred)
    atol = FLOAT32_RECOVERY_TOL * np.max(np.abs(X))
    assert_allclose(X_hat, X, rtol=FLOAT32_RECOVERY_TOL, atol=atol)


# --- pandas

PANDAS_MODELS = [
    pytest.param(Ridge(alpha=0.5), id="ridge"),
    pytest.param(PLSRegression(n_components=N_FEATURES), id="pls"),
    pytest.param(
        affine_pipeline(("scale", StandardScaler()), ("pca", PCA(whiten=True))),
        id="std-pca-ridge",
    ),
]

# How the model and the inverter get X. "clone" fits a clone on the
# DataFrame. "prefitted" wraps a model fitted on the DataFrame and fits the
# inverter on the DataFrame too. "prefitted-array" fits the inverter on the
# array while the model was fitted on the DataFrame.
PANDAS_FIT_MODES = ["clone", "prefitted", "prefitted-array"]


def make_frame_data():
    X, _, Y = make_data()
    return pd.DataFrame(X, columns=FEATURE_NAMES), Y


def fit_pandas_output(model):
    """Fit on a DataFrame, switch to pandas output, return the predictions too.

    The predictions are computed before set_output, so they are an array.
    They are reachable targets, unlike the noisy training Y.
    """
    X_frame, Y = make_frame_data()
    inverter = LinearInverter(clone(model)).fit(X_frame, Y)
    Y_pred = inverter.transform(X_frame)
    inverter.set_output(transform="pandas")
    return inverter, X_frame, Y_pred


def fit_on_frame(model, mode, X_frame, Y):
    if mode == "clone":
        return LinearInverter(clone(model)).fit(X_frame, Y)
    fitted = clone(model).fit(X_frame, Y)
    if mode == "prefitted":
        return LinearInverter(fitted).fit(X_frame)
    return LinearInverter(fitted).fit(X_frame.to_numpy())


@pytest.mark.parametrize("mode", PANDAS_FIT_MODES)
@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_frame_no_name_warning(model, mode):
    X_frame, Y = make_frame_data()
    X_in = X_frame.to_numpy() if mode == "prefitted-array" else X_frame
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        inverter = fit_on_frame(model, mode, X_frame, Y)
        Y_pred = inverter.transform(X_in)
        X_hat = inverter.inverse_transform(Y_pred)
    assert X_hat.shape == X_frame.shape


@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_frame_fitted_model_names(model):
    X_frame, Y = make_frame_data()
    inverter = LinearInverter(clone(model)).fit(X_frame, Y)
    assert list(inverter.estimator_.feature_names_in_) == FEATURE_NAMES


@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_frame_map(model):
    X_frame, Y = make_frame_data()
    inverter = LinearInverter(clone(model)).fit(X_frame, Y)
    A, _ = expected_map(inverter.estimator_)
    assert_allclose(inverter.coef_, A, rtol=MAP_RTOL, atol=coef_atol(A))


@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_pandas_transform_frame(model):
    inverter, X_frame, _ = fit_pandas_output(model)
    assert isinstance(inverter.transform(X_frame), pd.DataFrame)


@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_pandas_transform_columns(model):
    inverter, X_frame, _ = fit_pandas_output(model)
    expected = [f"linearinverter{i}" for i in range(N_OUTPUTS)]
    assert list(inverter.transform(X_frame).columns) == expected


def test_pandas_transform_target_names():
    X_frame, Y = make_frame_data()
    output_names = [f"y_{i}" for i in range(N_OUTPUTS)]
    Y_frame = pd.DataFrame(Y, columns=output_names)
    inverter = LinearInverter(Ridge()).fit(X_frame, Y_frame)
    inverter.set_output(transform="pandas")
    assert list(inverter.transform(X_frame).columns) == output_names


@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_pandas_transform_values(model):
    inverter, X_frame, _ = fit_pandas_output(model)
    expected = predict_2d(inverter.estimator_, X_frame)
    assert_allclose(inverter.transform(X_frame).to_numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_pandas_inverse_frame(model):
    inverter, _, Y_pred = fit_pandas_output(model)
    assert isinstance(inverter.inverse_transform(Y_pred), pd.DataFrame)


@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_pandas_inverse_columns(model):
    inverter, _, Y_pred = fit_pandas_output(model)
    assert list(inverter.inverse_transform(Y_pred).columns) == FEATURE_NAMES


@pytest.mark.parametrize("model", PANDAS_MODELS)
def test_pandas_inverse_recovery(model):
    inverter, X_frame, Y_pred = fit_pandas_output(model)
    X_hat = inverter.inverse_transform(Y_pred)
    assert_allclose(
        X_hat.to_numpy(), X_frame.to_numpy(), rtol=RECOVERY_TOL, atol=RECOVERY_TOL
    )


def test_pandas_inverse_keeps_index():
    inverter, _, Y_pred = fit_pandas_output(Ridge())
    index = pd.Index([f"row{i}" for i in range(5)])
    Y_frame = pd.DataFrame(Y_pred[:5], index=index)
    assert list(inverter.inverse_transform(Y_frame).index) == list(index)


# --- Models that are not affine


def clip_to_training_range(X):
    """Build a FunctionTransformer that clips each feature to its training range.

    It is the identity on every training row and constant beyond their range.
    """
    return FunctionTransformer(
        np.clip, kw_args={"a_min": X.min(axis=0), "a_max": X.max(axis=0)}
    )


# Each case: the model (built from the training X) and the text that the
# error must contain to name the culprit.
NON_AFFINE_CASES = [
    pytest.param(
        lambda X: DecisionTreeRegressor(random_state=0),
        "DecisionTreeRegressor is not affine",
        id="tree",
    ),
    pytest.param(
        lambda X: KNeighborsRegressor(), "KNeighborsRegressor is not affine", id="knn"
    ),
    pytest.param(
        lambda X: Pipeline([("poly", PolynomialFeatures(2)), ("ridge", Ridge())]),
        "step 'poly' (PolynomialFeatures)",
        id="poly",
    ),
    pytest.param(
        lambda X: Pipeline(
            [
                ("scale", StandardScaler()),
                ("poly", PolynomialFeatures(2)),
                ("ridge", Ridge()),
            ]
        ),
        "step 'poly' (PolynomialFeatures)",
        id="scale-poly",
    ),
    pytest.param(
        lambda X: Pipeline(
            [("quantile", QuantileTransformer(n_quantiles=50)), ("ridge", Ridge())]
        ),
        "step 'quantile' (QuantileTransformer)",
        id="quantile",
    ),
    pytest.param(
        lambda X: Pipeline([("spline", SplineTransformer()), ("ridge", Ridge())]),
        "step 'spline' (SplineTransformer)",
        id="spline",
    ),
    pytest.param(
        lambda X: Pipeline(
            [("tanh", FunctionTransformer(np.tanh)), ("ridge", Ridge())]
        ),
        "step 'tanh' (FunctionTransformer)",
        id="tanh",
    ),
    # Affine on every training row, but constant outside the training range.
    pytest.param(
        lambda X: Pipeline([("minmax", MinMaxScaler(clip=True)), ("ridge", Ridge())]),
        "step 'minmax' (MinMaxScaler)",
        id="minmax-clip",
    ),
    pytest.param(
        lambda X: Pipeline([("clip", clip_to_training_range(X)), ("ridge", Ridge())]),
        "step 'clip' (FunctionTransformer)",
        id="clip",
    ),
    pytest.param(
        lambda X: TransformedTargetRegressor(Ridge(), func=np.log, inverse_func=np.exp),
        "TransformedTargetRegressor is not affine",
        id="ttr-log",
    ),
    pytest.param(
        lambda X: Pipeline(
            [("scale", StandardScaler()), ("tree", DecisionTreeRegressor())]
        ),
        "step 'tree' (DecisionTreeRegressor)",
        id="scale-tree",
    ),
]


@pytest.mark.parametrize("with_y", FIT_WITH_Y)
@pytest.mark.parametrize("build_model, culprit", NON_AFFINE_CASES)
def test_non_affine_names_culprit(build_model, culprit, with_y):
    X, y, _ = make_data()
    # Positive targets keep the log of TransformedTargetRegressor defined.
    y = np.abs(y) + 1.0
    model = build_model(X)
    if with_y:
        inverter = LinearInverter(model)
        fit_args = (X, y)
    else:
        inverter = LinearInverter(model.fit(X, y))
        fit_args = (X,)
    with pytest.raises(ValueError, match=re.escape(culprit)):
        inverter.fit(*fit_args)


# --- One output from 1-D or column y

ONE_OUTPUT_MODELS = [
    pytest.param(LinearRegression(), id="linear"),
    pytest.param(Ridge(alpha=0.5), id="ridge"),
    pytest.param(PLSRegression(n_components=2), id="pls"),
    pytest.param(affine_pipeline(("scale", StandardScaler())), id="std-ridge"),
]
ONE_OUTPUT_KINDS = ["1d", "col"]


def fit_one_output(model, kind, prefitted):
    X, y, _ = make_data()
    targets = select_targets(kind, y, None)
    if prefitted:
        inverter = LinearInverter(clone(model).fit(X, targets)).fit(X)
    else:
        inverter = LinearInverter(clone(model)).fit(X, targets)
    return inverter, X, y


PREFITTED = [pytest.param(False, id="clone"), pytest.param(True, id="prefitted")]


@pytest.mark.parametrize("prefitted", PREFITTED)
@pytest.mark.parametrize("kind", ONE_OUTPUT_KINDS)
@pytest.mark.parametrize("model", ONE_OUTPUT_MODELS)
def test_one_output_count(model, kind, prefitted):
    inverter, _, _ = fit_one_output(model, kind, prefitted)
    assert inverter.n_outputs_ == 1


@pytest.mark.parametrize("kind", ONE_OUTPUT_KINDS)
@pytest.mark.parametrize("model", ONE_OUTPUT_MODELS)
def test_one_output_inverse_shape(model, kind):
    inverter, _, y = fit_one_output(model, kind, prefitted=False)
    assert inverter.inverse_transform(y).shape == (N_SAMPLES, N_FEATURES)


@pytest.mark.parametrize("kind", ONE_OUTPUT_KINDS)
@pytest.mark.parametrize("model", ONE_OUTPUT_MODELS)
def test_one_output_inverse_reaches_target(model, kind):
    inverter, _, y = fit_one_output(model, kind, prefitted=False)
    A, b = expected_map(inverter.estimator_)
    X_hat = inverter.inverse_transform(y)
    assert_allclose(X_hat @ A[0] + b[0], y, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ONE_OUTPUT_KINDS)
@pytest.mark.parametrize("model", ONE_OUTPUT_MODELS)
def test_one_output_1d_matches_column(model, kind):
    inverter, _, y = fit_one_output(model, kind, prefitted=False)
    assert_allclose(
        inverter.inverse_transform(y),
        inverter.inverse_transform(y.reshape(-1, 1)),
        rtol=1e-12,
    )
