"""The contract every inverter shares: fit, transform, inverse_transform, invert."""

import sys
import warnings
from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    TransformerMixin,
    _fit_context,
    clone,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from ._affine import as_model_input
from ._logging import enable_verbose_output
from ._prior import fit_input_prior
from ._validation import FLOAT_DTYPES, check_targets, resolve_bounds


def is_torch_module(estimator):
    """Return True for a ``torch.nn.Module``, also inside FrozenEstimator.

    torch is not imported: if it is not loaded, no object is a module.
    """
    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(estimator, torch.nn.Module)


def _is_classifier(estimator):
    # A torch module is not a scikit-learn estimator and has no tags.
    return not is_torch_module(estimator) and is_classifier(estimator)


def _is_fitted(estimator):
    # A torch module has no fit: its weights are whatever it holds.
    if is_torch_module(estimator):
        return True
    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        return False
    return True


class BaseInverter(TransformerMixin, BaseEstimator):
    """Base class for inverters: estimators that map model outputs back to inputs.

    An inverter wraps a regressor ``f``. ``transform`` is the forward model
    ``f(X)``; ``inverse_transform`` and ``invert`` find inputs whose
    predictions match given targets. ``fit`` fits a clone of the regressor
    when ``y`` is given, or uses a fitted regressor as it is when ``y`` is
    None, and learns from ``X`` the prior over inputs: mean, scale,
    covariance and range.

    Subclasses implement ``_fit_inverse(X, Y_fitted, y)`` and
    ``_invert(Y, diagnostics)``, may extend ``_parameter_constraints`` and
    may override ``_prepare_forward(X)``, called once the model is fitted.
    Those that set ``_supports_classifiers`` accept classifiers, whose
    forward model is ``predict_proba``.
    """

    _supports_classifiers = False

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["predict"]), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "prior": [StrOptions({"diag", "full"})],
        "bounds": [None, StrOptions({"data"}), tuple, list],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
    }

    def _make_default_estimator(self):
        raise NotImplementedError

    def _resolved_estimator(self):
        if self.estimator is None:
            return self._make_default_estimator()
        return self.estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # y is needed only when the wrapped model still has to be fitted.
        tags.target_tags.required = not _is_fitted(self._resolved_estimator())
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the forward model if needed and learn the prior over inputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Training outputs. When given, a clone of ``estimator`` is fitted
            on ``(X, y)`` (a ``FrozenEstimator`` stays as it is). When None,
            ``estimator`` must already be fitted and is used without copying.

        Returns
        -------
        self : object
            Fitted inverter.
        """
        reject_bool_alpha(self)
        X_original = X
        output_names = _column_names(y)
        X = validate_data(self, X, dtype=FLOAT_DTYPES)
        name = type(self).__name__
        estimator = self._resolved_estimator()

        classifier = _is_classifier(estimator)
        if classifier and not self._supports_classifiers:
            raise ValueError(
                f"{name} needs a regressor, but estimator={estimator!r} is a "
                "classifier. Wrap a regressor, or a Pipeline that ends in one."
            )

        if y is None:
            if not _is_fitted(estimator):
                raise NotFittedError(
                    f"{name} requires y to be passed, but the target y is None "
                    f"and estimator={estimator!r} is not fitted. Pass y so that "
                    f"{name} fits a clone of it, or pass a fitted model "
                    "(optionally wrapped in FrozenEstimator)."
                )
            self.estimator_ = estimator
        else:
            y = check_array(
                y,
                dtype=None if classifier else FLOAT_DTYPES,
                ensure_2d=False,
                input_name="y",
                estimator=self,
            )
            check_consistent_length(X, y)
            self.estimator_ = self._fit_clone(estimator, X_original, y)
        self._check_model_width(name)
        if classifier:
            _check_classifier(self.estimator_, name)
            self.classes_ = np.asarray(self.estimator_.classes_)

        self._prepare_forward(X)
        Y_fitted = self._predict(X)
        self.n_outputs_ = Y_fitted.shape[1]
        self._output_names = output_names
        Y_train = Y_fitted if y is None or classifier else y.reshape(X.shape[0], -1)
        if Y_train.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{name}: y has {Y_train.shape[1]} columns but the fitted model "
                f"predicts {self.n_outputs_} outputs."
            )

        self.output_scale_ = _output_scale(Y_train)
        prior = fit_input_prior(X, self.prior)
        self.prior_mean_ = prior["mean"]
        self.prior_scale_ = prior["scale"]
        self.prior_covariance_ = prior["covariance"]
        self.data_min_ = prior["data_min"]
        self.data_max_ = prior["data_max"]
        self._prior_sqrt = prior["sqrt"]
        self._prior_inverse_sqrt = prior["inverse_sqrt"]
        self.bounds_ = resolve_bounds(self, self.bounds, self.data_min_, self.data_max_)

        enable_verbose_output(self.verbose)
        self._fit_inverse(X, Y_fitted, Y_train if y is not None else None)
        return self

    def _fit_clone(self, estimator, X, y):
        if isinstance(estimator, FrozenEstimator) and not _is_fitted(estimator):
            raise NotFittedError(
                f"{type(self).__name__}: the FrozenEstimator wraps a model that "
                "is not fitted, and a FrozenEstimator is never refitted. Fit the "
                "model before freezing it, or pass it without FrozenEstimator."
            )
        return clone(estimator).fit(X, y)

    def _prepare_forward(self, X):
        """Build whatever the forward model needs once ``estimator_`` is set."""

    def _prior_draws(self, rng, shape):
        """Draw inputs of shape ``(*shape, n_features)`` from the fitted prior."""
        noise = rng.standard_normal((*shape, self.n_features_in_))
        return self.prior_mean_ + noise @ self._prior_sqrt.T

    def _bounds_or_infinite(self):
        """Return ``(lower, upper)``, infinite where ``bounds_`` is None."""
        if self.bounds_ is None:
            infinite = np.full(self.n_features_in_, np.inf)
            return -infinite, infinite
        return self.bounds_

    def _check_model_width(self, name):
        expected = getattr(self.estimator_, "n_features_in_", None)
        if expected is not None and expected != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} features, but the estimator wrapped "
                f"by {name} was fitted with {expected} features."
            )

    def _predict(self, X):
        """Return the model's predictions, or class probabilities, as 2-D float64."""
        model_input = as_model_input(self.estimator_, X)
        if _is_classifier(self.estimator_):
            Y = self.estimator_.predict_proba(model_input)
        else:
            Y = self.estimator_.predict(model_input)
        Y = np.asarray(Y, dtype=np.float64)
        return Y.reshape(Y.shape[0], -1)

    def transform(self, X):
        """Apply the forward model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        Y : ndarray of shape (n_samples, n_outputs)
            Predictions of the wrapped model, in the dtype of X.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        return self._predict(X).astype(X.dtype, copy=False)

    def invert(self, Y):
        """Find inputs whose predictions match the targets, with diagnostics.

        Parameters
        ----------
        Y : array-like of shape (n_targets, n_outputs) or (n_targets,)
            Targets. A 1-D array contains one target per entry and is accepted
            only for a model with one output.

        Returns
        -------
        result : InversionResult
            Recovered inputs ``X`` and per-target ``residual`` and
            ``converged``, plus what the method adds.
        """
        check_is_fitted(self)
        Y = self._check_targets(Y)
        result = self._invert(Y, diagnostics=True)
        self._warn_not_converged(result)
        return result

    def _check_targets(self, Y):
        return check_targets(self, Y, self.n_outputs_)

    def inverse_transform(self, Y):
        """Find inputs whose predictions match the targets.

        Parameters
        ----------
        Y : array-like of shape (n_targets, n_outputs) or (n_targets,)
            Targets, as for :meth:`invert`.

        Returns
        -------
        X : ndarray or DataFrame of shape (n_targets, n_features)
            Recovered inputs, in the dtype of Y; a DataFrame when the output
            is set to pandas with :meth:`set_output`.
        """
        check_is_fitted(self)
        Y_original = Y
        Y = self._check_targets(Y)
        result = self._invert(Y, diagnostics=False)
        self._warn_not_converged(result)
        return self._wrap_inverse_output(result.X, Y_original)

    def score(self, X, y, sample_weight=None):
        """Return the R² of the inputs recovered from ``y`` against ``X``.

        The score is averaged uniformly over features, so model selection
        with GridSearchCV picks the settings that best recover held-out
        inputs from their outputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            True inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Outputs to invert.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R² of ``inverse_transform(y)`` against ``X``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        Y = self._check_targets(y)
        check_consistent_length(X, Y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            X_hat = self._invert(Y, diagnostics=False).X
        return r2_score(X, X_hat, sample_weight=sample_weight)

    def get_feature_names_out(self, input_features=None):
        """Return the names of the outputs of :meth:`transform`.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names, checked against those seen in ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            Column names of ``y`` when it was a DataFrame or a named Series
            in ``fit``, else ``"<class name in lower case><index>"``.
        """
        check_is_fitted(self, "n_outputs_")
        _check_feature_names_in(self, input_features)
        if self._output_names is not None:
            return np.asarray(self._output_names, dtype=object)
        prefix = type(self).__name__.lower()
        return np.asarray(
            [f"{prefix}{i}" for i in range(self.n_outputs_)], dtype=object
        )

    def _input_feature_names(self):
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return names
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def _wrap_inverse_output(self, X_hat, Y_original):
        dense = _get_output_config("transform", self)["dense"]
        if dense == "default":
            return X_hat
        adapter = ADAPTERS_MANAGER.adapters[dense]
        return adapter.create_container(
            X_hat, Y_original, columns=self._input_feature_names(), inplace=False
        )

    def _warn_not_converged(self, result):
        name = type(self).__name__
        n_targets = np.size(result.converged)
        unfinished, unreachable = split_not_converged(result)

        if unfinished.any():
            warnings.warn(
                f"{name}: {int(unfinished.sum())} of {n_targets} targets did not "
                f"converge within max_iter={getattr(self, 'max_iter', None)} "
                "iterations. Increase max_iter, or check invert(Y).residual.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if not unreachable.any():
            return
        where = "within the bounds" if self.bounds is not None else "by the model"
        widen = ", widen bounds" if self.bounds is not None else ""
        unit = (
            "probability units"
            if hasattr(self, "classes_")
            else "units of the training outputs' standard deviation"
        )
        # An iterative search may end in a local minimum, so a missed target
        # may still be reachable from another start.
        iterative = hasattr(self, "n_restarts")
        restarts = (
            ", or raise n_restarts, since an iterative search may end in a "
            "local minimum"
            if iterative
            else ""
        )
        verdict = "were not reached" if iterative else "cannot be reached"
        warnings.warn(
            f"{name}: {int(unreachable.sum())} of {n_targets} targets {verdict} "
            f"{where}: their smallest misfit found is above "
            f"tol={self.tol} in {unit}. The returned inputs minimize the misfit "
            "found; invert(Y).residual gives it per target. Check that the "
            f"targets lie in the model's output range{widen}, raise tol for "
            f"noisy targets{restarts}.",
            ConvergenceWarning,
            stacklevel=3,
        )


def split_not_converged(result):
    """Return the masks of unfinished and of unreached targets of ``result``.

    A target that did not converge is unfinished when its search ran out of
    iterations (``stopped`` is False), and unreached otherwise.
    """
    not_converged = ~np.asarray(result.converged, dtype=bool)
    unfinished = np.zeros(not_converged.shape, dtype=bool)
    if result.stopped is not None:
        unfinished = not_converged & ~np.asarray(result.stopped, dtype=bool)
    return unfinished, not_converged & ~unfinished


def _check_classifier(classifier, name):
    """Reject multilabel classifiers and classifiers without predict_proba."""
    model = type(classifier).__name__
    classes = getattr(classifier, "classes_", None)
    if isinstance(classes, list) or np.ndim(classes) != 1:
        raise ValueError(
            f"{name} supports binary and multiclass classifiers, but {model} "
            "was fitted on multilabel or multioutput targets. Invert one "
            "classifier per label instead."
        )
    if not hasattr(classifier, "predict_proba"):
        raise ValueError(
            f"{name} needs the class probabilities of {model}, but it has no "
            "predict_proba. Wrap the classifier in "
            "sklearn.calibration.CalibratedClassifierCV, or for an SVC on a "
            "scikit-learn version that still offers it, pass "
            "SVC(probability=True)."
        )


def reject_bool_alpha(inverter):
    """Raise InvalidParameterError when ``inverter.alpha`` is a bool.

    scikit-learn's Real interval admits bool, which would silently read
    alpha=True as 1.0.
    """
    if isinstance(inverter.alpha, bool):
        raise InvalidParameterError(
            f"The 'alpha' parameter of {type(inverter).__name__} must be a "
            f"number, not a bool; got {inverter.alpha!r}. Pass alpha=1.0 or 0.0."
        )


def _output_scale(Y):
    """Return the standard deviation of each output, floored for rounding.

    The floor, 1e-6 times the root-mean-square of the output, keeps
    tolerances above rounding error for outputs with a large constant part.
    Constant zero outputs get scale 1.
    """
    scale = np.maximum(Y.std(axis=0), 1e-6 * np.sqrt(np.mean(Y**2, axis=0)))
    scale[scale == 0] = 1.0
    return scale


def _column_names(y):
    """Return the column names of a DataFrame ``y`` or the name of a Series."""
    columns = getattr(y, "columns", None)
    if columns is not None:
        return [str(column) for column in columns]
    name = getattr(y, "name", None)
    if name is not None and hasattr(y, "index"):
        return [str(name)]
    return None
