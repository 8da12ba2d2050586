"""Batched gradient inversion of differentiable models."""

import sys
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.neural_network import MLPRegressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._base import BaseInverter, is_torch_module
from ._optim import minimize_rows
from ._result import InversionResult
from ._targets import (
    class_targets,
    confirm_unreachable,
    is_label_row,
    loss_scale,
    misfit,
    rank_candidates,
    starting_points,
)
from ._torch_models import build_torch_forward
from ._validation import float32_inside


class GradientInverter(BaseInverter):
    r"""Invert a differentiable model by batched gradient descent on its inputs.

    The model is a fitted ``torch.nn.Module``, a skorch net, a scikit-learn
    ``MLPRegressor`` or ``MLPClassifier`` (rebuilt exactly as a torch graph),
    an affine regressor, or a Pipeline of affine steps (scalers, PCA) ending
    in one of these. For a regressor and target ``y`` the inverter solves

    .. math::

        \min_{l \le x \le u} \|f(x) - y\|^2 + \alpha \|L^{-1}(x - \mu)\|^2

    from one or more starting points, where ``mu`` is the training mean and
    ``L`` the square root of the prior covariance (``diag(std)`` for
    ``prior="diag"``, the training covariance for ``prior="full"``). This is
    the objective of :class:`LinearInverter`, so both agree on affine
    models. For a classifier and a class label ``c`` the misfit is the
    cross-entropy ``-log p_c(x)``, so the result is the input the model is
    most confident belongs to ``c``. For a target probability vector the
    misfit is the squared gap between ``predict_proba(x)`` and the vector.

    All targets and all starts are optimized together, ``batch_size`` rows
    at a time, but each row has its own line search or step size and its
    own stopping test, so one target does not steer another. Results can
    still differ in the last digits between batch sizes, because torch's
    kernels round differently for different batch shapes. On a float32 model
    with many exact solutions per target, such differences grew to 1e-5.
    The model's weights are frozen and it runs in evaluation mode during
    the optimization. Its training flags and ``requires_grad`` flags are
    restored afterwards, also when the call raises.

    Parameters
    ----------
    estimator : model or None, default=None
        Differentiable model, see above. None means a small
        ``MLPRegressor``. A torch module has no fit, so it is used as it is
        even when ``fit`` gets ``y``.
    alpha : float, default=0.0
        Weight of the prior term. For a regressor the misfit is in squared
        output units and the prior in squared standardized inputs, so the
        alpha that balances them grows with the variance of the outputs.
    prior : {"diag", "full"}, default="diag"
        Prior covariance: per-feature variances or the training covariance.
    bounds : None, "data" or (lower, upper), default="data"
        Box the inputs must stay in, in the units of X. The default keeps
        them in the training range, where the model was fitted. Enforced
        exactly by projection: a returned input is never outside it.
    init : {"mean", "random", "nearest"}, array-like or estimator, default="nearest"
        First start per target: the training mean, a draw from the prior,
        the training row whose prediction is nearest the target, an array of
        shape (n_targets, n_features) or (n_features,), or an estimator whose
        ``predict(Y)`` maps targets to inputs (an encoder or amortized
        inverse). With "nearest", every start is a near training row, the
        k-th nearest for the k-th start; otherwise extra starts are drawn
        from the prior.
    optimizer : {"lbfgs", "adam"}, default="lbfgs"
        Projected L-BFGS with an Armijo line search per target, or Adam with
        a step size per target that shrinks when its loss stalls.
    max_iter : int, default=200
        Iterations per start.
    tol : float, default=1e-4
        A target counts as reached when the root-mean-square over outputs of
        its error divided by ``output_scale_`` is at most ``tol``; a start
        stops early once it is ten times below. For classifiers, a label
        target is reached when the model predicts that class, and a
        probability target when the root-mean-square gap of the
        probabilities is at most ``tol``.
    learning_rate : float, default=0.05
        Adam's initial step, in standardized input units.
    n_restarts : int, default=0
        Extra starts per target. All are returned in ``invert(Y).candidates``.
    random_state : int, RandomState instance or None, default=None
        Seed of the prior draws (``init="random"`` and restarts). The torch
        global random state is never used.
    device : str, torch.device or None, default=None
        Where to compute. None means the device of a torch model, else cpu.
        A user's torch module is never moved; a different device raises.
    batch_size : int, default=1000
        Rows (targets times starts) optimized at once; bounds memory.
    verbose : int, default=0
        0 is silent; 1 shows a progress bar over the iterations of each batch
        with the mean loss of the running starts and how many have stopped.

    Attributes
    ----------
    estimator_ : model
        The fitted forward model.
    classes_ : ndarray
        Class labels, for classifiers.
    output_scale_ : ndarray of shape (n_outputs,)
        Standard deviation of each training output, the unit of ``tol``: of
        y when ``fit`` gets it, else of the model's predictions for X.
    prior_mean_, prior_scale_ : ndarray of shape (n_features,)
        Training mean and standard deviation (1 for constant features).
    prior_covariance_ : ndarray of shape (n_features, n_features)
        Prior covariance.
    data_min_, data_max_ : ndarray of shape (n_features,)
        Training range per feature.
    bounds_ : tuple of ndarray or None
        Bounds used, as ``(lower, upper)``.
    n_outputs_ : int
        Number of model outputs, or of classes for a classifier.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the input features, when X had string column names.

    See Also
    --------
    LinearInverter : Closed-form inversion of affine models.

    Notes
    -----
    The optimization runs in standardized coordinates ``(x - mu) / std``.
    With ``alpha=0`` and many exact solutions, the one returned is the
    solution the optimizer reaches from its start; for an affine model
    started at the mean that is the one nearest the mean in standardized
    units, as with :class:`LinearInverter` and ``prior="diag"``.

    With ``alpha > 0`` the misfit is part of the trade-off, so a target whose
    misfit exceeds ``tol`` is solved again without the prior (by L-BFGS,
    from the answer) to tell an unreachable target from a regularized one.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPRegressor
    >>> from skinvert import GradientInverter
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(200, 2))
    >>> y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    >>> model = MLPRegressor(
    ...     hidden_layer_sizes=(32,), solver="lbfgs", max_iter=2000, random_state=0
    ... )
    >>> inverter = GradientInverter(model).fit(X, y)
    >>> result = inverter.invert([0.5, 1.2])
    >>> bool(result.converged.all())
    True
    >>> predicted = inverter.transform(result.X).ravel()
    >>> bool(np.allclose(predicted, [0.5, 1.2], atol=1e-3))
    True
    """

    _supports_classifiers = True

    _parameter_constraints: dict = {
        **BaseInverter._parameter_constraints,
        "estimator": [HasMethods(["predict"]), HasMethods(["forward"]), None],
        "init": [
            StrOptions({"mean", "random", "nearest"}),
            "array-like",
            HasMethods(["predict"]),
        ],
        "optimizer": [StrOptions({"lbfgs", "adam"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_restarts": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "device": [None, str, torch.device],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        estimator=None,
        *,
        alpha=0.0,
        prior="diag",
        bounds="data",
        init="nearest",
        optimizer="lbfgs",
        max_iter=200,
        tol=1e-4,
        learning_rate=0.05,
        n_restarts=0,
        random_state=None,
        device=None,
        batch_size=1000,
        verbose=0,
    ):
        self.estimator = estimator
        self.alpha = alpha
        self.prior = prior
        self.bounds = bounds
        self.init = init
        self.optimizer = optimizer
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.n_restarts = n_restarts
        self.random_state = random_state
        self.device = device
        self.batch_size = batch_size
        self.verbose = verbose

    def _make_default_estimator(self):
        return MLPRegressor(
            hidden_layer_sizes=(16,), solver="lbfgs", max_iter=500, random_state=0
        )

    def _fit_clone(self, estimator, X, y):
        # A torch module has no fit: it is used as it is, like a
        # FrozenEstimator, and y only serves as training targets. That keeps
        # GridSearchCV, which always passes y, working.
        if is_torch_module(estimator):
            return estimator
        return super()._fit_clone(estimator, X, y)

    def _check_device(self):
        if self.device is None:
            return
        try:
            device = torch.device(self.device)
        except RuntimeError as exc:
            raise ValueError(
                f"{type(self).__name__}: device={self.device!r} is not a torch "
                f"device ({exc}). Use None, 'cpu', 'cuda' or 'cuda:N'."
            ) from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"{type(self).__name__}: device={self.device!r}, but this torch "
                f"build ({torch.__version__}) sees no CUDA device. Use "
                "device=None or 'cpu', or install a CUDA build of torch."
            )

    def _prepare_forward(self, X):
        self._check_device()
        # Built outside inference mode, so that a rebuilt graph fitted inside
        # one can still be differentiated later.
        with torch.inference_mode(False):
            self._forward = build_torch_forward(
                self.estimator_, X, owner=type(self).__name__, device=self.device
            )

    def _predict(self, X):
        if not is_torch_module(self.estimator_):
            if not self._forward.owned:
                # A skorch net feeds X to its module as given: match its dtype.
                X = np.asarray(X, dtype=str(self._forward.dtype).split(".")[-1])
            return super()._predict(X)
        return self._run_forward(X)

    def _run_forward(self, X):
        """Return the outputs of the torch graph for ``X`` as 2-D float64."""
        forward = self._forward
        # A writable array: torch warns on read-only ones, such as memory maps.
        X = np.require(X, requirements="W")
        inputs = torch.as_tensor(X, dtype=forward.dtype, device=forward.device)
        with forward.frozen(), torch.no_grad():
            try:
                values = forward.values(forward.module(inputs))
            except RuntimeError as exc:
                raise ValueError(
                    f"{type(self).__name__}: the torch module failed on an "
                    f"input of shape {X.shape}: {exc}"
                ) from exc
        return values.detach().cpu().numpy().astype(np.float64)

    def _fit_inverse(self, X, Y_fitted, y):
        # NOTE: the torch graph in _forward is kept on the inverter, so pickle
        # saves a fitted GradientInverter but skops.io.dump does not.
        # Kept for init="nearest": training rows and what the model gives
        # for them.
        self._train_X = np.asarray(X, dtype=np.float64)
        self._train_outputs = Y_fitted

    def _check_targets(self, Y):
        if not hasattr(self, "classes_"):
            return super()._check_targets(Y)
        return class_targets(self, Y)

    def _invert(self, Y, diagnostics):
        _check_grad_mode(type(self).__name__)
        n_targets = Y.shape[0]
        starts = self._starting_points(Y)
        n_candidates = starts.shape[1]
        lower, upper = self._bounds_or_infinite()

        flat = starts.reshape(n_targets * n_candidates, -1)
        owner = np.repeat(np.arange(n_targets), n_candidates)
        solved = self._solve(flat, Y, owner, self.alpha)
        nonfinite = solved.pop("nonfinite").reshape(n_targets, n_candidates).any(1)
        ranked = rank_candidates(solved, n_targets, n_candidates)
        candidates = ranked["candidates"]
        losses = ranked["candidate_losses"]
        n_iter = ranked["n_iter"]
        stopped = ranked["stopped"]
        X = candidates[:, 0]

        residual, reached = self._misfit(X, Y)

        def reaches(again, owners):
            polished = self._solve(again, Y, owners, 0.0, method="lbfgs")
            return self._misfit(polished["x"], Y[owners])[1]

        reached = confirm_unreachable(self, Y, X, starts[:, 0], reached, reaches)
        # Without a prior, a target within tol is solved even if the search
        # ran out of iterations. With one, the search must also have stopped
        # at the trade-off's optimum.
        converged = reached & (stopped | (self.alpha == 0))

        if nonfinite.any():
            _warn_nonfinite(type(self).__name__, np.flatnonzero(nonfinite))

        dtype = self._output_dtype(Y)
        X = X.astype(dtype)
        if dtype == np.float32 and self.bounds_ is not None:
            # Rounding to float32 may step over a bound; clip to the nearest
            # float32 values inside.
            np.clip(X, float32_inside(lower, +1), float32_inside(upper, -1), out=X)
        active = None
        if self.bounds_ is not None:
            # A coordinate pinned at a bound comes back within rounding of it,
            # after the map from standardized units.
            coarsest = max(
                np.finfo(self._forward_numpy_dtype()).eps, np.finfo(dtype).eps
            )
            slack = 10 * coarsest
            slack = slack * (np.abs(np.stack([lower, upper])) + self.prior_scale_)
            active = np.zeros(X.shape, dtype=np.int8)
            active[X >= upper - slack[1]] = 1
            active[X <= lower + slack[0]] = -1
        return InversionResult(
            X=X,
            residual=residual,
            converged=converged,
            active_bounds=active,
            alpha=float(self.alpha),
            n_iter=n_iter,
            stopped=stopped,
            candidates=candidates.astype(dtype),
            candidate_losses=losses,
        )

    def _forward_numpy_dtype(self):
        return np.float32 if self._forward.dtype == torch.float32 else np.float64

    def _output_dtype(self, Y):
        if hasattr(self, "classes_"):
            return self._forward_numpy_dtype()
        return Y.dtype

    def _solve(self, starts, Y, owner, alpha, method=None):
        """Run the batched minimizer on ``starts``. Row i aims at ``Y[owner[i]]``."""
        forward = self._forward
        dtype, device = forward.dtype, forward.device

        def as_tensor(array):
            # Copy read-only arrays (pandas may return them): torch warns on
            # those, and nothing here writes to them anyway.
            array = np.array(array, dtype=np.float64, copy=True)
            return torch.as_tensor(array, dtype=dtype, device=device)

        mean, scale = self.prior_mean_, self.prior_scale_
        lower, upper = self._bounds_or_infinite()
        constants = {
            "mean": as_tensor(mean),
            "scale": as_tensor(scale),
            "inverse_sqrt_t": as_tensor(self._prior_inverse_sqrt.T),
        }
        targets = as_tensor(Y)
        is_label = None
        if hasattr(self, "classes_"):
            targets = torch.as_tensor(Y, dtype=torch.float64, device=device)
            is_label = torch.as_tensor(is_label_row(Y), device=device)
        owner_t = torch.as_tensor(owner, device=device)
        z_lower, z_upper = (
            as_tensor((lower - mean) / scale),
            as_tensor((upper - mean) / scale),
        )
        z_starts = as_tensor((starts - mean) / scale)
        normalizer, loss_floor = self._loss_scale(Y)
        # Stationarity tolerance, relative to the root of the normalized loss:
        # 1e-6 in float64 and 1e-3 in float32, well above rounding noise.
        gtol = 1e-6 if dtype == torch.float64 else 1e-3

        n_rows = starts.shape[0]
        out = {
            "x": np.empty((n_rows, starts.shape[1])),
            "loss": np.empty(n_rows),
            "n_iter": np.empty(n_rows, dtype=np.int64),
            "stopped": np.empty(n_rows, dtype=bool),
            "nonfinite": np.empty(n_rows, dtype=bool),
        }
        batches = range(0, n_rows, self.batch_size)
        with forward.frozen(), torch.enable_grad():
            for number, start in enumerate(batches, 1):
                rows = slice(start, start + self.batch_size)
                batch_owner = owner_t[rows]

                def loss_fn(z, index, batch_owner=batch_owner):
                    target_rows = batch_owner[index]
                    return (
                        self._objective(
                            z,
                            targets[target_rows],
                            is_label,
                            target_rows,
                            alpha,
                            constants,
                        )
                        / normalizer
                    )

                progress = (
                    _ProgressBar(
                        self.max_iter,
                        f"batch {number}/{len(batches)}",
                        len(range(n_rows)[rows]),
                    )
                    if self.verbose
                    else None
                )
                try:
                    result = minimize_rows(
                        loss_fn,
                        z_starts[rows],
                        z_lower,
                        z_upper,
                        method=method or self.optimizer,
                        max_iter=self.max_iter,
                        loss_floor=loss_floor,
                        gtol=gtol,
                        learning_rate=self.learning_rate,
                        progress=progress,
                    )
                finally:
                    if progress is not None:
                        progress.close()
                z = result.x.detach().cpu().numpy().astype(np.float64)
                out["x"][rows] = np.clip(mean + z * scale, lower, upper)
                out["loss"][rows] = result.loss.cpu().numpy()
                out["n_iter"][rows] = result.n_iter.cpu().numpy()
                out["stopped"][rows] = result.stopped.cpu().numpy()
                out["nonfinite"][rows] = result.nonfinite.cpu().numpy()
        return out

    def _loss_scale(self, Y):
        """Return the loss normalizer and the loss at which a start stops."""
        return loss_scale(self, Y.shape[1])

    def _objective(self, z, targets, is_label, target_rows, alpha, constants):
        x = constants["mean"] + z * constants["scale"]
        misfit = self._data_misfit(x, targets, is_label, target_rows)
        if alpha == 0:
            return misfit
        return misfit + alpha * self._prior_penalty(z, x, constants)

    def _data_misfit(self, x, targets, is_label, target_rows):
        """Return the misfit per row of the model's outputs at ``x``."""
        forward = self._forward
        raw = forward.module(x)
        if is_label is None:
            misfit = ((forward.values(raw) - targets) ** 2).sum(dim=1)
        else:
            # Log-probabilities in float64: float32 rounding of the logits'
            # softmax would hide the small gaps that decide convergence.
            log_proba = forward.log_proba(raw.double())
            cross = torch.where(targets > 0, targets * log_proba, 0).sum(dim=1)
            squared = ((log_proba.exp() - targets) ** 2).sum(dim=1)
            # A class label requests the most confident input, so its misfit
            # is the cross-entropy. A probability vector requests those
            # probabilities, so its misfit is the squared gap that tol bounds.
            misfit = torch.where(is_label[target_rows], -cross, squared)
            if x.dtype != torch.float64:
                misfit = misfit.to(x.dtype)
        return misfit

    def _prior_penalty(self, z, x, constants):
        """Return the squared prior distance per row, in whitened units."""
        if self.prior == "diag":
            return (z * z).sum(dim=1)
        whitened = (x - constants["mean"]) @ constants["inverse_sqrt_t"]
        return (whitened * whitened).sum(dim=1)

    def _misfit(self, X, Y):
        """Return the residual per target and whether it counts as reached."""
        forward = self._forward
        inputs = torch.as_tensor(X, dtype=forward.dtype, device=forward.device)
        with forward.frozen(), torch.no_grad():
            raw = forward.module(inputs)
            if hasattr(self, "classes_"):
                outputs = forward.log_proba(raw).exp()
            else:
                outputs = forward.values(raw)
        return misfit(self, outputs.cpu().numpy().astype(np.float64), Y)

    def _starting_points(self, Y):
        """Return starts of shape (n_targets, 1 + n_restarts, n_features)."""
        rng = check_random_state(self.random_state)
        return starting_points(self, Y, 1 + self.n_restarts, rng)


def _check_grad_mode(owner):
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            f"{owner} needs gradients with respect to the inputs, which "
            "torch.inference_mode() disables. Call it outside inference_mode "
            "(torch.no_grad() is fine)."
        )


def _warn_nonfinite(owner, targets):
    listed = ", ".join(str(i) for i in targets[:10])
    more = f" and {targets.size - 10} more" if targets.size > 10 else ""
    warnings.warn(
        f"{owner}: the loss was NaN or infinite at some point for "
        f"{targets.size} target(s) (rows {listed}{more}). Their result is the "
        "best point with a finite loss. Tighten bounds or check the model on "
        "inputs outside the training data.",
        RuntimeWarning,
        stacklevel=4,
    )


class _ProgressBar:
    """A tqdm bar over the iterations of one batch, for ``verbose``."""

    def __init__(self, max_iter, label, n_rows):
        from tqdm import tqdm

        self._n_rows = n_rows
        self._bar = tqdm(total=max_iter, desc=label, file=sys.stderr, leave=False)

    def __call__(self, iteration, n_running, mean_loss):
        self._bar.n = iteration
        self._bar.set_postfix(
            loss=f"{mean_loss:.3g}",
            stopped=f"{self._n_rows - n_running}/{self._n_rows}",
            refresh=True,
        )

    def close(self):
        self._bar.close()
