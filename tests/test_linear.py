"""LinearInverter against closed forms, brute force and other solvers."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import Lasso, LinearRegression, Ridge

from skinvert import LinearInverter


def _linear_data(n_samples, n_features, n_outputs, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * rng.uniform(0.5, 20, n_features)
    X += rng.uniform(-50, 50, n_features)
    W = rng.normal(size=(n_features, n_outputs))
    Y = X @ W + rng.normal(size=n_outputs)
    Y += noise * rng.normal(size=Y.shape)
    return X, Y


def _standardized_map(inverter):
    """Return ``M = A L`` and ``c = A mu + b`` from the fitted attributes."""
    L = np.linalg.cholesky(inverter.prior_covariance_)
    M = inverter.coef_ @ L
    c = inverter.coef_ @ inverter.prior_mean_ + inverter.intercept_
    return M, c, L


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_injective_map_recovers_inputs(dtype):
    X, Y = _linear_data(60, 3, 5)
    X, Y = X.astype(dtype), Y.astype(dtype)
    inverter = LinearInverter(LinearRegression()).fit(X, Y)

    X_hat = inverter.inverse_transform(Y)

    assert X_hat.dtype == dtype
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    expected = np.linalg.lstsq(
        inverter.coef_, (Y - inverter.intercept_).T.astype(np.float64), rcond=None
    )[0].T
    assert_allclose(X_hat, expected, rtol=rtol, atol=rtol * 50)
    assert_allclose(X_hat, X, rtol=rtol, atol=rtol * 50)


def test_underdetermined_map_gives_min_norm_from_mean():
    X, Y = _linear_data(80, 6, 2)
    inverter = LinearInverter(LinearRegression()).fit(X, Y)
    targets = Y[:7] + 3.0

    X_hat = inverter.inverse_transform(targets)

    # Minimum-norm least squares in standardized units, centred on the mean.
    scale = X.std(axis=0)
    M = inverter.coef_ * scale
    R = targets - (inverter.coef_ @ X.mean(axis=0) + inverter.intercept_)
    Z = np.linalg.lstsq(M, R.T, rcond=None)[0].T
    assert_allclose(X_hat, X.mean(axis=0) + Z * scale, rtol=1e-9)
    assert_allclose(inverter.transform(X_hat), targets, rtol=1e-9)


@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_tikhonov_matches_augmented_lstsq(alpha):
    X, Y = _linear_data(80, 4, 3, noise=0.5)
    inverter = LinearInverter(Ridge(), alpha=alpha).fit(X, Y)
    targets = Y[:5]

    X_hat = inverter.inverse_transform(targets)

    scale = X.std(axis=0)
    M = inverter.coef_ * scale
    R = targets - (inverter.coef_ @ X.mean(axis=0) + inverter.intercept_)
    system = np.vstack([M, np.sqrt(alpha) * np.eye(4)])
    rhs = np.vstack([R.T, np.zeros((4, R.shape[0]))])
    Z = np.linalg.lstsq(system, rhs, rcond=None)[0].T
    assert_allclose(X_hat, X.mean(axis=0) + Z * scale, rtol=1e-9)


def test_full_prior_gives_gaussian_posterior():
    X, Y = _linear_data(200, 4, 2, noise=1.0, seed=3)
    X[:, 1] = 0.8 * X[:, 0] + 0.3 * X[:, 1]
    noise_variance = 2.0
    inverter = LinearInverter(Ridge(), alpha=noise_variance, prior="full")
    inverter.fit(X, Y)
    targets = Y[:6]

    result = inverter.invert(targets)

    # Conjugate Gaussian update with prior N(mu, Sigma), noise N(0, s2 I).
    A, b = inverter.coef_, inverter.intercept_
    Sigma = inverter.prior_covariance_
    mu = X.mean(axis=0)
    gain = Sigma @ A.T @ np.linalg.inv(A @ Sigma @ A.T + noise_variance * np.eye(2))
    posterior_mean = mu + (targets - A @ mu - b) @ gain.T
    posterior_cov = Sigma - gain @ A @ Sigma
    assert_allclose(result.X, posterior_mean, rtol=1e-8)
    assert_allclose(result.X_std[0], np.sqrt(np.diag(posterior_cov)), rtol=1e-7)
    assert_allclose(Sigma, np.cov(X.T, bias=True), rtol=1e-4, atol=1e-6)


def test_diag_prior_answer_ignores_feature_units():
    X, Y = _linear_data(80, 4, 2, noise=0.3)
    units = np.array([1.0, 1000.0, 0.001, 7.0])
    first = LinearInverter(LinearRegression(), alpha=3.0).fit(X, Y)
    second = LinearInverter(LinearRegression(), alpha=3.0).fit(X * units, Y)

    X_first = first.inverse_transform(Y[:5])
    X_second = second.inverse_transform(Y[:5])

    assert_allclose(X_second / units, X_first, rtol=1e-5)


def test_duplicate_features_split_evenly():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(100, 2))
    X = np.column_stack([base[:, 0], base[:, 0], base[:, 1]])
    Y = X @ [[1.0], [1.0], [2.0]]
    inverter = LinearInverter(Ridge(alpha=1e-3)).fit(X, Y)

    X_hat = inverter.inverse_transform(np.array([[4.0], [-4.0]]))

    assert np.all(np.isfinite(X_hat))
    assert_allclose(X_hat[:, 0], X_hat[:, 1], rtol=1e-6)
    assert_allclose(inverter.transform(X_hat).ravel(), [4.0, -4.0], rtol=1e-6)


def test_zero_coefficients_never_raise():
    X, _ = _linear_data(80, 5, 1)
    y = X[:, 0] * 2.0 + 1.0
    model = Lasso(alpha=0.5).fit(X, y)
    unused = model.coef_ == 0
    inverter = LinearInverter(model).fit(X)

    X_hat = inverter.inverse_transform(y[:10])

    assert unused.sum() >= 3
    assert np.all(np.isfinite(X_hat))
    assert_allclose(
        X_hat[:, unused], np.broadcast_to(X.mean(axis=0)[unused], (10, unused.sum()))
    )
    assert_allclose(model.predict(X_hat), y[:10], rtol=1e-9)


def test_near_collinear_map_stays_bounded():
    rng = np.random.default_rng(2)
    x1 = rng.normal(size=200)
    X = np.column_stack([x1, x1 + 1e-10 * rng.normal(size=200), rng.normal(size=200)])
    Y = np.column_stack([X[:, 0] + X[:, 2], X[:, 0] - X[:, 2], 2 * X[:, 1]])
    Y += 1e-3 * rng.normal(size=Y.shape)
    inverter = LinearInverter(LinearRegression()).fit(X, Y)

    # The third output is nearly a copy of the first two directions, so the
    # shifted targets leave the range of the rank-2 map.
    with pytest.warns(ConvergenceWarning, match="cannot be reached"):
        X_hat = inverter.inverse_transform(Y[:20] + 0.01)

    assert inverter.rank_ == 2
    assert np.all(np.isfinite(X_hat))
    assert np.max(np.abs(X_hat)) < 100 * np.max(np.abs(X))


def test_truncated_svd_keeps_leading_directions():
    X, Y = _linear_data(80, 5, 5, noise=0.1)
    inverter = LinearInverter(LinearRegression(), n_components=2).fit(X, Y)
    targets = Y[:4]

    X_hat = inverter.inverse_transform(targets)

    M, c, L = _standardized_map(inverter)
    U, s, Vt = np.linalg.svd(inverter.coef_ * X.std(axis=0))
    Z = (targets - c) @ U[:, :2] / s[:2] @ Vt[:2]
    assert inverter.rank_ == 2
    assert_allclose(X_hat, X.mean(axis=0) + Z * X.std(axis=0), rtol=1e-8)


def _gcv_brute_force(M, R, alphas):
    m, n = M.shape
    scores = []
    for alpha in alphas:
        hat = M @ np.linalg.solve(M.T @ M + alpha * np.eye(n), M.T)
        misfit = np.mean(np.sum(((np.eye(m) - hat) @ R.T) ** 2, axis=0))
        scores.append(misfit / (m - np.trace(hat)) ** 2)
    return np.array(scores)


def _norms_brute_force(M, R, alphas):
    n = M.shape[1]
    rho, eta = [], []
    for alpha in alphas:
        Z = np.linalg.solve(M.T @ M + alpha * np.eye(n), M.T @ R.T)
        rho.append(np.sum((M @ Z - R.T) ** 2))
        eta.append(np.sum(Z**2))
    return np.array(rho), np.array(eta)


def test_gcv_alpha_matches_brute_force():
    X, Y = _linear_data(150, 4, 30, noise=3.0, seed=4)
    inverter = LinearInverter(Ridge(), alpha="gcv").fit(X, Y)

    M = inverter.coef_ * X.std(axis=0)
    R = Y - (inverter.coef_ @ X.mean(axis=0) + inverter.intercept_)
    s_max = np.linalg.norm(M, 2)
    alphas = s_max**2 * np.logspace(-8, 1, 361)
    best = alphas[np.argmin(_gcv_brute_force(M, R, alphas))]
    assert abs(np.log10(inverter.alpha_) - np.log10(best)) <= 0.06


def _ill_posed_model(n_features, noise, seed):
    """Return ``X``, noisy ``Y`` and a frozen model with decaying singular values."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(n_features, n_features)))[0]
    A = U * np.logspace(0, -5, n_features)
    model = LinearRegression()
    model.coef_, model.intercept_ = A, np.zeros(n_features)
    model.n_features_in_ = n_features
    X = rng.normal(size=(300, n_features))
    Y = X @ A.T + noise * rng.normal(size=(300, n_features))
    return X, Y, FrozenEstimator(model)


def test_lcurve_alpha_matches_brute_force():
    X, Y, model = _ill_posed_model(12, noise=1e-3, seed=5)
    inverter = LinearInverter(model, alpha="lcurve").fit(X, Y)

    M = inverter.coef_ * inverter.prior_scale_
    R = Y - (inverter.coef_ @ inverter.prior_mean_ + inverter.intercept_)
    s_max = np.linalg.norm(M, 2)
    log_alphas = np.linspace(np.log(s_max**2 * 1e-12), np.log(s_max**2 * 1e2), 1401)
    rho, eta = _norms_brute_force(M, R, np.exp(log_alphas))
    # Curvature of (log ||residual||, log ||z||) by finite differences.
    u, v = 0.5 * np.log(rho), 0.5 * np.log(eta)
    du, dv = np.gradient(u, log_alphas), np.gradient(v, log_alphas)
    ddu, ddv = np.gradient(du, log_alphas), np.gradient(dv, log_alphas)
    curvature = (du * ddv - dv * ddu) / (du**2 + dv**2) ** 1.5
    best = np.exp(log_alphas[np.argmax(curvature[5:-5]) + 5])
    assert abs(np.log10(inverter.alpha_) - np.log10(best)) <= 0.1


def test_lcurve_beats_no_regularization_on_ill_posed_map():
    X, Y, model = _ill_posed_model(12, noise=1e-3, seed=6)
    tuned = LinearInverter(model, alpha="lcurve").fit(X, Y)
    plain = LinearInverter(model, alpha=0.0).fit(X, Y)

    error_tuned = np.mean((tuned.inverse_transform(Y) - X) ** 2)
    error_plain = np.mean((plain.inverse_transform(Y) - X) ** 2)

    assert error_tuned < 0.1 * error_plain


def test_discrepancy_alpha_matches_noise():
    X, Y = _linear_data(150, 5, 3, noise=2.0, seed=6)
    inverter = LinearInverter(Ridge(), alpha="discrepancy").fit(X, Y)

    fitted = Ridge().fit(X, Y).predict(X)
    noise = np.sqrt(np.mean((Y - fitted) ** 2))
    assert_allclose(inverter.noise_level_, noise, rtol=1e-10)
    M = inverter.coef_ * X.std(axis=0)
    R = Y - (inverter.coef_ @ X.mean(axis=0) + inverter.intercept_)
    rho, _ = _norms_brute_force(M, R, np.array([inverter.alpha_]))
    assert_allclose(rho[0] / len(Y), 3 * noise**2, rtol=1e-6)


def test_discrepancy_without_noise_level_raises():
    X, Y = _linear_data(50, 3, 2)
    model = Ridge().fit(X, Y)
    with pytest.raises(ValueError, match="noise_level"):
        LinearInverter(model, alpha="discrepancy").fit(X)


def test_noise_free_gcv_warns_at_range_edge():
    X, Y = _linear_data(50, 3, 8)
    with pytest.warns(UserWarning, match="end of the searched range"):
        LinearInverter(LinearRegression(), alpha="gcv").fit(X, Y)


def _bounded_reference(inverter, target, lower, upper, alpha):
    """Minimize the Tikhonov objective with L-BFGS-B, an independent solver."""
    A, b = inverter.coef_, inverter.intercept_
    mu, scale = inverter.prior_mean_, inverter.prior_scale_

    def objective(x):
        misfit = A @ x + b - target
        z = (x - mu) / scale
        value = misfit @ misfit + alpha * z @ z
        gradient = 2 * A.T @ misfit + 2 * alpha * z / scale
        return value, gradient

    start = np.clip(mu, lower, upper)
    solution = minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(lower, upper, strict=False)),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000},
    )
    return solution.x


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_bounded_solution_matches_lbfgsb(alpha):
    X, Y = _linear_data(80, 3, 4, seed=7)
    lower = X.mean(axis=0) - 0.5 * X.std(axis=0)
    upper = X.mean(axis=0) + 0.5 * X.std(axis=0)
    inverter = LinearInverter(LinearRegression(), alpha=alpha, bounds=(lower, upper))
    inverter.fit(X, Y)
    targets = Y[:6]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = inverter.invert(targets)

    for i, target in enumerate(targets):
        reference = _bounded_reference(inverter, target, lower, upper, alpha)
        assert_allclose(result.X[i], reference, rtol=1e-6, atol=1e-6 * X.std())
    assert np.all(result.X >= lower)
    assert np.all(result.X <= upper)
    assert np.any(result.active_bounds != 0)
    assert_allclose(
        result.X[result.active_bounds == -1],
        np.broadcast_to(lower, result.X.shape)[result.active_bounds == -1],
    )


def test_data_bounds_hold_in_float32():
    X, Y = _linear_data(60, 3, 3, seed=8)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    inverter = LinearInverter(LinearRegression(), bounds="data").fit(X, Y)
    targets = Y[:10] * 3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X_hat = inverter.inverse_transform(targets)

    assert X_hat.dtype == np.float32
    assert np.all(X_hat >= X.min(axis=0))
    assert np.all(X_hat <= X.max(axis=0))


def test_equal_bounds_fix_features():
    X, Y = _linear_data(60, 3, 3, seed=9)
    lower = np.array([-np.inf, 2.0, -np.inf])
    upper = np.array([np.inf, 2.0, np.inf])
    inverter = LinearInverter(LinearRegression(), bounds=(lower, upper)).fit(X, Y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = inverter.invert(Y[:4])

    assert_allclose(result.X[:, 1], 2.0)
    reference = [
        _bounded_reference(inverter, target, lower, upper, 0.0) for target in Y[:4]
    ]
    assert_allclose(result.X, reference, rtol=1e-6)


def test_target_out_of_bounds_reported_unreachable():
    X, Y = _linear_data(60, 2, 2, seed=10)
    inverter = LinearInverter(LinearRegression(), bounds="data").fit(X, Y)
    far = Y[:1] + 100 * Y.std(axis=0)
    targets = np.vstack([Y[:3], far])

    with pytest.warns(ConvergenceWarning, match="1 of 4 targets"):
        result = inverter.invert(targets)

    assert result.converged.tolist() == [True, True, True, False]
    assert result.residual[3] > 1.0
    assert np.all(result.residual[:3] < 1e-6 * np.abs(Y).max())


def test_target_outside_range_of_map_reported():
    X, Y = _linear_data(60, 2, 4, seed=11)
    inverter = LinearInverter(LinearRegression()).fit(X, Y)
    rng = np.random.default_rng(0)
    targets = Y[:5] + rng.normal(size=(5, 4)) * Y.std(axis=0)

    with pytest.warns(ConvergenceWarning, match="5 of 5 targets"):
        result = inverter.invert(targets)

    A, b = inverter.coef_, inverter.intercept_
    best = np.linalg.lstsq(A, (targets - b).T, rcond=None)[0].T
    expected = np.sqrt(np.mean((best @ A.T + b - targets) ** 2, axis=1))
    assert_allclose(result.residual, expected, rtol=1e-8)
    assert not result.converged.any()


def test_rows_solved_independently():
    X, Y = _linear_data(60, 3, 2, seed=12)
    lower, upper = X.min(axis=0), X.max(axis=0)
    inverter = LinearInverter(Ridge(), alpha=0.1, bounds=(lower, upper)).fit(X, Y)
    targets = np.vstack([Y[:5], Y[:3] * 5])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        together = inverter.inverse_transform(targets)
        alone = np.vstack([inverter.inverse_transform(row[None]) for row in targets])

    assert_allclose(together, alone, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1e4])
def test_unreachable_flagged_for_any_alpha(alpha):
    X, Y = _linear_data(80, 3, 1, seed=13)
    inverter = LinearInverter(LinearRegression(), alpha=alpha, bounds="data")
    inverter.fit(X, Y)
    far = Y.max() + 50 * Y.std()
    targets = np.array([[Y.mean()], [far]])

    with pytest.warns(ConvergenceWarning, match="1 of 2 targets"):
        result = inverter.invert(targets)

    assert result.converged.tolist() == [True, False]


def test_gcv_on_single_output_warns_flat():
    X, Y = _linear_data(80, 4, 1, noise=0.5, seed=14)
    with pytest.warns(UserWarning, match="alpha='gcv' cannot choose"):
        inverter = LinearInverter(Ridge(), alpha="gcv").fit(X, Y)
    assert inverter.alpha_ == 0.0
