"""Differentiable torch graphs of fitted models, for gradient-based inversion.

``build_torch_forward`` turns a supported fitted model into a
:class:`TorchForward`: a torch module that maps a float tensor of shape
(n, n_features) to the model's raw outputs, plus how to read those outputs
(regression values, logits or probabilities).
"""

import contextlib
import functools
import sys

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_array, check_is_fitted
from torch import nn
from torch.nn import functional as F

from ._affine import (
    _as_2d_float,
    _fit_affine,
    as_model_input,
    extract_affine_map,
    unwrap_frozen,
)

OUTPUT_KINDS = ("values", "logits", "binary_logit", "proba")

# Training rows run through a user's module to read its output width and,
# for modules that return probabilities, to check that they do.
_N_PROBE_ROWS = 8

_HIDDEN_ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    # 2 * sigmoid(2 z) - 1 matches np.tanh to 3e-16 in float64, but it was
    # not faster than torch.tanh with torch 2.13 on 2 CPU cores (arrays of
    # 256x64 to 100000x32, forward plus backward), so torch.tanh stays.
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


class TorchForward:
    """Differentiable forward graph of a fitted model, and how to read its outputs.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a tensor of shape (n, n_features) to raw outputs of shape
        (n, k), or (n,) when k is 1.
    output : {"values", "logits", "binary_logit", "proba"}
        Meaning of the raw outputs: regression values; logits whose softmax
        over dim 1 gives the class probabilities; one logit whose sigmoid
        gives the probability of ``classes[1]``; or class probabilities.
    n_outputs : int
        Number of regression outputs, or number of classes for classifiers.
    classes : ndarray of shape (n_classes,), default=None
        Class labels of a classifier, in the order of its probabilities.
        None for regressors.
    owned : bool, default=False
        True when skinvert built ``module``, False when it contains the
        user's module.

    Attributes
    ----------
    dtype : torch.dtype
        Floating-point dtype of the module's parameters, which inputs must
        have.
    device : torch.device
        Device of the module's parameters, where inputs must lie.
    """

    def __init__(self, module, output, *, n_outputs, classes=None, owned=False):
        if output not in OUTPUT_KINDS:
            raise ValueError(f"output must be one of {OUTPUT_KINDS}, got {output!r}.")
        is_classifier_output = output != "values"
        if is_classifier_output != (classes is not None):
            raise ValueError(
                f"output={output!r} needs classes "
                f"{'set' if is_classifier_output else 'None'}, got {classes!r}."
            )
        self.module = module
        self.output = output
        self.n_outputs = int(n_outputs)
        self.classes = None if classes is None else np.asarray(classes)
        self.owned = bool(owned)
        self.dtype = _module_dtype(module)
        self.device = _module_device(module)

    def __repr__(self):
        return (
            f"TorchForward(module={type(self.module).__name__}, "
            f"output={self.output!r}, n_outputs={self.n_outputs}, "
            f"dtype={self.dtype}, device={self.device}, owned={self.owned})"
        )

    def frozen(self):
        """Put the module in eval mode with frozen parameters for a with-block.

        Inside the block every submodule is in eval mode and every parameter
        has ``requires_grad=False``, so a backward pass computes gradients
        with respect to the inputs only. On exit, including on an exception
        or KeyboardInterrupt, the ``training`` flag of every submodule and
        the ``requires_grad`` flag of every parameter are set back to what
        they were. Weights, buffers, dtype and device are not touched, and
        the module is not copied.

        Returns
        -------
        context : contextlib.AbstractContextManager
            Context manager whose ``__enter__`` returns the module itself.
        """
        return _frozen(self.module)

    def log_proba(self, raw):
        """Compute class log-probabilities from raw outputs.

        Parameters
        ----------
        raw : torch.Tensor of shape (n, k) or (n,)
            Output of ``module``.

        Returns
        -------
        log_proba : torch.Tensor of shape (n, n_classes)
            Log-probabilities in the order of ``classes``: ``log_softmax`` of
            logits, ``logsigmoid`` of ``-z`` and ``z`` for a binary logit
            ``z``, or the log of probabilities clamped at the smallest
            positive normal number of their dtype.
        """
        if self.classes is None:
            raise ValueError(
                "log_proba needs a classifier, but this model is a regressor "
                f"(output={self.output!r}). Use values(raw) instead."
            )
        if self.output == "logits":
            return torch.log_softmax(raw, dim=1)
        if self.output == "binary_logit":
            logit = raw.reshape(-1, 1)
            return torch.cat([F.logsigmoid(-logit), F.logsigmoid(logit)], dim=1)
        tiny = torch.finfo(raw.dtype).tiny
        return torch.log(raw.clamp_min(tiny))

    def values(self, raw):
        """Return the regression outputs as a 2-D tensor.

        Parameters
        ----------
        raw : torch.Tensor of shape (n, n_outputs) or (n,)
            Output of ``module``.

        Returns
        -------
        values : torch.Tensor of shape (n, n_outputs)
            ``raw``, with a 1-D output read as one column.
        """
        if self.classes is not None:
            raise ValueError(
                "values needs a regressor, but this model is a classifier "
                f"(output={self.output!r}). Use log_proba(raw) instead."
            )
        return raw.reshape(raw.shape[0], -1)


def build_torch_forward(estimator, X_train, *, owner="GradientInverter", device=None):
    """Build a differentiable torch graph of a fitted model.

    Supported models, after unwrapping ``FrozenEstimator``, are:

    - a ``torch.nn.Module``, used as it is;
    - an initialized skorch ``NeuralNet``, regressor or classifier, whose
      ``module_`` is used as it is;
    - a fitted ``MLPRegressor`` or ``MLPClassifier``, rebuilt in torch from
      its weights;
    - a fitted regressor whose ``predict`` is affine in X;
    - a ``Pipeline`` of affine steps ending in one of these.

    Parameters
    ----------
    estimator : object
        Fitted model.
    X_train : array-like of shape (n_samples, n_features)
        Training inputs. They place the probes that read affine maps and the
        rows run through a user's module to read its output width.
    owner : str, default="GradientInverter"
        Name used in error messages.
    device : str or torch.device, default=None
        Device to compute on. None means the device of the user's module,
        or the CPU for modules that skinvert builds. Modules that skinvert
        builds are moved to ``device``. A user's module is never moved.

    Returns
    -------
    forward : TorchForward
        The module and how to read its outputs.

    Raises
    ------
    ValueError
        If the model has no gradients that skinvert can compute, if
        ``device`` differs from the device of the user's module, or if the
        module's outputs do not fit the model's type.
    sklearn.exceptions.NotFittedError
        If the model is not fitted, or a skorch net is not initialized.
    """
    X = check_array(X_train, dtype=np.float64, input_name="X_train")
    forward = _build(estimator, X, owner)
    if device is not None:
        forward = _place(forward, torch.device(device), owner)
    return forward


def _build(estimator, X, owner):
    model = unwrap_frozen(estimator)
    if isinstance(model, nn.Module):
        return _user_module_forward(model, X, owner)
    _check_feature_count(model, X)
    if _is_skorch_net(model):
        return _skorch_forward(model, X, owner)
    if isinstance(model, (MLPRegressor, MLPClassifier)):
        return _mlp_forward(model, X, owner)
    if isinstance(model, Pipeline):
        return _pipeline_forward(model, X, owner)
    return _affine_forward(model, X, owner)


def _check_feature_count(model, X):
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and expected != X.shape[1]:
        raise ValueError(
            f"X_train has {X.shape[1]} features, but {type(model).__name__} was "
            f"fitted with {expected} features. Pass the inputs the model was "
            "fitted on."
        )


@contextlib.contextmanager
def _frozen(module):
    training_flags = [(submodule, submodule.training) for submodule in module.modules()]
    grad_flags = [(param, param.requires_grad) for param in module.parameters()]
    try:
        # Setting ``training`` directly, not through ``eval()``, keeps any
        # override of ``train`` in the user's module from running.
        for submodule, _ in training_flags:
            submodule.training = False
        for param, _ in grad_flags:
            param.requires_grad_(False)
        yield module
    finally:
        for param, requires_grad in grad_flags:
            param.requires_grad_(requires_grad)
        for submodule, training in training_flags:
            submodule.training = training


def _module_dtype(module):
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return torch.get_default_dtype()


def _module_device(module):
    # NOTE: a module whose parameters are split over several devices reports
    # the device of its first parameter.
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def _place(forward, device, owner):
    if forward.owned:
        forward.module.to(device)
        forward.device = _module_device(forward.module)
        return forward
    actual = forward.device
    same_index = device.index is None or device.index == actual.index
    if device.type == actual.type and same_index:
        return forward
    raise ValueError(
        f"{owner} was given device={str(device)!r}, but the model's torch module "
        f"is on {str(actual)!r}. {owner} never moves a user's module. Pass "
        f"device=None or device={str(actual)!r}, or move the module with "
        "module.to(device) before passing it."
    )


def _no_gradient_error(owner, model):
    name = type(model).__name__
    # LatentInverter takes regressors as decoders, never classifiers.
    mlps = (
        "MLPRegressor" if owner == "LatentInverter" else "MLPRegressor, MLPClassifier"
    )
    return ValueError(
        f"{owner} needs the gradient of the model's outputs with respect to its "
        f"inputs, but {name} has no gradients that {owner} can compute. "
        f"{owner} supports torch modules, skorch nets, {mlps}, "
        "regressors whose predict is affine in X, and Pipelines of affine "
        f"steps ending in one of these. Invert {name} with BlackBoxInverter, "
        "which needs only predict."
    )


def _check_fitted(model):
    """Raise NotFittedError for an unfitted scikit-learn estimator."""
    try:
        check_is_fitted(model)
    except TypeError:
        # Not a scikit-learn estimator, so there is no fitted state to check.
        pass


# --- torch modules and skorch nets ---------------------------------------


class _FirstOutput(nn.Module):
    """Wrap a module whose forward returns a tuple and keep its first output.

    skorch reads the first element of a tuple output as the prediction.
    """

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, X):
        return self.module(X)[0]


def _probe_output(module, X, owner, model_name):
    """Run the first training rows through ``module`` in eval mode."""
    rows = torch.as_tensor(
        X[:_N_PROBE_ROWS], dtype=_module_dtype(module), device=_module_device(module)
    )
    try:
        with _frozen(module), torch.no_grad():
            return module(rows)
    except RuntimeError as exc:
        raise ValueError(
            f"{owner} could not run {model_name} on training rows of shape "
            f"{tuple(rows.shape)}: {exc}. The module must map a float tensor of "
            "shape (n, n_features) to outputs of shape (n, k) or (n,)."
        ) from exc


def describe_output(value):
    """Describe a value returned by user code, for error messages."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _output_width(raw, owner, model_name):
    valid = (
        isinstance(raw, torch.Tensor) and raw.ndim in (1, 2) and raw.is_floating_point()
    )
    if not valid:
        raise ValueError(
            f"{owner} needs {model_name} to return a floating-point tensor of "
            f"shape (n, k) or (n,), but it returned {describe_output(raw)}."
        )
    return 1 if raw.ndim == 1 else raw.shape[1]


def _user_module_forward(module, X, owner):
    model_name = f"the torch module {type(module).__name__}"
    raw = _probe_output(module, X, owner, model_name)
    n_outputs = _output_width(raw, owner, model_name)
    return TorchForward(module, "values", n_outputs=n_outputs, owned=False)


def _is_skorch_net(model):
    # skorch is imported only when a net exists, so an unimported skorch
    # means that ``model`` is not a net.
    skorch = sys.modules.get("skorch")
    return skorch is not None and isinstance(model, skorch.NeuralNet)


def _skorch_forward(net, X, owner):
    name = type(net).__name__
    if not getattr(net, "initialized_", False):
        raise NotFittedError(
            f"This {name} is not initialized. Call fit or initialize on it "
            f"before passing it to {owner}."
        )
    module = net.module_
    model_name = f"the module of {name}"
    raw = _probe_output(module, X, owner, model_name)
    if isinstance(raw, tuple) and raw:
        module = _FirstOutput(module)
        raw = raw[0]
    width = _output_width(raw, owner, model_name)

    nonlinearity = net._get_predict_nonlinearity()
    if not is_classifier(net):
        _check_regressor_nonlinearity(nonlinearity, name, owner)
        return TorchForward(module, "values", n_outputs=width, owned=False)

    output = _classifier_output(nonlinearity, name, owner)
    classes = _skorch_classes(net, owner)
    _check_classifier_width(output, width, len(classes), model_name, owner)
    if output == "proba":
        _check_probabilities(raw, model_name, owner)
    return TorchForward(
        module, output, n_outputs=len(classes), classes=classes, owned=False
    )


def _check_regressor_nonlinearity(nonlinearity, name, owner):
    from skorch.utils import _identity

    if nonlinearity is not _identity:
        raise ValueError(
            f"{owner} differentiates the module of {name}, but its predict "
            f"applies predict_nonlinearity={nonlinearity!r} to the module's "
            "output. Set predict_nonlinearity=None and make that function the "
            "last layer of the module."
        )


def _classifier_output(nonlinearity, name, owner):
    """Return the output kind that matches a skorch ``predict_nonlinearity``."""
    from skorch.utils import _identity, _sigmoid_then_2d

    if nonlinearity is _identity:
        # skorch's default NLLLoss convention: the module ends in a softmax.
        return "proba"
    if nonlinearity is _sigmoid_then_2d:
        return "binary_logit"
    if _is_softmax_over_columns(nonlinearity):
        return "logits"
    raise ValueError(
        f"{owner} cannot read the outputs of {name}: predict_nonlinearity "
        f"{nonlinearity!r} is none of the functions skorch picks with "
        "predict_nonlinearity='auto' for CrossEntropyLoss (softmax) or "
        "BCEWithLogitsLoss (sigmoid), nor the identity. Use one of those "
        "losses with predict_nonlinearity='auto', or make the module output "
        "probabilities and set predict_nonlinearity=None."
    )


def _is_softmax_over_columns(nonlinearity):
    if isinstance(nonlinearity, functools.partial):
        return (
            nonlinearity.func in (torch.softmax, F.softmax)
            and not nonlinearity.args
            and nonlinearity.keywords.get("dim") in (1, -1)
        )
    return isinstance(nonlinearity, nn.Softmax) and nonlinearity.dim in (1, -1)


def _skorch_classes(net, owner):
    # skorch 1.4 reads ``classes_`` from the ``classes`` parameter when set,
    # else from ``classes_inferred_``, which fit stores from y.
    try:
        return np.asarray(net.classes_)
    except AttributeError as exc:
        raise ValueError(
            f"{owner} needs the class labels of {type(net).__name__}, but it "
            "has no classes_. Fit it with y, or pass classes= when creating it."
        ) from exc


def _check_classifier_width(output, width, n_classes, model_name, owner):
    expected = 1 if output == "binary_logit" else n_classes
    if width != expected:
        raise ValueError(
            f"{owner} read {model_name} as returning output={output!r} for "
            f"{n_classes} classes, which needs {expected} output columns, but "
            f"it returns {width}. Make the module's last layer return "
            f"{expected} columns."
        )


def _check_probabilities(raw, model_name, owner):
    # Ten times the square root of machine epsilon: 3e-3 in float32.
    tolerance = 10 * float(np.sqrt(torch.finfo(raw.dtype).eps))
    raw = raw.reshape(raw.shape[0], -1).double()
    row_gap = float((raw.sum(dim=1) - 1).abs().max())
    if float(raw.min()) < 0 or row_gap > tolerance:
        raise ValueError(
            f"{owner} read {model_name} as returning class probabilities, "
            "because its predict_nonlinearity is the identity, but its outputs on "
            f"training rows are not probabilities: the smallest is "
            f"{float(raw.min()):.3g} and row sums differ from 1 by up to "
            f"{row_gap:.3g}. End the module in a softmax, or use "
            "CrossEntropyLoss with predict_nonlinearity='auto' for logits."
        )


# --- scikit-learn MLPs ------------------------------------------------------


def _linear_layer(weight, bias, dtype, device=None):
    """Return a frozen ``nn.Linear`` holding copies of ``weight`` and ``bias``.

    ``skip_init`` leaves the global torch random state untouched.
    """
    n_out, n_in = weight.shape
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=dtype, device=device)
    weight = torch.tensor(np.asarray(weight), dtype=dtype, device=device)
    bias = torch.tensor(np.asarray(bias), dtype=dtype, device=device)
    layer.weight = nn.Parameter(weight, requires_grad=False)
    layer.bias = nn.Parameter(bias, requires_grad=False)
    return layer


class _Exp(nn.Module):
    """Elementwise exponential, the output activation of a Poisson MLPRegressor."""

    def forward(self, X):
        return torch.exp(X)


def _mlp_output(mlp, owner):
    """Return the output kind and the output layers that follow the last Linear."""
    activation = mlp.out_activation_
    if not is_classifier(mlp):
        if activation == "identity":
            return "values", []
        if activation == "exp":
            return "values", [_Exp()]
    elif activation == "softmax":
        return "logits", []
    elif activation == "logistic":
        multilabel = mlp._label_binarizer.y_type_.startswith("multilabel")
        if mlp.n_outputs_ == 1 and not multilabel:
            return "binary_logit", []
        raise ValueError(
            f"{owner} does not support multilabel classification, but this "
            f"{type(mlp).__name__} was fitted on {mlp.n_outputs_} labels. "
            "Fit one binary MLPClassifier per label, or a multiclass one."
        )
    raise ValueError(
        f"{owner} cannot rebuild {type(mlp).__name__} with "
        f"out_activation_={activation!r}; it supports identity and exp for "
        "regressors, and softmax and logistic for classifiers."
    )


def _mlp_forward(mlp, X, owner):
    check_is_fitted(mlp)
    output, output_layers = _mlp_output(mlp, owner)
    # The rebuilt graph computes in the dtype that the MLP was fitted in.
    dtype = torch.float32 if mlp.coefs_[0].dtype == np.float32 else torch.float64

    hidden_activation = _HIDDEN_ACTIVATIONS[mlp.activation]
    layers = []
    n_layers = len(mlp.coefs_)
    for index, (coef, intercept) in enumerate(
        zip(mlp.coefs_, mlp.intercepts_, strict=True)
    ):
        layers.append(_linear_layer(coef.T, intercept, dtype))
        if index < n_layers - 1:
            layers.append(hidden_activation())
    layers.extend(output_layers)

    module = nn.Sequential(*layers)
    if output == "values":
        return TorchForward(module, output, n_outputs=mlp.n_outputs_, owned=True)
    classes = np.asarray(mlp.classes_)
    return TorchForward(
        module, output, n_outputs=len(classes), classes=classes, owned=True
    )


# --- Pipelines and affine models ---------------------------------------------


def _is_skipped(step):
    return step is None or (isinstance(step, str) and step == "passthrough")


def _transform_steps(steps, X):
    """Apply the ``transform`` of each step in turn and return a float64 array."""
    Xt = X
    for _, step in steps:
        Xt = _as_2d_float(step.transform(as_model_input(step, Xt)))
    return Xt


def _not_differentiable_step_error(owner, name, step, deviation):
    if np.isfinite(deviation):
        detail = (
            f"its output differs from the affine map read off by probing each "
            f"input by {deviation:.3g} of its spread"
        )
    else:
        detail = "it fails or returns NaN or infinite values around the training data"
    return ValueError(
        f"{owner} needs differentiable Pipeline steps, and supports affine steps "
        f"(scalers, PCA, ...) before the final model, but step {name!r} "
        f"({type(step).__name__}) is not affine: {detail}. Remove the step, "
        "replace it with an affine one, or invert the Pipeline with "
        "BlackBoxInverter, which needs only predict."
    )


def _affine_pre_steps(steps, X, owner):
    """Return ``(A, b)`` of the composed steps, naming the first non-affine one."""
    # NOTE: only affine steps become part of the graph. A differentiable but
    # nonlinear scikit-learn step (a FunctionTransformer with np.tanh, say)
    # has no torch counterpart here and is rejected.
    A, b, is_affine, deviation = _fit_affine(
        functools.partial(_transform_steps, steps), X
    )
    if is_affine:
        return A, b

    Xt = X
    for name, step in steps:
        _, _, step_is_affine, step_deviation = _fit_affine(
            functools.partial(_transform_steps, [(name, step)]), Xt
        )
        if not step_is_affine:
            raise _not_differentiable_step_error(owner, name, step, step_deviation)
        Xt = _transform_steps([(name, step)], Xt)
    names = ", ".join(repr(name) for name, _ in steps)
    raise ValueError(
        f"{owner} needs the steps before the final model to be affine together. "
        f"Each of the steps {names} is affine on its own, but the affine map "
        f"read off their composition differs from it by {deviation:.3g} of its "
        "spread. Remove the steps that the model does not need, or invert it "
        "with BlackBoxInverter, which needs only predict."
    )


def _pipeline_forward(pipeline, X, owner):
    check_is_fitted(pipeline)
    _, final = pipeline.steps[-1]
    if _is_skipped(final):
        raise _no_gradient_error(owner, pipeline)
    steps = [
        (name, step) for name, step in pipeline.steps[:-1] if not _is_skipped(step)
    ]
    if not steps:
        return _build(final, X, owner)

    A, b = _affine_pre_steps(steps, X, owner)
    final_forward = _build(final, _transform_steps(steps, X), owner)
    affine = _linear_layer(A, b, final_forward.dtype, final_forward.device)
    return TorchForward(
        nn.Sequential(affine, final_forward.module),
        final_forward.output,
        n_outputs=final_forward.n_outputs,
        classes=final_forward.classes,
        owned=final_forward.owned,
    )


def _affine_forward(model, X, owner):
    if is_classifier(model):
        raise _no_gradient_error(owner, model)
    _check_fitted(model)
    try:
        A, b = extract_affine_map(model, X, owner=owner)
    except ValueError as exc:
        raise _no_gradient_error(owner, model) from exc
    module = _linear_layer(A, b, torch.float64)
    return TorchForward(module, "values", n_outputs=A.shape[0], owned=True)
