"""The inverter contract: fitting paths, pipelines, model selection, errors, safety."""

import logging
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_linnerud
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skinvert import LinearInverter
from skinvert.metrics import (
    make_resimulation_scorer,
    neg_resimulation_mse,
    resimulation_error,
)


@pytest.fixture(scope="module")
def linnerud():
    data = load_linnerud()
    # Physiological measurements as inputs, exercise counts as outputs.
    return data.target.astype(np.float64), data.data.astype(np.float64)


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def _model_state(model):
    return pickle.dumps(model)


def test_fit_without_y_uses_model_as_is(diabetes):
    X, y = diabetes
    model = Ridge().fit(X, y)
    before = _model_state(model)

    inverter = LinearInverter(model).fit(X)

    assert inverter.estimator_ is model
    assert _model_state(model) == before


def test_fit_with_y_fits_a_clone(diabetes):
    X, y = diabetes
    model = Ridge(alpha=0.1)

    inverter = LinearInverter(model).fit(X, y)

    assert inverter.estimator_ is not model
    assert not hasattr(model, "coef_")
    assert_allclose(inverter.estimator_.coef_, Ridge(alpha=0.1).fit(X, y).coef_)


def test_frozen_estimator_is_not_refit(diabetes):
    X, y = diabetes
    model = Ridge().fit(X[:200], y[:200])
    coef = model.coef_.copy()

    inverter = LinearInverter(FrozenEstimator(model)).fit(X, y)

    assert_allclose(model.coef_, coef, rtol=0, atol=0)
    assert_allclose(inverter.coef_.ravel(), coef, rtol=1e-9)


def test_unfitted_model_without_y_raises():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(NotFittedError, match="Pass y so that LinearInverter fits"):
        LinearInverter(Ridge()).fit(X)


@pytest.mark.parametrize("make_estimator", ["plain", "frozen"])
def test_grid_search_tunes_alpha(diabetes, make_estimator):
    X, y = diabetes
    if make_estimator == "frozen":
        estimator = FrozenEstimator(Ridge(alpha=1e-3).fit(X, y))
    else:
        estimator = Ridge(alpha=1e-3)
    grid = {"alpha": [0.0, 1e-4, 1e-2, 1.0], "prior": ["diag", "full"]}

    search = GridSearchCV(LinearInverter(estimator), grid, cv=3, n_jobs=2)
    search.fit(X, y)

    # Recompute the winner's cross-validated score by hand.
    best = LinearInverter(estimator, **search.best_params_)
    scores = cross_val_score(best, X, y, cv=3)
    assert_allclose(search.best_score_, scores.mean(), rtol=1e-10)
    assert search.best_score_ >= np.max(search.cv_results_["mean_test_score"]) - 1e-12


def test_score_is_r2_of_recovered_inputs(linnerud):
    X, Y = linnerud
    inverter = LinearInverter(Ridge(), alpha=0.5).fit(X, Y)

    X_hat = inverter.inverse_transform(Y)
    ss_res = np.sum((X - X_hat) ** 2, axis=0)
    ss_tot = np.sum((X - X.mean(axis=0)) ** 2, axis=0)

    assert_allclose(inverter.score(X, Y), np.mean(1 - ss_res / ss_tot), rtol=1e-12)


def test_resimulation_scorer_uses_forward_error(linnerud):
    X, Y = linnerud
    inverter = LinearInverter(Ridge(), alpha=5.0).fit(X, Y)

    X_hat = inverter.inverse_transform(Y)
    resimulated = inverter.estimator_.predict(X_hat)
    expected = np.mean((resimulated - Y) ** 2)

    assert_allclose(neg_resimulation_mse(inverter, X, Y), -expected, rtol=1e-10)
    rmse_scorer = make_resimulation_scorer(squared=False)
    assert_allclose(rmse_scorer(inverter, X, Y), -np.sqrt(expected), rtol=1e-10)
    per_target = resimulation_error(Y, X_hat, inverter.estimator_.predict)
    assert_allclose(per_target, np.mean((resimulated - Y) ** 2, axis=1))


def test_pipeline_inverse_transform_returns_original_units(linnerud):
    X, Y = linnerud
    pipeline = Pipeline(
        [("scale", StandardScaler()), ("invert", LinearInverter(Ridge(alpha=1e-3)))]
    ).fit(X, Y)

    X_hat = pipeline.inverse_transform(Y)

    # The same inversion written out: invert in scaled units, then unscale.
    scaler = pipeline.named_steps["scale"]
    inner = pipeline.named_steps["invert"]
    expected = inner.inverse_transform(Y) * scaler.scale_ + scaler.mean_
    assert_allclose(X_hat, expected, rtol=1e-12)
    assert_allclose(pipeline.transform(X_hat), Y, rtol=1e-6)


def test_wrapped_pipeline_inverts_in_original_units(linnerud):
    X, Y = linnerud
    model = make_pipeline(StandardScaler(), Ridge(alpha=1e-3)).fit(X, Y)

    X_hat = LinearInverter(model).fit(X).inverse_transform(Y)

    assert_allclose(model.predict(X_hat), Y, rtol=1e-6)


def test_set_output_pandas(linnerud):
    pd = pytest.importorskip("pandas")
    X, Y = linnerud
    X_frame = pd.DataFrame(X, columns=["weight", "waist", "pulse"])
    Y_frame = pd.DataFrame(Y, columns=["chins", "situps", "jumps"])
    inverter = LinearInverter(Ridge()).set_output(transform="pandas")
    inverter.fit(X_frame, Y_frame)

    predicted = inverter.transform(X_frame)
    recovered = inverter.inverse_transform(Y_frame)

    assert list(predicted.columns) == ["chins", "situps", "jumps"]
    assert list(recovered.columns) == ["weight", "waist", "pulse"]
    assert list(recovered.index) == list(Y_frame.index)
    assert list(inverter.get_feature_names_out()) == ["chins", "situps", "jumps"]


def test_feature_names_without_names(linnerud):
    X, Y = linnerud
    inverter = LinearInverter(Ridge()).fit(X, Y)

    names = inverter.get_feature_names_out()

    assert list(names) == ["linearinverter0", "linearinverter1", "linearinverter2"]


def test_one_dimensional_targets_for_single_output(diabetes):
    X, y = diabetes
    inverter = LinearInverter(Ridge()).fit(X, y)

    X_hat = inverter.inverse_transform(y[:4])

    assert X_hat.shape == (4, 10)
    assert_allclose(inverter.transform(X_hat).ravel(), y[:4], rtol=1e-9)


@pytest.mark.parametrize(
    "targets, message",
    [
        (np.array([[1.0, np.nan, 2.0]]), "LinearInverter: Input Y contains NaN"),
        (np.array([[1.0, np.inf, 2.0]]), "LinearInverter: .*infinity"),
        (150.0, r"Y is the scalar 150.0.*such as \[150.0\]"),
        (
            np.ones((2, 2)),
            "Y has 2 columns, but LinearInverter is expecting one column per "
            "model output \\(3\\)",
        ),
        (np.ones(3), "Y is 1-D with 3 values, but the model has 3 outputs"),
        (np.ones((0, 3)), "0 sample"),
        (np.ones((2, 3, 1)), "3"),
        (np.array([["a", "b", "c"]]), "could not convert|dtype"),
    ],
)
def test_bad_targets_raise(linnerud, targets, message):
    X, Y = linnerud
    model = Ridge().fit(X, Y)
    before = _model_state(model)
    inverter = LinearInverter(model).fit(X)

    with pytest.raises(ValueError, match=message):
        inverter.inverse_transform(targets)

    assert _model_state(model) == before


@pytest.mark.parametrize(
    "params, message",
    [
        ({"alpha": -1.0}, "'alpha' parameter of LinearInverter"),
        ({"alpha": "auto"}, "'alpha' parameter of LinearInverter"),
        ({"alpha": True}, "'alpha' parameter of LinearInverter must be a number"),
        ({"prior": "wide"}, "'prior' parameter"),
        ({"bounds": "range"}, "'bounds' parameter"),
        ({"bounds": (1.0, 0.0)}, "lower bound is above the upper bound"),
        ({"bounds": ([0.0, 0.0], [1.0, 1.0])}, "shape \\(2,\\), but X has 3"),
        ({"bounds": (0.0,)}, "pair \\(lower, upper\\)"),
        ({"bounds": (np.nan, 1.0)}, "NaN"),
        ({"n_components": 0}, "'n_components' parameter"),
        ({"tol": -1.0}, "'tol' parameter"),
    ],
)
def test_bad_parameters_raise(linnerud, params, message):
    X, Y = linnerud
    model = Ridge().fit(X, Y)
    before = _model_state(model)

    with pytest.raises(ValueError, match=message):
        LinearInverter(model, **params).fit(X)

    assert _model_state(model) == before


@pytest.mark.parametrize(
    "X_bad, message",
    [
        (np.full((20, 3), np.nan), "NaN"),
        (np.ones((0, 3)), "0 sample"),
        (np.ones((20, 3, 2)), "3"),
    ],
)
def test_bad_training_inputs_raise(linnerud, X_bad, message):
    X, Y = linnerud
    model = Ridge().fit(X, Y)
    before = _model_state(model)

    with pytest.raises(ValueError, match=message):
        LinearInverter(model).fit(X_bad)

    assert _model_state(model) == before


def test_wrong_width_raises(linnerud):
    X, Y = linnerud
    model = Ridge().fit(X, Y)
    with pytest.raises(ValueError, match="X has 2 features, but the estimator"):
        LinearInverter(model).fit(X[:, :2])


def test_classifier_raises():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    with pytest.raises(ValueError, match="needs a regressor"):
        LinearInverter(model).fit(X)


def test_verbose_logs_progress(linnerud, caplog):
    X, Y = linnerud
    inverter = LinearInverter(Ridge(), bounds="data", verbose=1)

    with caplog.at_level(logging.INFO, logger="skinvert"):
        inverter.fit(X, Y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inverter.inverse_transform(Y * 3)

    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "rank 3" in messages
    assert "bounded solves: 19/19 targets" in messages


def test_silent_by_default(linnerud, caplog):
    X, Y = linnerud
    with caplog.at_level(logging.INFO, logger="skinvert"):
        LinearInverter(Ridge()).fit(X, Y).inverse_transform(Y)
    assert caplog.records == []


def test_model_with_nonfinite_output_named():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.exp(X @ [1.0, 2.0, 0.5])
    model = TransformedTargetRegressor(
        Ridge(), func=np.log, inverse_func=np.exp, check_inverse=False
    ).fit(X, y)

    with pytest.raises(ValueError, match="TransformedTargetRegressor is not affine"):
        LinearInverter(model).fit(X)


def test_step_failing_off_data_named():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 1.0, size=(80, 3))
    model = make_pipeline(FunctionTransformer(np.log), Ridge())
    model.fit(X, X @ [1.0, 2.0, 0.5])

    with pytest.raises(ValueError, match="'functiontransformer'.*fails or returns"):
        LinearInverter(model).fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_skops_round_trip_after_use(linnerud, tmp_path, dtype):
    skops_io = pytest.importorskip("skops.io")
    X, Y = linnerud
    inverter = LinearInverter(Ridge(), alpha=0.1).fit(X, Y)
    expected = inverter.inverse_transform(Y.astype(dtype))
    path = tmp_path / "inverter.skops"

    skops_io.dump(inverter, path)
    untrusted = skops_io.get_untrusted_types(file=path)
    loaded = skops_io.load(path, trusted=untrusted)

    assert_allclose(loaded.inverse_transform(Y.astype(dtype)), expected)
    unpickled = pickle.loads(pickle.dumps(inverter))
    assert_allclose(unpickled.inverse_transform(Y.astype(dtype)), expected)


def test_target_columns_matched_by_name(linnerud):
    pd = pytest.importorskip("pandas")
    X, Y = linnerud
    Y_frame = pd.DataFrame(Y, columns=["chins", "situps", "jumps"])
    inverter = LinearInverter(Ridge()).fit(X, Y_frame)

    shuffled = Y_frame[["jumps", "chins", "situps"]]

    assert_allclose(inverter.inverse_transform(shuffled), inverter.inverse_transform(Y))


def test_unknown_target_columns_raise(linnerud):
    pd = pytest.importorskip("pandas")
    X, Y = linnerud
    Y_frame = pd.DataFrame(Y, columns=["chins", "situps", "jumps"])
    inverter = LinearInverter(Ridge()).fit(X, Y_frame)

    renamed = Y_frame.rename(columns={"jumps": "pulse"})

    with pytest.raises(
        ValueError, match="Missing: \\['jumps'\\]; unexpected: \\['pulse'\\]"
    ):
        inverter.inverse_transform(renamed)


def test_none_bound_named():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="lower bound is None"):
        LinearInverter(bounds=(None, None)).fit(X, X @ [1.0, 2.0])


def test_frozen_unfitted_model_raises():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(
        NotFittedError, match="FrozenEstimator wraps a model that is not fitted"
    ):
        LinearInverter(FrozenEstimator(Ridge())).fit(X, X @ [1.0, 2.0])


def test_verbose_output_yields_to_later_logging_config(monkeypatch):
    from skinvert import _logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(_logging.logger, "handlers", [])
    _logging.enable_verbose_output(1)
    assert _logging.logger.handlers == [_logging._HANDLER]

    # The application configures logging afterwards: skinvert's own handler
    # steps aside, so each message reaches the application's handlers once.
    monkeypatch.setattr(root, "handlers", [logging.NullHandler()])
    _logging.enable_verbose_output(1)

    assert _logging.logger.handlers == []
