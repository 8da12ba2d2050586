"""GradientInverter against closed forms, brute force and known inverses."""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.neural_network import MLPRegressor

from skinvert import GradientInverter, LinearInverter


def _linear_data(n_samples, n_features, n_outputs, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * rng.uniform(0.5, 3, n_features)
    X += rng.uniform(-5, 5, n_features)
    Y = X @ rng.normal(size=(n_features, n_outputs)) + rng.normal(size=n_outputs)
    return X, Y


class Cubic(torch.nn.Module):
    """y = x + x**3 per feature: monotone, with inverse from numpy.roots."""

    def forward(self, x):
        return x + x**3


def _cubic_inverse(y):
    return np.array(
        [
            np.real(r[np.isreal(r)][0])
            for r in (np.roots([1.0, 0.0, 1.0, -v]) for v in y)
        ]
    )


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_known_inverse_recovered(optimizer):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 3))
    inverter = GradientInverter(
        Cubic(), optimizer=optimizer, init="mean", max_iter=2000
    ).fit(X)
    X_true = rng.uniform(-1.5, 1.5, size=(20, 3))
    targets = X_true + X_true**3

    result = inverter.invert(targets)

    # tol=1e-4 of the output spread (about 4) bounds the error in x by 4e-4.
    expected = np.column_stack([_cubic_inverse(targets[:, j]) for j in range(3)])
    assert result.converged.all()
    assert_allclose(result.X, expected, atol=5e-4)


# With alpha=0 and prior="full" the exact solutions form a set, and the
# iterative solver picks the one nearest its start in standardized units,
# not the Mahalanobis-nearest one of the closed form, so that pair is left out.
@pytest.mark.parametrize(
    "alpha, prior", [(0.0, "diag"), (0.3, "diag"), (0.3, "full"), (5.0, "full")]
)
def test_affine_model_matches_closed_form(alpha, prior):
    X, Y = _linear_data(120, 4, 2)
    X[:, 1] = 0.6 * X[:, 0] + 0.4 * X[:, 1]
    model = LinearRegression().fit(X, Y)
    settings = {"alpha": alpha, "prior": prior}
    closed = LinearInverter(model, **settings).fit(X)
    iterative = GradientInverter(
        model, bounds=None, init="mean", max_iter=500, tol=1e-8, **settings
    ).fit(X)
    targets = Y[:8] + 1.0

    expected = closed.inverse_transform(targets)
    result = iterative.invert(targets)

    assert_allclose(result.X, expected, rtol=1e-5, atol=1e-5)
    assert result.stopped.all()


def test_bounded_affine_matches_bvls():
    X, Y = _linear_data(120, 3, 4, seed=1)
    model = LinearRegression().fit(X, Y)
    lower = X.mean(axis=0) - 0.3 * X.std(axis=0)
    upper = X.mean(axis=0) + 0.3 * X.std(axis=0)
    closed = LinearInverter(model, bounds=(lower, upper)).fit(X)
    iterative = GradientInverter(
        model, bounds=(lower, upper), init="mean", max_iter=500, tol=1e-8
    ).fit(X)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = closed.inverse_transform(Y[:6])
        expected_active = closed.invert(Y[:6]).active_bounds
        result = iterative.invert(Y[:6])

    assert_allclose(result.X, expected, rtol=1e-5, atol=1e-5 * X.std())
    assert np.all(result.X >= lower)
    assert np.all(result.X <= upper)
    assert_allclose(result.active_bounds, expected_active)


@pytest.fixture(scope="module")
def wave():
    """A small MLP fitted to a 1-D wave, and its training inputs."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 1))
    y = np.sin(3 * X[:, 0]) + 0.5 * X[:, 0]
    model = MLPRegressor(
        hidden_layer_sizes=(32, 32), solver="lbfgs", max_iter=3000, random_state=0
    ).fit(X, y)
    return model, X


def test_one_input_matches_grid_search(wave):
    model, X = wave
    grid = np.linspace(-1, 1, 200001)[:, None]
    outputs = model.predict(grid)
    targets = np.array([-0.8, -0.2, 0.3, 0.9, 1.2])
    inverter = GradientInverter(model, n_restarts=4, random_state=0).fit(X)

    result = inverter.invert(targets)

    brute = np.min(np.abs(outputs[:, None] - targets[None, :]), axis=0)
    assert np.all(result.residual <= brute + 1e-6)
    assert_allclose(model.predict(result.X), targets, atol=1e-4)


def test_unreachable_target_reported(wave):
    model, X = wave
    grid = np.linspace(-1, 1, 200001)[:, None]
    outputs = model.predict(grid)
    targets = np.array([0.3, outputs.max() + 1.0])
    inverter = GradientInverter(model, n_restarts=3, random_state=0).fit(X)

    with pytest.warns(ConvergenceWarning, match="1 of 2 targets were not reached"):
        result = inverter.invert(targets)

    # The grid maximum is within 1e-4 of the true one; the optimizer may do
    # slightly better, never worse.
    assert result.converged.tolist() == [True, False]
    assert 1.0 - 1e-4 <= result.residual[1] <= 1.0 + 1e-9
    assert_allclose(result.X[1], grid[np.argmax(outputs)], atol=1e-3)


def test_two_inputs_match_grid_search():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(400, 2))
    y = np.sin(2 * X[:, 0]) * np.cos(2 * X[:, 1])
    model = MLPRegressor(
        hidden_layer_sizes=(32, 32), solver="lbfgs", max_iter=3000, random_state=0
    ).fit(X, y)
    axis = np.linspace(-1, 1, 801)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    outputs = model.predict(grid)
    targets = np.quantile(outputs, [0.01, 0.3, 0.6, 0.99]) + [-0.5, 0.0, 0.0, 0.5]
    inverter = GradientInverter(model, n_restarts=5, random_state=0).fit(X)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = inverter.invert(targets)

    brute = np.min(np.abs(outputs[:, None] - targets[None, :]), axis=0)
    assert np.all(result.residual <= brute + 1e-3)


def test_restarts_return_sorted_candidates(wave):
    model, X = wave
    inverter = GradientInverter(model, init="random", n_restarts=4, random_state=0)
    inverter.fit(X)

    result = inverter.invert(np.array([0.1, 0.5]))

    assert result.candidates.shape == (2, 5, 1)
    assert result.candidate_losses.shape == (2, 5)
    assert np.all(np.diff(result.candidate_losses, axis=1) >= 0)
    assert_allclose(result.candidates[:, 0], result.X)


def test_rows_independent_of_batch(wave):
    model, X = wave
    inverter = GradientInverter(model, batch_size=3).fit(X)
    targets = np.array([-0.9, 0.1, 0.4, 0.8, 1.5])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        together = inverter.inverse_transform(targets)
        alone = np.vstack([inverter.inverse_transform(t[None]) for t in targets])

    assert_allclose(together, alone, atol=1e-10)


def test_same_seed_same_result(wave):
    model, X = wave
    targets = np.array([0.2, 0.6])
    first = GradientInverter(model, init="random", n_restarts=2, random_state=3)
    second = GradientInverter(model, init="random", n_restarts=2, random_state=3)

    X_first = first.fit(X).invert(targets).candidates
    X_second = second.fit(X).invert(targets).candidates

    assert_allclose(X_first, X_second)


@pytest.mark.parametrize("init", ["mean", "random", "nearest", "array", "estimator"])
def test_init_options_reach_targets(wave, init):
    model, X = wave
    targets = np.array([0.0, 0.7])
    if init == "array":
        init = np.array([0.1])
    elif init == "estimator":
        init = LinearRegression().fit(model.predict(X)[:, None], X)
    inverter = GradientInverter(model, init=init, n_restarts=5, random_state=0)

    result = inverter.fit(X).invert(targets)

    assert result.converged.all()
    assert_allclose(model.predict(result.X), targets, atol=1e-4)


def test_bad_init_shape_raises(wave):
    model, X = wave
    inverter = GradientInverter(model, init=np.zeros((3, 4))).fit(X)
    with pytest.raises(ValueError, match="init has shape \\(3, 4\\)"):
        inverter.invert(np.array([0.1, 0.2]))


class Fragile(torch.nn.Module):
    """A module with batch norm and dropout, partly frozen, in train mode."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.layer = torch.nn.Linear(3, 8)
        self.norm = torch.nn.BatchNorm1d(8)
        self.drop = torch.nn.Dropout(0.5)
        self.head = torch.nn.Linear(8, 2)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
        self.head.bias.requires_grad_(False)
        self.fail_after = None
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt
        return self.head(self.drop(torch.tanh(self.norm(self.layer(x)))))


def _module_state(module):
    return {
        "training": [m.training for m in module.modules()],
        "requires_grad": [p.requires_grad for p in module.parameters()],
        "tensors": {k: v.clone() for k, v in module.state_dict().items()},
        "grads": [p.grad for p in module.parameters()],
    }


def _assert_same_state(before, after):
    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    for key, value in before["tensors"].items():
        assert torch.equal(value, after["tensors"][key]), key
    assert all(grad is None for grad in after["grads"])


@pytest.fixture
def fragile_setup():
    module = Fragile()
    module.train()
    X = np.random.default_rng(0).normal(size=(50, 3))
    with torch.no_grad():
        module.eval()
        Y = module(torch.as_tensor(X, dtype=torch.float32)).numpy()
        module.train()
    return module, X, Y


def test_model_unchanged_after_invert(fragile_setup):
    module, X, Y = fragile_setup
    before = _module_state(module)

    inverter = GradientInverter(module, max_iter=30).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inverter.invert(Y[:5])

    _assert_same_state(before, _module_state(module))


def test_model_unchanged_after_interrupt(fragile_setup):
    module, X, Y = fragile_setup
    inverter = GradientInverter(module, max_iter=30).fit(X)
    before = _module_state(module)
    module.fail_after = module.calls + 3

    with pytest.raises(KeyboardInterrupt):
        inverter.invert(Y[:5])

    module.fail_after = None
    after = _module_state(module)
    _assert_same_state(before, after)


def test_works_under_no_grad(fragile_setup):
    module, X, Y = fragile_setup
    inverter = GradientInverter(module, max_iter=50).fit(X)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = inverter.invert(Y[:3])
    assert np.all(np.isfinite(result.X))


def test_inference_mode_raises(fragile_setup):
    module, X, Y = fragile_setup
    inverter = GradientInverter(module).fit(X)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        inverter.invert(Y[:3])


def test_float32_model_with_float64_targets(fragile_setup):
    module, X, Y = fragile_setup
    inverter = GradientInverter(module, n_restarts=2, random_state=0).fit(X)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X64 = inverter.inverse_transform(Y[:4].astype(np.float64))
        X32 = inverter.inverse_transform(Y[:4].astype(np.float32))

    assert X64.dtype == np.float64
    assert X32.dtype == np.float32
    assert next(module.parameters()).dtype == torch.float32


class Cliff(torch.nn.Module):
    """Finite for x < 1, NaN beyond: a model that breaks off its data."""

    def forward(self, x):
        y = 2 * x[:, :1]
        return torch.where(x[:, :1] < 1.0, y, torch.full_like(y, float("nan")))


def test_nan_loss_keeps_best_finite_point():
    X = np.random.default_rng(0).uniform(-1, 1, size=(40, 1))
    inverter = GradientInverter(Cliff(), bounds=None, init="mean").fit(X)

    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = inverter.invert(np.array([[5.0]]))

    assert np.all(np.isfinite(result.X))
    assert result.X[0, 0] < 1.0


def test_torch_module_used_as_is_with_y():
    X = np.random.default_rng(0).uniform(-1, 1, size=(20, 3))
    module = Cubic()

    inverter = GradientInverter(module).fit(X, X + X**3)

    assert inverter.estimator_ is module


def test_tree_model_rejected():
    from sklearn.tree import DecisionTreeRegressor

    X, Y = _linear_data(50, 3, 1)
    with pytest.raises(ValueError, match="DecisionTreeRegressor"):
        GradientInverter(DecisionTreeRegressor()).fit(X, Y.ravel())


def test_verbose_shows_progress(wave, capsys):
    model, X = wave
    GradientInverter(model, verbose=1).fit(X).invert(np.array([0.3]))
    assert "batch 1/1" in capsys.readouterr().err


def test_pinned_coordinates_reported_active():
    X = np.random.default_rng(0).uniform(-2, 2, size=(100, 2))
    inverter = GradientInverter(Cubic(), bounds=(-1.0, 0.5), init="mean").fit(X)

    with pytest.warns(ConvergenceWarning, match="raise n_restarts"):
        result = inverter.invert(np.array([[5.0, -5.0]]))

    assert result.active_bounds.tolist() == [[1, -1]]
    assert_allclose(result.X, [[0.5, -1.0]], atol=1e-6)


def test_grid_search_with_torch_module():
    from sklearn.model_selection import GridSearchCV

    X = np.random.default_rng(0).uniform(-1, 1, size=(60, 3))
    search = GridSearchCV(
        GradientInverter(Cubic(), max_iter=50), {"alpha": [0.0, 1.0]}, cv=3
    )

    search.fit(X, X + X**3)

    assert search.best_params_["alpha"] == 0.0


def test_fit_inside_inference_mode_then_invert(wave):
    model, X = wave
    with torch.inference_mode():
        inverter = GradientInverter(model).fit(X)
        predicted = inverter.transform(X[:2])

    result = inverter.invert(predicted.ravel())

    assert result.converged.all()


def test_frozen_torch_module_accepted():
    from sklearn.frozen import FrozenEstimator

    X = np.random.default_rng(0).uniform(-1, 1, size=(30, 2))
    inverter = GradientInverter(FrozenEstimator(Cubic())).fit(X, X + X**3)

    result = inverter.invert(np.array([[0.5, -0.5]]))

    assert_allclose(result.X + result.X**3, [[0.5, -0.5]], atol=1e-3)


def test_float32_output_stays_in_bounds():
    X = np.random.default_rng(0).uniform(-2, 2, size=(100, 2))
    lower, upper = np.array([-0.3, -0.7]), np.array([0.1, 0.3])
    inverter = GradientInverter(Cubic(), bounds=(lower, upper)).fit(X)
    targets = np.array([[5.0, -5.0], [-5.0, 5.0]], dtype=np.float32)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X_hat = inverter.inverse_transform(targets)

    assert X_hat.dtype == np.float32
    assert np.all(X_hat >= lower)
    assert np.all(X_hat <= upper)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_device_raises(wave):
    model, X = wave
    with pytest.raises(ValueError, match="sees no CUDA device"):
        GradientInverter(model, device="cuda").fit(X)


def test_unknown_device_raises(wave):
    model, X = wave
    with pytest.raises(ValueError, match="device='tpu' is not a torch device"):
        GradientInverter(model, device="tpu").fit(X)
