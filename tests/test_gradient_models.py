"""GradientInverter on trained networks: digits, skorch nets, model selection.

Every expected value comes from the models themselves (``predict``,
``predict_proba``), from independently trained models or from
``cross_val_score``, never from skinvert's helpers.
"""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier, NeuralNetRegressor
from torch import nn

from skinvert import GradientInverter

N_CLASSES = 10
CLASSES = np.arange(N_CLASSES)
# Digits pixels are gray levels from 0 to 16.
PIXEL_MIN, PIXEL_MAX = 0.0, 16.0

# Prior weight for the label inversions. With the full training covariance
# as prior, alpha=0.1 pulls the inputs toward the training mean and still
# leaves every class above 0.96 confidence for the MLP and the skorch net.
LABEL_ALPHA = 0.1
LABEL_PRIOR = "full"
MIN_CONFIDENCE = 0.9
# Smallest distance between the inputs recovered for two classes, in gray
# levels over 64 pixels. It is 8.6 for the MLP and 9.1 for the skorch net.
MIN_DISTANCE = 4.0
# Classes, out of 10, on which an independent classifier must agree with
# the target label. Both independent models below agree on all 10.
MIN_AGREEMENT = 8

# Pairs of classes mixed 50/50 as probability targets.
MIXED_PAIRS = [(3, 8), (1, 7), (0, 6)]


def _independent_logistic():
    return LogisticRegression(max_iter=2000)


def _independent_knn():
    return KNeighborsClassifier(n_neighbors=5)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    return X_train, y_train


@pytest.fixture(scope="module")
def mlp_classifier(digits):
    X_train, y_train = digits
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=0)
    return mlp.fit(X_train, y_train)


@pytest.fixture(scope="module")
def skorch_classifier(digits):
    X_train, y_train = digits
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        net = NeuralNetClassifier(
            module,
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=0.01,
            max_epochs=20,
            batch_size=128,
            iterator_train__shuffle=True,
            train_split=None,
            verbose=0,
        )
        return net.fit(X_train.astype(np.float32), y_train)


@pytest.fixture(scope="module", params=["mlp", "skorch"])
def classifier(request, digits):
    model = request.getfixturevalue(f"{request.param}_classifier")
    X_train, _ = digits
    # skorch nets compute in float32 and are fitted on float32 inputs.
    dtype = np.float32 if request.param == "skorch" else np.float64
    return model, X_train.astype(dtype)


@pytest.fixture(scope="module")
def label_inversion(classifier):
    model, X_train = classifier
    inverter = GradientInverter(
        model, alpha=LABEL_ALPHA, prior=LABEL_PRIOR, init="mean"
    ).fit(X_train)
    return model, inverter, inverter.invert(CLASSES)


def _class_confidence(model, X):
    return model.predict_proba(X)[CLASSES, CLASSES]


def test_labels_confident(label_inversion):
    model, _, result = label_inversion

    confidence = _class_confidence(model, result.X)

    for label in CLASSES:
        assert confidence[label] >= MIN_CONFIDENCE, (label, confidence)


def test_labels_predicted(label_inversion):
    model, _, result = label_inversion

    predicted = model.predict(result.X)

    assert_allclose(predicted, CLASSES)


def test_labels_converged(label_inversion):
    _, _, result = label_inversion

    assert result.converged.all(), result.converged


def test_labels_residual_is_one_minus_confidence(label_inversion):
    model, _, result = label_inversion

    confidence = _class_confidence(model, result.X)

    assert_allclose(result.residual, 1 - confidence, atol=1e-5)


def test_labels_within_data_range(label_inversion, digits):
    _, _, result = label_inversion
    X_train, _ = digits

    assert np.all(result.X >= X_train.min(axis=0))
    assert np.all(result.X <= X_train.max(axis=0))
    assert np.all(result.X >= PIXEL_MIN)
    assert np.all(result.X <= PIXEL_MAX)


def test_labels_distinct(label_inversion):
    _, _, result = label_inversion
    X = result.X.astype(np.float64)

    distance = np.linalg.norm(X[:, None] - X[None, :], axis=-1)
    pairs = np.triu_indices(N_CLASSES, k=1)

    assert distance[pairs].min() > MIN_DISTANCE, distance[pairs].min()


@pytest.mark.parametrize(
    "make_independent",
    [_independent_logistic, _independent_knn],
    ids=["logistic", "knn"],
)
def test_labels_independent_agreement(label_inversion, digits, make_independent):
    _, _, result = label_inversion
    X_train, y_train = digits
    independent = make_independent().fit(X_train, y_train)

    agreement = int(np.sum(independent.predict(result.X) == CLASSES))

    assert agreement >= MIN_AGREEMENT, agreement


def test_prior_pulls_toward_mean(label_inversion, classifier):
    model, inverter, result = label_inversion
    _, X_train = classifier
    unregularized = GradientInverter(model, prior=LABEL_PRIOR, init="mean")
    X_free = unregularized.fit(X_train).invert(CLASSES).X
    mean = X_train.mean(axis=0)

    distance_prior = np.linalg.norm(result.X - mean, axis=1)
    distance_free = np.linalg.norm(X_free - mean, axis=1)

    for label in CLASSES:
        assert distance_prior[label] < distance_free[label], label


def _mixed_targets():
    P = np.zeros((len(MIXED_PAIRS), N_CLASSES))
    for row, pair in enumerate(MIXED_PAIRS):
        P[row, list(pair)] = 0.5
    return P


@pytest.fixture(scope="module")
def mixed_inversion(classifier):
    model, X_train = classifier
    tol = 1e-4
    inverter = GradientInverter(model, init="mean", tol=tol).fit(X_train)
    P = _mixed_targets()
    with warnings.catch_warnings():
        # test_probability_mix_converged checks the converged flags.
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = inverter.invert(P)
    return model, inverter, P, result


def test_probability_mix_matched(mixed_inversion):
    model, inverter, P, result = mixed_inversion

    gap = model.predict_proba(result.X) - P
    rms_gap = np.sqrt(np.mean(gap**2, axis=1))

    assert np.all(rms_gap <= inverter.tol), rms_gap


def test_probability_mix_residual(mixed_inversion):
    model, _, P, result = mixed_inversion

    gap = model.predict_proba(result.X) - P
    rms_gap = np.sqrt(np.mean(gap**2, axis=1))

    assert_allclose(result.residual, rms_gap, atol=1e-6)


def test_probability_mix_converged(mixed_inversion):
    model, inverter, P, result = mixed_inversion

    # A target matched within tol counts as converged, as for regressors,
    # whose starts stop once the misfit is ten times below tol.
    assert result.converged.all(), (result.residual, result.n_iter)


# --- skorch regressor ----------------------------------------------------


def _synthetic_regression(n_samples, seed):
    """Return inputs in [-1, 1]^3 and two smooth outputs of them."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n_samples, 3))
    Y = np.column_stack(
        [
            X[:, 0] + 2 * X[:, 1] - X[:, 2],
            np.sin(2 * X[:, 0]) + X[:, 2] ** 2,
        ]
    )
    return X, Y


@pytest.fixture(scope="module")
def skorch_regressor():
    X, Y = _synthetic_regression(n_samples=200, seed=0)
    X32 = X.astype(np.float32)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 2))
        net = NeuralNetRegressor(
            module,
            optimizer=torch.optim.Adam,
            lr=0.01,
            max_epochs=30,
            batch_size=32,
            train_split=None,
            verbose=0,
        )
        net.fit(X32, Y.astype(np.float32))
    return net, X32


@pytest.fixture(scope="module")
def regression_inversion(skorch_regressor):
    net, X_train = skorch_regressor
    # Targets the net reaches: its own predictions on unseen inputs.
    X_new, _ = _synthetic_regression(n_samples=20, seed=1)
    Y = net.predict(X_new.astype(np.float32)).astype(np.float64)
    inverter = GradientInverter(net).fit(X_train)
    return net, inverter, Y, inverter.invert(Y)


def test_skorch_regressor_resimulates(regression_inversion):
    net, inverter, Y, result = regression_inversion

    predicted = net.predict(result.X.astype(np.float32))
    relative = np.sqrt(np.mean(((predicted - Y) / inverter.output_scale_) ** 2, 1))

    assert np.all(relative <= inverter.tol), relative


def test_skorch_regressor_converged(regression_inversion):
    _, _, _, result = regression_inversion

    assert result.converged.all(), result.residual


def test_skorch_regressor_float64_targets(regression_inversion):
    _, _, _, result = regression_inversion

    assert result.X.dtype == np.float64


# --- GridSearchCV over alpha -----------------------------------------------

SEARCH_GRID = {"alpha": [0.0, 0.01, 1.0]}
SEARCH_MAX_ITER = 100


class _SeededNet(nn.Module):
    """Small regression net whose initial weights depend only on ``seed``.

    GridSearchCV and cross_val_score fit fresh clones of the skorch net, so
    their scores agree only if every clone starts from the same weights.
    """

    def __init__(self, n_features=4, n_hidden=16, seed=0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.layers = nn.Sequential(
                nn.Linear(n_features, n_hidden), nn.Tanh(), nn.Linear(n_hidden, 1)
            )

    def forward(self, X):
        return self.layers(X)


def _underdetermined_problem():
    """Return 4 inputs and 1 output, so each target has many exact inputs."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(90, 4))
    y = np.tanh(X[:, 0] + 0.5 * X[:, 1]) + 0.5 * X[:, 2]
    return X, y


def _mlp_search_data():
    X, y = _underdetermined_problem()
    model = MLPRegressor(
        hidden_layer_sizes=(16,), solver="lbfgs", max_iter=300, random_state=0
    )
    return model, X, y


def _skorch_search_data():
    X, y = _underdetermined_problem()
    net = NeuralNetRegressor(
        _SeededNet,
        optimizer=torch.optim.Adam,
        lr=0.02,
        max_epochs=30,
        batch_size=32,
        train_split=None,
        verbose=0,
    )
    return net, X.astype(np.float32), y.astype(np.float32).reshape(-1, 1)


@pytest.fixture(
    scope="module",
    params=[_mlp_search_data, _skorch_search_data],
    ids=["mlp", "skorch"],
)
def alpha_search(request):
    model, X, y = request.param()
    inverter = GradientInverter(model, max_iter=SEARCH_MAX_ITER)
    search = GridSearchCV(inverter, SEARCH_GRID, cv=3).fit(X, y)
    return model, X, y, search


def test_search_best_alpha_in_grid(alpha_search):
    _, _, _, search = alpha_search

    assert search.best_params_["alpha"] in SEARCH_GRID["alpha"]


def test_search_prefers_prior(alpha_search):
    _, _, _, search = alpha_search

    # Without the prior, the directions the output does not determine stay
    # where the start put them, so held-out inputs are recovered worse.
    assert search.best_params_["alpha"] > 0, search.cv_results_["mean_test_score"]


def test_search_score_recomputed(alpha_search):
    model, X, y, search = alpha_search
    inverter = GradientInverter(
        model, max_iter=SEARCH_MAX_ITER, alpha=search.best_params_["alpha"]
    )

    scores = cross_val_score(inverter, X, y, cv=3)

    assert_allclose(search.best_score_, scores.mean(), rtol=1e-10)


# --- Pipeline of a scaler and an MLP -------------------------------------

# Features in very different units: a temperature in kelvin, a pressure in
# pascal and a fraction.
FEATURE_MEAN = np.array([300.0, 1e5, 0.5])
FEATURE_STD = np.array([20.0, 1e4, 0.1])


@pytest.fixture(scope="module")
def pipeline_inversion():
    rng = np.random.default_rng(3)
    X = FEATURE_MEAN + FEATURE_STD * rng.normal(size=(170, 3))
    Z = (X - FEATURE_MEAN) / FEATURE_STD
    Y = np.column_stack(
        [
            Z[:, 0] + 0.5 * np.tanh(Z[:, 1]),
            Z[:, 1] - 0.3 * Z[:, 0] + 0.2 * Z[:, 2],
            Z[:, 2] + 0.2 * Z[:, 0] ** 2,
        ]
    )
    X_train, X_new = X[:150], X[150:]
    mlp = MLPRegressor(
        hidden_layer_sizes=(32,), solver="lbfgs", max_iter=1000, random_state=0
    )
    pipeline = make_pipeline(StandardScaler(), mlp).fit(X_train, Y[:150])
    targets = pipeline.predict(X_new)
    # No bounds, so only the pipeline puts the inputs back in their units.
    inverter = GradientInverter(pipeline, bounds=None).fit(X_train)
    return pipeline, inverter, X_new, targets, inverter.invert(targets)


def test_pipeline_resimulates(pipeline_inversion):
    pipeline, inverter, _, targets, result = pipeline_inversion

    predicted = pipeline.predict(result.X)
    relative = np.sqrt(
        np.mean(((predicted - targets) / inverter.output_scale_) ** 2, axis=1)
    )

    assert np.all(relative <= inverter.tol), relative


def test_pipeline_original_units(pipeline_inversion):
    _, _, X_new, _, result = pipeline_inversion

    # The map from three inputs to three outputs is one-to-one near the
    # data, so the recovered inputs are the true ones in their own units.
    error = np.abs(result.X - X_new) / FEATURE_STD

    assert error.max() < 1e-3, error.max()
