"""Torch graphs of fitted models, checked against the models' own predictions.

Every expected value comes from the fitted model itself (``predict``,
``predict_proba``, skorch's ``predict_proba``) or from numpy central
differences of it, never from skinvert's helpers.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.cross_decomposition import PLSRegression
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeRegressor
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor
from torch import nn

from skinvert._torch_models import TorchForward, build_torch_forward

# Small MLPs stop before adam converges, which is irrelevant here.
pytestmark = pytest.mark.filterwarnings(
    f"ignore::{ConvergenceWarning.__module__}.{ConvergenceWarning.__name__}"
)

N_SAMPLES = 60
N_FEATURES = 3
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
HIDDEN_LAYERS = [(7,), (6, 5)]

# The rebuilt float64 graph repeats scikit-learn's arithmetic in another
# order, so it matches predict up to rounding.
FLOAT64_TOL = 1e-10
# skorch computes in float32, and the graph is run on the same float32 rows.
FLOAT32_TOL = 1e-6


def _mlp(estimator_class, hidden_layer_sizes, **params):
    """Return a small MLP that adam fits for at most 50 epochs."""
    params = {
        "solver": "adam",
        "learning_rate_init": 0.01,
        "max_iter": 50,
        "random_state": 0,
        **params,
    }
    return estimator_class(hidden_layer_sizes=hidden_layer_sizes, **params)


def _inputs(seed=0, n_samples=N_SAMPLES):
    rng = np.random.default_rng(seed)
    scale = np.array([1.0, 3.0, 0.5])
    return rng.normal(size=(n_samples, N_FEATURES)) * scale + np.array([2.0, -1, 0])


def _regression_targets(X, n_outputs):
    Y = np.column_stack(
        [np.sin(X[:, 0]) + 0.3 * X[:, 1], X[:, 2] ** 2 - 0.2 * X[:, 0] * X[:, 1]]
    )
    return Y[:, 0] if n_outputs == 1 else Y[:, :n_outputs]


def _class_labels(X, n_classes):
    score = X[:, 0] - 2.0 + 0.4 * X[:, 1] + np.sin(3 * X[:, 2])
    if n_classes == 2:
        return np.where(score > 0, "yes", "no")
    return np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))


def _run(forward, X):
    with forward.frozen(), torch.no_grad():
        return forward.module(torch.tensor(X, dtype=forward.dtype))


def _proba(forward, raw):
    return forward.log_proba(raw).exp().numpy()


def _graph_jacobian(forward, x):
    """Return d outputs / d x at one row, outputs being values or probabilities."""

    def outputs(row):
        raw = forward.module(row.reshape(1, -1))
        if forward.classes is None:
            return forward.values(raw)[0]
        return forward.log_proba(raw).exp()[0]

    row = torch.as_tensor(x, dtype=forward.dtype)
    with forward.frozen():
        return torch.autograd.functional.jacobian(outputs, row).numpy()


def _central_difference_jacobian(predict, x, step=1e-6):
    columns = []
    for j in range(x.size):
        shift = np.zeros_like(x)
        shift[j] = step
        upper = predict((x + shift).reshape(1, -1)).ravel()
        lower = predict((x - shift).reshape(1, -1)).ravel()
        columns.append((upper - lower) / (2 * step))
    return np.column_stack(columns)


# --- scikit-learn MLPs ---------------------------------------------------------


@pytest.mark.parametrize("n_outputs", [1, 2])
@pytest.mark.parametrize("hidden_layer_sizes", HIDDEN_LAYERS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_regressor_matches_predict(activation, hidden_layer_sizes, n_outputs):
    X = _inputs()
    mlp = _mlp(
        MLPRegressor,
        hidden_layer_sizes,
        activation=activation,
    ).fit(X, _regression_targets(X, n_outputs))

    forward = build_torch_forward(mlp, X)
    values = forward.values(_run(forward, X)).numpy()

    assert forward.output == "values"
    assert forward.owned
    assert forward.classes is None
    assert forward.n_outputs == n_outputs
    assert forward.dtype == torch.float64
    assert forward.device == torch.device("cpu")
    assert values.shape == (N_SAMPLES, n_outputs)
    expected = mlp.predict(X).reshape(N_SAMPLES, -1)
    assert_allclose(values, expected, rtol=FLOAT64_TOL, atol=FLOAT64_TOL)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("hidden_layer_sizes", HIDDEN_LAYERS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_classifier_matches_predict_proba(
    activation, hidden_layer_sizes, n_classes
):
    X = _inputs()
    # alpha keeps the logits moderate, so log(predict_proba) stays finite.
    mlp = _mlp(
        MLPClassifier,
        hidden_layer_sizes,
        activation=activation,
        alpha=1.0,
    ).fit(X, _class_labels(X, n_classes))

    forward = build_torch_forward(mlp, X)
    raw = _run(forward, X)
    expected = mlp.predict_proba(X)

    assert forward.owned
    assert forward.n_outputs == n_classes
    np.testing.assert_array_equal(forward.classes, mlp.classes_)
    if n_classes == 2:
        assert forward.output == "binary_logit"
        assert raw.shape == (N_SAMPLES, 1)
        proba_of_second = torch.sigmoid(raw).numpy().ravel()
        assert_allclose(proba_of_second, expected[:, 1], rtol=0, atol=FLOAT64_TOL)
    else:
        assert forward.output == "logits"
        assert raw.shape == (N_SAMPLES, n_classes)
        softmax = torch.softmax(raw, dim=1).numpy()
        assert_allclose(softmax, expected, rtol=0, atol=FLOAT64_TOL)

    log_proba = forward.log_proba(raw).numpy()
    assert log_proba.shape == (N_SAMPLES, n_classes)
    assert_allclose(np.exp(log_proba), expected, rtol=0, atol=FLOAT64_TOL)
    # 1 - p in scikit-learn's binary predict_proba loses digits as p nears 1,
    # so the logs are compared only where p is not tiny.
    comparable = expected > 1e-6
    assert comparable.mean() > 0.9
    assert_allclose(
        log_proba[comparable], np.log(expected[comparable]), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: _mlp(MLPRegressor, (6, 5), activation="tanh"),
        lambda: _mlp(MLPRegressor, (8,), activation="relu"),
        lambda: _mlp(MLPRegressor, (6,), activation="logistic"),
        lambda: _mlp(MLPClassifier, (6,), activation="tanh", alpha=1.0),
    ],
    ids=["tanh-regressor", "relu-regressor", "logistic-regressor", "classifier"],
)
def test_mlp_gradient_matches_central_differences(make_model):
    X = _inputs()
    model = make_model()
    if isinstance(model, MLPClassifier):
        model.fit(X, _class_labels(X, 3))
        predict = model.predict_proba
    else:
        model.fit(X, _regression_targets(X, 2))
        predict = model.predict

    forward = build_torch_forward(model, X)

    for x in X[:4]:
        jacobian = _graph_jacobian(forward, x)
        expected = _central_difference_jacobian(predict, x)
        scale = np.abs(expected).max()
        assert scale > 1e-3
        assert_allclose(jacobian, expected, rtol=1e-6, atol=1e-6 * scale)


def test_mlp_fitted_on_float32_builds_float32_graph():
    X = _inputs().astype(np.float32)
    y = _regression_targets(X, 2).astype(np.float32)
    # adam keeps the float32 dtype of X, while lbfgs would fit in float64.
    mlp = _mlp(MLPRegressor, (5,), max_iter=5).fit(X, y)

    forward = build_torch_forward(mlp, X)

    assert mlp.coefs_[0].dtype == np.float32
    assert forward.dtype == torch.float32
    values = forward.values(_run(forward, X)).numpy()
    assert_allclose(values, mlp.predict(X), rtol=1e-5, atol=1e-5)


def test_poisson_mlp_regressor_ends_in_exp():
    X = _inputs()
    y = np.exp(0.3 * X[:, 0])
    mlp = _mlp(MLPRegressor, (5,), loss="poisson").fit(X, y)

    forward = build_torch_forward(mlp, X)

    assert mlp.out_activation_ == "exp"
    values = forward.values(_run(forward, X)).numpy()
    assert_allclose(values.ravel(), mlp.predict(X), rtol=FLOAT64_TOL, atol=0)


def test_multilabel_mlp_classifier_rejected():
    X = _inputs()
    Y = np.column_stack([X[:, 0] > 2, X[:, 1] > -1]).astype(int)
    mlp = _mlp(MLPClassifier, (4,), max_iter=20).fit(X, Y)

    with pytest.raises(ValueError, match="does not support multilabel"):
        build_torch_forward(mlp, X)


def test_mlp_feature_count_mismatch_rejected():
    X = _inputs()
    mlp = _mlp(MLPRegressor, (4,), max_iter=20)
    mlp.fit(X, _regression_targets(X, 1))

    with pytest.raises(ValueError, match="X_train has 2 features.*fitted with 3"):
        build_torch_forward(mlp, X[:, :2])


# --- skorch nets -----------------------------------------------------------------


def _skorch_data(n_classes=None):
    X = _inputs(seed=1).astype(np.float32)
    if n_classes is None:
        return X, _regression_targets(X, 2).astype(np.float32)
    labels = _class_labels(X, 3) if n_classes == 3 else (X[:, 0] > 2).astype(int)
    return X, labels


def _skorch_module(n_outputs, last_layer=None):
    layers = [nn.Linear(N_FEATURES, 16), nn.Tanh(), nn.Linear(16, n_outputs)]
    if last_layer is not None:
        layers.append(last_layer)
    return nn.Sequential(*layers)


SKORCH_SETTINGS = {"max_epochs": 3, "lr": 0.05, "train_split": None, "verbose": 0}

# Each case: net, training labels (None for regression), expected output kind.
SKORCH_CASES = {
    "regressor": lambda: (
        NeuralNetRegressor(_skorch_module(2), **SKORCH_SETTINGS),
        None,
        "values",
    ),
    "cross-entropy": lambda: (
        NeuralNetClassifier(
            _skorch_module(3), criterion=nn.CrossEntropyLoss, **SKORCH_SETTINGS
        ),
        3,
        "logits",
    ),
    "softmax-nll": lambda: (
        NeuralNetClassifier(_skorch_module(3, nn.Softmax(dim=-1)), **SKORCH_SETTINGS),
        3,
        "proba",
    ),
    "binary": lambda: (
        NeuralNetBinaryClassifier(_skorch_module(1), **SKORCH_SETTINGS),
        2,
        "binary_logit",
    ),
}


@pytest.fixture(params=list(SKORCH_CASES))
def fitted_skorch_net(request):
    """Return ``(net, X, expected_output)`` for a net trained for 3 epochs."""
    net, n_classes, expected_output = SKORCH_CASES[request.param]()
    X, y = _skorch_data(n_classes)
    if isinstance(net, NeuralNetBinaryClassifier):
        y = y.astype(np.float32)
    # skorch initializes weights from the global torch random state.
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net.fit(X, y)
    return net, X, expected_output


def test_skorch_net_matches_predict(fitted_skorch_net):
    net, X, expected_output = fitted_skorch_net

    forward = build_torch_forward(net, X)
    raw = _run(forward, X)

    assert forward.output == expected_output
    assert not forward.owned
    assert forward.module is net.module_
    assert forward.dtype == torch.float32
    if expected_output == "values":
        assert forward.classes is None
        assert forward.n_outputs == 2
        values = forward.values(raw).numpy()
        assert_allclose(values, net.predict(X), rtol=0, atol=FLOAT32_TOL)
        return

    expected = net.predict_proba(X)
    np.testing.assert_array_equal(forward.classes, net.classes_)
    assert forward.n_outputs == expected.shape[1]
    assert_allclose(_proba(forward, raw), expected, rtol=0, atol=FLOAT32_TOL)
    if expected_output == "logits":
        softmax = torch.softmax(raw, dim=1).numpy()
        assert_allclose(softmax, expected, rtol=0, atol=FLOAT32_TOL)
    if expected_output == "binary_logit":
        proba_of_second = torch.sigmoid(raw).numpy().ravel()
        assert_allclose(proba_of_second, expected[:, 1], rtol=0, atol=FLOAT32_TOL)


def _initialized(net):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return net.initialize()


class _TupleOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(N_FEATURES, 2)

    def forward(self, X):
        return self.linear(X), X.sum()


def test_skorch_tuple_output_reads_first_element():
    X, _ = _skorch_data()
    net = _initialized(NeuralNetRegressor(_TupleOutput, **SKORCH_SETTINGS))

    forward = build_torch_forward(net, X)

    values = forward.values(_run(forward, X)).numpy()
    assert_allclose(values, net.predict(X), rtol=0, atol=FLOAT32_TOL)


def test_uninitialized_skorch_net_rejected():
    X, _ = _skorch_data()
    net = NeuralNetRegressor(_skorch_module(2), **SKORCH_SETTINGS)

    with pytest.raises(NotFittedError, match="NeuralNetRegressor is not initialized"):
        build_torch_forward(net, X)


def test_skorch_custom_nonlinearity_rejected():
    X, _ = _skorch_data()
    net = NeuralNetClassifier(
        _skorch_module(3),
        predict_nonlinearity=lambda raw: raw**2,
        classes=[0, 1, 2],
        **SKORCH_SETTINGS,
    )
    net = _initialized(net)

    with pytest.raises(ValueError, match="cannot read the outputs of NeuralNetClass"):
        build_torch_forward(net, X)


def test_skorch_regressor_nonlinearity_rejected():
    X, _ = _skorch_data()
    net = NeuralNetRegressor(
        _skorch_module(2), predict_nonlinearity=torch.sigmoid, **SKORCH_SETTINGS
    )
    net = _initialized(net)

    with pytest.raises(ValueError, match="Set predict_nonlinearity=None"):
        build_torch_forward(net, X)


def test_skorch_identity_without_probabilities_rejected():
    X, _ = _skorch_data()
    # Identity nonlinearity, but the module returns unnormalized scores.
    net = NeuralNetClassifier(
        _skorch_module(3), predict_nonlinearity=None, classes=[0, 1, 2]
    )
    net = _initialized(net)

    with pytest.raises(ValueError, match="are not probabilities"):
        build_torch_forward(net, X)


def test_skorch_class_count_mismatch_rejected():
    X, _ = _skorch_data()
    net = NeuralNetClassifier(
        _skorch_module(2), criterion=nn.CrossEntropyLoss, classes=[0, 1, 2]
    )
    net = _initialized(net)

    with pytest.raises(ValueError, match="needs 3 output columns, but it returns 2"):
        build_torch_forward(net, X)


# --- Pipelines and affine models ----------------------------------------------


def _pipeline_mlp():
    return _mlp(MLPRegressor, (6,), activation="tanh")


def test_pipeline_with_whitening_matches_predict():
    X = _inputs()
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("skip", "passthrough"),
            ("pca", PCA(whiten=True)),
            ("mlp", _pipeline_mlp()),
        ]
    ).fit(X, _regression_targets(X, 2))

    forward = build_torch_forward(pipeline, X)
    values = forward.values(_run(forward, X)).numpy()

    assert forward.owned
    assert forward.dtype == torch.float64
    assert_allclose(values, pipeline.predict(X), rtol=FLOAT64_TOL, atol=FLOAT64_TOL)


def test_pipeline_on_dataframe_matches_predict_proba():
    X = pd.DataFrame(_inputs(), columns=["length", "width", "height"])
    classifier = _mlp(MLPClassifier, (5,))
    pipeline = Pipeline([("scale", StandardScaler()), ("mlp", classifier)])
    pipeline.fit(X, _class_labels(X.to_numpy(), 3))

    forward = build_torch_forward(pipeline, X)
    raw = _run(forward, X.to_numpy())

    assert forward.output == "logits"
    np.testing.assert_array_equal(forward.classes, pipeline.classes_)
    expected = pipeline.predict_proba(X)
    assert_allclose(_proba(forward, raw), expected, rtol=0, atol=FLOAT64_TOL)


def test_pipeline_ending_in_skorch_net_uses_its_dtype():
    X, y = _skorch_data()
    net = NeuralNetRegressor(_skorch_module(2), **SKORCH_SETTINGS)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        pipeline = Pipeline([("scale", StandardScaler()), ("net", net)]).fit(X, y)

    forward = build_torch_forward(pipeline, X)
    values = forward.values(_run(forward, X)).numpy()

    assert not forward.owned
    assert forward.dtype == torch.float32
    assert forward.module[1] is net.module_
    assert_allclose(values, pipeline.predict(X), rtol=0, atol=1e-5)


def test_pipeline_with_polynomial_step_rejected():
    X = _inputs()
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("poly", PolynomialFeatures(2)),
            ("mlp", _pipeline_mlp()),
        ]
    ).fit(X, _regression_targets(X, 1))

    with pytest.raises(ValueError, match="step 'poly' \\(PolynomialFeatures\\)"):
        build_torch_forward(pipeline, X)
    with pytest.raises(ValueError, match="BlackBoxInverter"):
        build_torch_forward(pipeline, X)


@pytest.mark.parametrize(
    "model",
    [
        Ridge(alpha=0.5),
        LinearRegression(),
        PLSRegression(n_components=2),
        Pipeline([("scale", StandardScaler()), ("ridge", Ridge())]),
    ],
    ids=lambda model: type(model).__name__,
)
def test_affine_regressor_matches_predict(model):
    X = _inputs()
    model.fit(X, _regression_targets(X, 2))

    forward = build_torch_forward(FrozenEstimator(model), X)
    values = forward.values(_run(forward, X)).numpy()

    assert forward.output == "values"
    assert forward.owned
    assert forward.n_outputs == 2
    assert_allclose(values, model.predict(X), rtol=1e-9, atol=1e-9)


# --- user torch modules and frozen() ----------------------------------------------


def _batchnorm_module():
    """Return a module in train mode, with trained BatchNorm statistics."""
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = nn.Sequential(
            nn.Linear(N_FEATURES, 8),
            nn.BatchNorm1d(8),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(8, 2),
        ).double()
    module[0].bias.requires_grad_(False)
    module[1].weight.requires_grad_(False)
    # A few train-mode passes move the running statistics off their defaults.
    with torch.no_grad():
        for _ in range(3):
            module(
                torch.randn(16, N_FEATURES, dtype=torch.float64, generator=generator)
            )
    # Mixed modes, so that restoring only the top-level flag would show.
    module[3].eval()
    return module


def _module_state(module):
    return {
        "training": [submodule.training for submodule in module.modules()],
        "requires_grad": [param.requires_grad for param in module.parameters()],
        "tensors": {
            name: tensor.clone() for name, tensor in module.state_dict().items()
        },
        "dtype": {tensor.dtype for tensor in module.state_dict().values()},
    }


def _assert_same_state(module, before):
    after = _module_state(module)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["dtype"] == before["dtype"]
    assert after["tensors"].keys() == before["tensors"].keys()
    for name, tensor in before["tensors"].items():
        assert torch.equal(after["tensors"][name], tensor), name


def test_frozen_evaluates_without_weight_gradients():
    module = _batchnorm_module()
    before = _module_state(module)
    forward = build_torch_forward(module, _inputs())
    x = torch.as_tensor(_inputs()[:5], dtype=torch.float64).requires_grad_(True)

    with forward.frozen() as frozen_module:
        assert frozen_module is module
        assert not any(submodule.training for submodule in module.modules())
        assert not any(param.requires_grad for param in module.parameters())
        first = module(x)
        second = module(x)
        first.sum().backward()

    assert torch.equal(first, second)
    assert x.grad is not None
    assert torch.count_nonzero(x.grad) > 0
    assert all(param.grad is None for param in module.parameters())
    assert not forward.owned
    assert forward.module is module
    _assert_same_state(module, before)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_frozen_restores_flags_after_error(error):
    module = _batchnorm_module()
    before = _module_state(module)
    forward = build_torch_forward(module, _inputs())

    with pytest.raises(error), forward.frozen():
        module(torch.as_tensor(_inputs()[:5], dtype=torch.float64))
        raise error("interrupted inside frozen()")

    _assert_same_state(module, before)


def test_frozen_nested_restores_outer_state():
    module = _batchnorm_module()
    before = _module_state(module)
    forward = build_torch_forward(module, _inputs())

    with forward.frozen():
        with forward.frozen():
            pass
        assert not any(submodule.training for submodule in module.modules())
        assert not any(param.requires_grad for param in module.parameters())

    _assert_same_state(module, before)


def test_build_leaves_user_module_state_unchanged():
    module = _batchnorm_module()
    before = _module_state(module)

    build_torch_forward(module, _inputs())

    _assert_same_state(module, before)


def test_user_module_with_1d_output_gives_one_column():
    module = nn.Sequential(nn.Linear(N_FEATURES, 1), nn.Flatten(0)).double()
    X = _inputs()

    forward = build_torch_forward(module, X)
    raw = _run(forward, X)

    assert raw.shape == (N_SAMPLES,)
    assert forward.n_outputs == 1
    assert forward.values(raw).shape == (N_SAMPLES, 1)


def test_user_module_with_tuple_output_rejected():
    module = _TupleOutput()

    with pytest.raises(ValueError, match="returned a tuple"):
        build_torch_forward(module, _inputs())


def test_user_module_with_wrong_width_rejected():
    module = nn.Linear(N_FEATURES + 1, 2)

    with pytest.raises(ValueError, match="could not run the torch module Linear"):
        build_torch_forward(module, _inputs())


# --- devices and unsupported models --------------------------------------------


def test_device_mismatch_with_user_module_rejected():
    module = nn.Linear(N_FEATURES, 2)

    with pytest.raises(ValueError, match="never moves a user's module"):
        build_torch_forward(module, _inputs(), device="meta")

    assert module.weight.device == torch.device("cpu")


def test_user_module_device_matches_cpu():
    forward = build_torch_forward(nn.Linear(N_FEATURES, 2), _inputs(), device="cpu")

    assert forward.device == torch.device("cpu")


def test_owned_module_moved_to_device():
    X = _inputs()
    model = Ridge().fit(X, _regression_targets(X, 2))

    forward = build_torch_forward(model, X, device="meta")

    assert forward.device == torch.device("meta")
    assert all(param.is_meta for param in forward.module.parameters())


@pytest.mark.parametrize(
    "model",
    [DecisionTreeRegressor(max_depth=3), KNeighborsRegressor(3), LogisticRegression()],
    ids=lambda model: type(model).__name__,
)
def test_model_without_gradients_rejected(model):
    X = _inputs()
    y = _class_labels(X, 2) if isinstance(model, LogisticRegression) else X[:, 0]
    model.fit(X, y)

    with pytest.raises(ValueError, match="no gradients") as info:
        build_torch_forward(model, X, owner="MyInverter")

    message = str(info.value)
    assert type(model).__name__ in message
    assert "MyInverter" in message
    assert "BlackBoxInverter" in message


@pytest.mark.parametrize(
    "model", [MLPRegressor(), MLPClassifier(), Ridge()], ids=lambda m: type(m).__name__
)
def test_unfitted_model_rejected(model):
    with pytest.raises(NotFittedError):
        build_torch_forward(model, _inputs())


def test_regressor_has_no_log_proba():
    X = _inputs()
    forward = build_torch_forward(Ridge().fit(X, X[:, 0]), X)

    with pytest.raises(ValueError, match="Use values"):
        forward.log_proba(torch.zeros(2, 1, dtype=torch.float64))


def test_classifier_has_no_values():
    forward = TorchForward(
        nn.Linear(2, 3), "logits", n_outputs=3, classes=np.array([0, 1, 2])
    )

    with pytest.raises(ValueError, match="Use log_proba"):
        forward.values(torch.zeros(2, 3))


def test_proba_output_log_is_finite_at_zero():
    forward = TorchForward(
        nn.Identity(), "proba", n_outputs=2, classes=np.array(["a", "b"])
    )

    log_proba = forward.log_proba(torch.tensor([[0.0, 1.0]], dtype=torch.float64))

    assert torch.isfinite(log_proba).all()
    assert log_proba[0, 1] == 0
