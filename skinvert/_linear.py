"""Closed-form inversion of models whose predict is affine in X."""

from numbers import Integral, Real

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.utils._param_validation import Interval, StrOptions

from ._affine import extract_affine_map
from ._alpha_selection import select_alpha
from ._base import BaseInverter
from ._bounded import solve_bounded
from ._logging import ProgressLogger, logger
from ._result import InversionResult
from ._validation import float32_inside

# Rows of Y processed per matrix product; keeps temporaries in cache.
_CHUNK_ROWS = 4096

_EPS = np.finfo(np.float64).eps


class LinearInverter(BaseInverter):
    r"""Invert a model whose predictions are affine in its inputs, in closed form.

    The fitted model's map ``f(x) = A x + b`` is read off its ``predict``
    and checked against it, so any affine regressor works: linear models
    with any ``coef_`` layout, PLSRegression, and Pipelines of affine steps
    (scalers, PCA) ending in one. For each target ``y`` the inverter returns

    .. math::

        \hat x = \arg\min_x \|A x + b - y\|^2 + \alpha \|L^{-1}(x - \mu)\|^2

    where ``mu`` is the training mean and ``L`` the square root of the prior
    covariance: ``diag(std)`` for ``prior="diag"`` (Tikhonov regularization
    in standardized units), the training covariance for ``prior="full"``.
    With ``alpha=0`` the solution is the least-squares solution nearest the
    training mean in those units: exact when the map is injective.

    Parameters
    ----------
    estimator : regressor or None, default=None
        Model to invert. Fitted and used as it is when ``fit`` gets no ``y``;
        cloned and fitted otherwise. None means ``LinearRegression()``.
    alpha : float or {"gcv", "lcurve", "discrepancy"}, default=0.0
        Regularization strength, or the rule that chooses it from the
        training targets in ``fit``: generalized cross-validation, the
        corner of the L-curve, or the discrepancy principle (the residual
        matches ``noise_level``). The value used is ``alpha_``. With a
        Gaussian prior and output noise of variance ``alpha`` the solution is
        the posterior mean.
    prior : {"diag", "full"}, default="diag"
        Prior covariance: per-feature variances, or the full training
        covariance (the penalty is then the Mahalanobis distance). The full
        covariance is shrunk toward its diagonal by a share of 1e-6 so that
        it stays invertible with collinear features.
    bounds : None, "data" or (lower, upper), default=None
        Box constraints on the inputs, in the units of X: "data" uses the
        training minimum and maximum; ``lower`` and ``upper`` are scalars or
        arrays of shape (n_features,), with infinities for open sides.
        Targets whose unconstrained solution breaks a bound are solved again
        exactly as bounded least-squares problems.
    n_components : int or None, default=None
        Keep only this many singular values of the standardized map
        (truncated SVD), in addition to ``alpha``.
    rcond : float or None, default=None
        Singular values below ``rcond`` times the largest are treated as
        zero, so near-collinear maps do not amplify noise without limit.
        None means the square root of the float64 machine epsilon (1.5e-8).
    noise_level : float or None, default=None
        Standard deviation of the noise in each output, used by
        ``alpha="discrepancy"``. None estimates it from the training
        residuals, which needs ``y`` in ``fit``.
    tol : float, default=1e-5
        A target counts as unreachable, and not converged, when its smallest
        possible misfit within the bounds exceeds ``tol``. The misfit is the
        root-mean-square over outputs of the error divided by
        ``output_scale_``.
    verbose : int, default=0
        0 is silent; 1 logs the fitted map and the chosen alpha, and the
        progress of bounded solves, through the ``skinvert`` logger.

    Attributes
    ----------
    estimator_ : estimator
        The fitted forward model.
    coef_ : ndarray of shape (n_outputs, n_features)
        Matrix ``A`` of the extracted affine map.
    intercept_ : ndarray of shape (n_outputs,)
        Offset ``b`` of the extracted affine map.
    alpha_ : float
        Regularization strength used.
    alphas_ : ndarray or None
        Alphas searched by an automatic rule; None for a fixed alpha.
    criterion_ : ndarray or None
        The rule's value at each of ``alphas_``: GCV score, L-curve
        curvature, or mean squared residual per target.
    rank_ : int
        Number of singular values kept.
    singular_values_ : ndarray of shape (min(n_outputs, n_features),)
        Singular values of the standardized map ``A @ L``.
    noise_level_ : float or None
        Noise level used by the discrepancy rule.
    prior_mean_, prior_scale_ : ndarray of shape (n_features,)
        Training mean and standard deviation (1 for constant features).
    prior_covariance_ : ndarray of shape (n_features, n_features)
        Prior covariance ``L @ L.T``.
    data_min_, data_max_ : ndarray of shape (n_features,)
        Training range per feature.
    bounds_ : tuple of ndarray or None
        Bounds used, as ``(lower, upper)``.
    output_scale_ : ndarray of shape (n_outputs,)
        Standard deviation of each training output, the unit of ``tol``: of
        y when ``fit`` gets it, else of the model's predictions for X.
    n_outputs_ : int
        Number of model outputs.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the input features, when X had string column names.

    See Also
    --------
    sklearn.linear_model.Ridge : The forward analogue of this Tikhonov problem.

    Notes
    -----
    ``fit`` computes one singular value decomposition of the standardized
    map and stores the regularized pseudo-inverse, so ``inverse_transform``
    is one matrix product per 4,096 targets. Only targets that break a
    bound go through the slower per-target bounded solver.

    With ``alpha=0`` and bounds on a map that is not injective, the bounded
    solver uses an alpha of ``1e-16`` times the largest squared singular
    value to pick, among the best-fitting inputs, one close to the mean.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from skinvert import LinearInverter
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 2))
    >>> y = X @ np.array([[1.0, 2.0], [3.0, -1.0]]) + 0.5
    >>> inverter = LinearInverter(LinearRegression()).fit(X, y)
    >>> X_hat = inverter.inverse_transform(y[:3])
    >>> bool(np.allclose(X_hat, X[:3]))
    True
    """

    _parameter_constraints: dict = {
        **BaseInverter._parameter_constraints,
        "alpha": [
            Interval(Real, 0, None, closed="left"),
            StrOptions({"gcv", "lcurve", "discrepancy"}),
        ],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "rcond": [Interval(Real, 0, 1, closed="left"), None],
        "noise_level": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        alpha=0.0,
        prior="diag",
        bounds=None,
        n_components=None,
        rcond=None,
        noise_level=None,
        tol=1e-5,
        verbose=0,
    ):
        self.estimator = estimator
        self.alpha = alpha
        self.prior = prior
        self.bounds = bounds
        self.n_components = n_components
        self.rcond = rcond
        self.noise_level = noise_level
        self.tol = tol
        self.verbose = verbose

    def _make_default_estimator(self):
        return LinearRegression()

    def _fit_inverse(self, X, Y_fitted, y):
        name = type(self).__name__
        A, b = extract_affine_map(self.estimator_, X, owner=name)
        self.coef_ = A
        self.intercept_ = b

        # Standardized problem: x = mu + L z, so A x + b - y = M z - (y - c).
        M = A @ self._prior_sqrt
        self._center = A @ self.prior_mean_ + b
        U, s, Vt = np.linalg.svd(M, full_matrices=False)
        rcond = np.sqrt(_EPS) if self.rcond is None else self.rcond
        s_max = s[0] if s.size else 0.0
        full_rank = int(np.count_nonzero(s > rcond * s_max)) if s_max > 0 else 0
        rank = full_rank
        if self.n_components is not None:
            rank = min(rank, self.n_components)
        self.singular_values_ = s
        self.rank_ = rank
        self._full_rank = full_rank
        self._range_basis = U[:, :full_rank]

        Y_train = Y_fitted if y is None else y
        self.noise_level_ = self.noise_level
        if self.noise_level_ is None and y is not None:
            self.noise_level_ = float(np.sqrt(np.mean((y - Y_fitted) ** 2)))

        self.alphas_ = None
        self.criterion_ = None
        if isinstance(self.alpha, str):
            self.alpha_ = self._select_alpha(Y_train, U[:, :rank], s[:rank], name)
        else:
            self.alpha_ = float(self.alpha)

        U_k, s_k, V_k = U[:, :rank], s[:rank], Vt[:rank].T
        if self.alpha_ > 0:
            gain = s_k / (s_k**2 + self.alpha_)
            shrink = s_k**2 / (s_k**2 + self.alpha_)
        else:
            gain = 1.0 / s_k
            shrink = np.ones_like(s_k)

        # x = G y + h, with G = L V diag(gain) U^T and h = mu - G c.
        self._solve_matrix = (self._prior_sqrt @ (V_k * gain)) @ U_k.T
        self._solve_offset = self.prior_mean_ - self._solve_matrix @ self._center
        self._solve_cache = {}

        # The unregularized, untruncated solution. It decides whether a target
        # can be reached within the bounds, whatever alpha is.
        U_r, s_r, V_r = U[:, :full_rank], s[:full_rank], Vt[:full_rank].T
        self._reach_matrix = (self._prior_sqrt @ (V_r / s_r)) @ U_r.T
        self._reach_offset = self.prior_mean_ - self._reach_matrix @ self._center

        # Posterior variance of x: diag(L L^T) - sum over kept directions of
        # (L v_i)^2 s_i^2 / (s_i^2 + alpha).
        LV = self._prior_sqrt @ V_k
        variance = np.diag(self.prior_covariance_) - (LV**2) @ shrink
        self._posterior_std = np.sqrt(np.clip(variance, 0, None))

        # Map used by the bounded solver, in x - mu coordinates; truncated
        # like the closed form.
        self._bounded_map = (U_k * s_k) @ V_k.T @ self._prior_inverse_sqrt
        self._reach_map = (
            (U[:, :full_rank] * s[:full_rank])
            @ Vt[:full_rank]
            @ self._prior_inverse_sqrt
        )
        self._tie_break_alpha = (np.sqrt(_EPS) * s_max) ** 2

        if self.verbose:
            logger.info(
                "%s: affine map with %d outputs and %d features, rank %d, alpha_=%.3g",
                name,
                A.shape[0],
                A.shape[1],
                rank,
                self.alpha_,
            )

    def _select_alpha(self, Y_train, U_k, s_k, name):
        if s_k.size == 0:
            return 0.0
        R = (Y_train - self._center).T
        beta = U_k.T @ R
        outside = max(float(np.sum(R**2) - np.sum(beta**2)), 0.0)
        if self.alpha == "discrepancy" and self.noise_level_ is None:
            raise ValueError(
                f"{name}: alpha='discrepancy' needs the noise level of the "
                "outputs. Pass y to fit so it can be estimated from the "
                "training residuals, or set noise_level."
            )
        alpha, self.alphas_, self.criterion_ = select_alpha(
            self.alpha,
            s_k,
            beta,
            outside,
            Y_train.shape[1],
            noise_level=self.noise_level_,
            owner=name,
        )
        return alpha

    def _solve_matrices(self, dtype):
        # The cache is rebuilt after unpickling, see __getstate__.
        cache = self.__dict__.setdefault("_solve_cache", {})
        key = np.dtype(dtype).str
        if key not in cache:
            cache[key] = (
                np.ascontiguousarray(self._solve_matrix.T, dtype=dtype),
                self._solve_offset.astype(dtype),
            )
        return cache[key]

    def __getstate__(self):
        # Casts of the solve matrix are derived data: keep them out of saved
        # files, which also keeps them loadable by skops.
        state = super().__getstate__()
        state.pop("_solve_cache", None)
        return state

    def _relative_misfit(self, X, Y, A):
        """Root-mean-square of ``(A (x - mu) + c - y) / output_scale`` per row."""
        gap = (np.asarray(X, dtype=np.float64) - self.prior_mean_) @ A.T
        gap += self._center - Y
        return np.sqrt(np.mean((gap / self.output_scale_) ** 2, axis=1))

    def _invert(self, Y, diagnostics):
        dtype = Y.dtype
        n_targets = Y.shape[0]
        GT, h = self._solve_matrices(dtype)
        X = np.empty((n_targets, self.n_features_in_), dtype=dtype)
        for start in range(0, n_targets, _CHUNK_ROWS):
            rows = slice(start, start + _CHUNK_ROWS)
            np.matmul(Y[rows], GT, out=X[rows])
            X[rows] += h

        # Smallest possible misfit without bounds: the part of y - c outside
        # the range of the map. Zero when the map reaches every output.
        min_misfit = np.zeros(n_targets)
        if self._full_rank < self.n_outputs_:
            basis = self._range_basis
            for start in range(0, n_targets, _CHUNK_ROWS):
                rows = slice(start, start + _CHUNK_ROWS)
                D = np.asarray(Y[rows], dtype=np.float64) - self._center
                D -= (D @ basis) @ basis.T
                min_misfit[rows] = np.sqrt(np.mean((D / self.output_scale_) ** 2, 1))

        success = np.ones(n_targets, dtype=bool)
        active = None
        if self.bounds_ is not None:
            X, active, success, min_misfit = self._apply_bounds(X, Y, min_misfit)

        result = InversionResult(
            X=X,
            residual=np.empty(0),
            converged=success & (min_misfit <= self.tol),
            active_bounds=active,
            alpha=self.alpha_,
        )
        if diagnostics:
            result.residual = self._residual(X, Y)
            result.X_std = np.broadcast_to(self._posterior_std.astype(dtype), X.shape)
        return result

    def _residual(self, X, Y):
        residual = np.empty(X.shape[0])
        for start in range(0, X.shape[0], _CHUNK_ROWS):
            rows = slice(start, start + _CHUNK_ROWS)
            gap = np.asarray(X[rows], dtype=np.float64) @ self.coef_.T
            gap += self.intercept_ - Y[rows]
            residual[rows] = np.sqrt(np.mean(gap**2, axis=1))
        return residual

    def _apply_bounds(self, X, Y, min_misfit):
        lower, upper = self.bounds_
        dtype = X.dtype
        if dtype == np.float32:
            lower_cast = float32_inside(lower, +1)
            upper_cast = float32_inside(upper, -1)
        else:
            lower_cast, upper_cast = lower, upper

        outside = np.flatnonzero(np.any((X < lower_cast) | (X > upper_cast), axis=1))
        success = np.ones(X.shape[0], dtype=bool)
        if outside.size and self.verbose:
            logger.info(
                "%s: %d of %d targets break a bound; solving them with BVLS",
                type(self).__name__,
                outside.size,
                X.shape[0],
            )
        if outside.size:
            mu = self.prior_mean_
            targets = np.asarray(Y[outside], dtype=np.float64) - self._center
            alpha = self.alpha_
            if alpha == 0 and self.rank_ < self.n_features_in_:
                alpha = self._tie_break_alpha
            penalty = None
            if alpha > 0:
                penalty = np.sqrt(alpha) * self._prior_inverse_sqrt
            progress = ProgressLogger("bounded solves", self.verbose)
            W, _, solved = solve_bounded(
                self._bounded_map, penalty, targets, lower - mu, upper - mu, progress
            )
            X[outside] = (W + mu).astype(dtype)
            success[outside] = solved

            if self.alpha_ == 0 and self.rank_ == self._full_rank:
                min_misfit[outside] = self._relative_misfit(
                    W + mu, np.asarray(Y[outside], dtype=np.float64), self._reach_map
                )

        if self.alpha_ > 0 or self.rank_ < self._full_rank:
            min_misfit = self._reachable_misfit(Y, min_misfit)

        np.clip(X, lower_cast, upper_cast, out=X)
        active = np.zeros(X.shape, dtype=np.int8)
        active[X == upper_cast] = 1
        active[X == lower_cast] = -1
        return X, active, success, min_misfit

    def _reachable_misfit(self, Y, min_misfit):
        """Return the smallest misfit per target within the bounds.

        Reachability is a property of the model and the bounds, not of alpha
        or truncation, so it is measured with the best-fitting input: the
        unregularized solution, or its bounded version where that breaks a
        bound.
        """
        lower, upper = self.bounds_
        mu = self.prior_mean_
        Y64 = np.asarray(Y, dtype=np.float64)
        X_best = Y64 @ self._reach_matrix.T + self._reach_offset
        outside = np.flatnonzero(np.any((X_best < lower) | (X_best > upper), axis=1))
        if outside.size == 0:
            return min_misfit

        tie_break = None
        if self._full_rank < self.n_features_in_:
            tie_break = np.sqrt(self._tie_break_alpha) * self._prior_inverse_sqrt
        targets = Y64[outside] - self._center
        best, _, _ = solve_bounded(
            self._reach_map, tie_break, targets, lower - mu, upper - mu
        )
        min_misfit = min_misfit.copy()
        min_misfit[outside] = self._relative_misfit(
            best + mu, Y64[outside], self._reach_map
        )
        return min_misfit
