"""Torch graphs of the decoders and encoders that LatentInverter accepts.

A decoder maps latent codes of shape (n, n_components) to samples of shape
(n, n_features), and an encoder maps samples to codes. Decoders become a
:class:`TorchForward`, so the gradient inverter's loop can differentiate
them; encoders are only evaluated.
"""

from numbers import Integral

import numpy as np
import torch
from sklearn.decomposition import KernelPCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from torch import nn
from torch.nn import functional as F

from ._affine import _fit_affine, as_model_input, unwrap_frozen
from ._torch_models import (
    TorchForward,
    _check_fitted,
    _is_skorch_net,
    _linear_layer,
    _place,
    build_torch_forward,
    describe_output,
)

# Kernels of KernelPCA whose inverse_transform is rebuilt in torch.
# NOTE: callable kernels are rejected, because they have no torch version
# here. KernelPCA itself cannot fit an inverse with a precomputed kernel.
KERNELS = ("linear", "poly", "rbf", "sigmoid", "cosine")

# Codes run through a decoder or an encoder at fit to read its output width
# and check that it works on tensors.
_N_PROBE_ROWS = 8

# Exceptions a user's torch code raises on inputs it cannot handle: shape and
# dtype mismatches (RuntimeError), numpy calls on tensors (TypeError,
# AttributeError, RuntimeError) and explicit checks (ValueError).
_USER_CODE_ERRORS = (RuntimeError, TypeError, ValueError, AttributeError)


def latent_dimension(decoder):
    """Return the width of the codes that ``decoder`` reads, or None.

    The sources, in this order:

    - an integer ``latent_dim`` or ``n_components_`` attribute;
    - ``components_`` or ``eigenvalues_`` of a scikit-learn decomposition;
    - an integer ``n_components`` attribute of a torch module;
    - the ``in_features`` of an ``nn.Linear`` that is the module or the
      first layer of an ``nn.Sequential``;
    - the ``n_features_in_`` of a regressor.

    A bound method is read through the module it belongs to, and a skorch
    net through its ``module_``.
    """
    model = unwrap_frozen(decoder)
    owner = getattr(model, "__self__", None)
    if isinstance(owner, nn.Module) and not isinstance(model, nn.Module):
        model = owner
    if _is_skorch_net(model):
        if not getattr(model, "initialized_", False):
            return None
        model = model.module_
    if hasattr(model, "inverse_transform"):
        model = code_step(model)

    for name in ("latent_dim", "n_components_"):
        value = getattr(model, name, None)
        if isinstance(value, Integral) and not isinstance(value, bool):
            return int(value)
    if hasattr(model, "inverse_transform") and not isinstance(model, nn.Module):
        for name in ("components_", "eigenvalues_"):
            value = getattr(model, name, None)
            if value is not None:
                return int(np.shape(value)[0])
        return None
    if isinstance(model, nn.Module):
        value = getattr(model, "n_components", None)
        if isinstance(value, Integral) and not isinstance(value, bool):
            return int(value)
        first = model[0] if isinstance(model, nn.Sequential) and len(model) else model
        return first.in_features if isinstance(first, nn.Linear) else None
    if hasattr(model, "predict"):
        return getattr(model, "n_features_in_", None)
    return None


def code_step(decoder):
    """Return the model whose output is the code: the last step of a Pipeline.

    Any other decoder is returned without its FrozenEstimator layers.
    """
    model = unwrap_frozen(decoder)
    if isinstance(model, Pipeline):
        steps = [step for _, step in model.steps if step not in (None, "passthrough")]
        return unwrap_frozen(steps[-1]) if steps else model
    return model


class _TorchFunction(nn.Module):
    """Call a torch module or a torch callable and return its output as (n, k).

    A tuple or list output gives its first element, as for a VAE encoder that
    returns ``(mean, log_variance)``. Outputs with more than two dimensions,
    such as images, are flattened row by row in C order. When ``function``
    is a bound method of a module, such as ``vae.decode``, that module is
    registered as a submodule, so ``TorchForward.frozen`` freezes its
    weights and the graph runs in its dtype and on its device.
    """

    def __init__(self, function):
        super().__init__()
        self.function = function
        owner = getattr(function, "__self__", None)
        if isinstance(owner, nn.Module) and not isinstance(function, nn.Module):
            self.owner = owner

    def forward(self, inputs):
        outputs = self.function(inputs)
        if isinstance(outputs, (tuple, list)) and outputs:
            outputs = outputs[0]
        return outputs.reshape(outputs.shape[0], -1)


def _has_tensors(module):
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def _function_forward(function, n_outputs, device):
    """Wrap a user's torch module or callable as a TorchForward.

    A callable without a module behind it computes in float64, on ``device``
    or the CPU.
    """
    module = _TorchFunction(function)
    forward = TorchForward(module, "values", n_outputs=n_outputs, owned=False)
    if not _has_tensors(module):
        forward.dtype = torch.float64
        forward.device = torch.device("cpu" if device is None else device)
    return forward


def _describe(function):
    if isinstance(function, nn.Module):
        return f"the torch module {type(function).__name__}"
    name = getattr(function, "__qualname__", type(function).__name__)
    return f"the callable {name}"


def _call_error(owner, role, function, inputs, exc):
    described = _describe(function)
    hint = (
        f"A callable {role} must take a torch tensor and return a tensor "
        "computed with torch operations"
        + (", so that gradients flow through it" if role == "decoder" else "")
        + ". Rewrite numpy code in torch, or pass the torch module itself."
        if not isinstance(function, nn.Module)
        else f"The module must map a tensor of shape {_shape_pattern(role)}."
    )
    return ValueError(
        f"{owner}: {role}={described} failed on a {inputs.dtype} tensor of "
        f"shape {tuple(inputs.shape)}: {exc}. {hint}"
    )


def _shape_pattern(role):
    if role == "decoder":
        return "(n, n_components) to samples of shape (n, n_features) or (n, ...)"
    return "(n, n_features) to codes of shape (n, n_components)"


def _probe(forward, function, rows, owner, role):
    """Run ``rows`` through ``forward`` and return the output as float64 numpy.

    For a decoder the output must depend on the codes through torch
    operations, which the gradient of the output shows.
    """
    # A writable array: torch warns on read-only ones, such as memory maps.
    rows = np.require(rows, requirements="W")
    inputs = torch.as_tensor(rows, dtype=forward.dtype, device=forward.device)
    differentiable = role == "decoder"
    grad_mode = torch.enable_grad() if differentiable else torch.no_grad()
    with torch.inference_mode(False), forward.frozen(), grad_mode:
        inputs = inputs.clone().requires_grad_(differentiable)
        try:
            raw = forward.module.function(inputs)
        except _USER_CODE_ERRORS as exc:
            raise _call_error(owner, role, function, inputs, exc) from exc
        if isinstance(raw, (tuple, list)) and raw:
            raw = raw[0]
        valid = (
            isinstance(raw, torch.Tensor)
            and raw.ndim >= 1
            and raw.shape[0] == inputs.shape[0]
            and raw.is_floating_point()
        )
        if not valid:
            raise ValueError(
                f"{owner}: {role}={_describe(function)} must return a "
                f"floating-point torch tensor with one row per input row, "
                f"{_shape_pattern(role)}, but for an input of shape "
                f"{tuple(inputs.shape)} it returned {describe_output(raw)}."
            )
        if differentiable and not raw.requires_grad:
            raise ValueError(
                f"{owner}: decoder={_describe(function)} returned a tensor "
                "without a gradient with respect to the codes, so the codes "
                "cannot be optimized. Compute the decoder with torch "
                "operations only: detach(), numpy() and torch.no_grad() cut "
                "the gradient."
            )
    return raw.detach().reshape(raw.shape[0], -1).cpu().numpy().astype(np.float64)


def build_decoder_forward(decoder, Z, *, owner, device=None):
    """Build a differentiable torch graph of a decoder.

    Parameters
    ----------
    decoder : object
        A torch module, a bound method of one or another torch callable, or
        a skorch net. Or a fitted scikit-learn decomposition whose
        ``inverse_transform`` is affine (PCA, a Pipeline of scalers and PCA),
        a ``KernelPCA`` fitted with ``fit_inverse_transform=True``, or a
        fitted regressor that ``build_torch_forward`` supports
        (MLPRegressor, affine regressors).
    Z : ndarray of shape (n_codes, n_components)
        Codes that place the probes: sample codes or prior draws.
    owner : str
        Name used in error messages.
    device : str, torch.device or None, default=None
        Device to compute on. A user's module is never moved.

    Returns
    -------
    forward : TorchForward
        Graph whose ``values`` are the decoded samples, flattened to 2-D.

    Raises
    ------
    ValueError
        If the decoder fails on tensors, has no gradient, or is a
        decomposition that skinvert cannot rebuild in torch.
    sklearn.exceptions.NotFittedError
        If a scikit-learn decoder is not fitted.
    """
    model = unwrap_frozen(decoder)
    if _is_skorch_net(model) or (
        hasattr(model, "predict") and not hasattr(model, "inverse_transform")
    ):
        forward = build_torch_forward(decoder, Z, owner=owner, device=device)
        if forward.classes is not None:
            raise ValueError(
                f"{owner} needs a decoder that returns samples, but "
                f"decoder={type(model).__name__} is a classifier. Pass a "
                "regressor, a torch module or a decomposition."
            )
        return forward

    if hasattr(model, "inverse_transform") and not isinstance(model, nn.Module):
        module = _decomposition_module(model, Z, owner)
        forward = TorchForward(module, "values", n_outputs=module.n_outputs, owned=True)
        if device is not None:
            forward = _place(forward, torch.device(device), owner)
        return forward

    forward = _function_forward(model, 0, device)
    if device is not None and _has_tensors(forward.module):
        forward = _place(forward, torch.device(device), owner)
    decoded = _probe(forward, model, Z[:_N_PROBE_ROWS], owner, "decoder")
    forward.n_outputs = decoded.shape[1]
    return forward


def check_fitted(estimator, owner, role):
    """Raise NotFittedError when a scikit-learn or skorch ``estimator`` is not fitted.

    Torch modules and callables have no fitted state and pass.
    """
    model = unwrap_frozen(estimator)
    if isinstance(model, nn.Module):
        return
    if _is_skorch_net(model):
        if not getattr(model, "initialized_", False):
            raise _not_fitted_error(owner, role, model)
        return
    try:
        _check_fitted(model)
    except NotFittedError as exc:
        raise _not_fitted_error(owner, role, model) from exc


def _not_fitted_error(owner, role, model):
    return NotFittedError(
        f"{owner}: {role}={type(model).__name__} is not fitted. Fit it on "
        f"samples before passing it to {owner}, whose fit learns only the "
        "prior over codes. Wrap it in sklearn.frozen.FrozenEstimator so that "
        "clone, and with it GridSearchCV, keeps it fitted."
    )


def _decomposition_module(model, Z, owner):
    """Return ``model.inverse_transform`` as a float64 torch module."""
    check_fitted(model, owner, "decoder")
    if isinstance(model, KernelPCA):
        return _KernelPCAInverse(model, owner)

    A, b, is_affine, deviation = _fit_affine(model.inverse_transform, Z)
    if not is_affine:
        gap = (
            f"it departs from an affine map by up to {deviation:.3g} times the "
            "range of its output"
            if np.isfinite(deviation)
            else "it fails or returns NaN or infinite values around the codes"
        )
        raise ValueError(
            f"{owner} needs a decoder it can differentiate, but the "
            f"inverse_transform of {type(model).__name__} is not affine: {gap}. "
            f"{owner} supports decompositions with an affine inverse_transform "
            "(PCA, TruncatedSVD, Pipelines of scalers and PCA) and KernelPCA "
            "fitted with fit_inverse_transform=True. Pass another decoder as a "
            "torch module or a torch callable."
        )
    layer = _linear_layer(A, b, torch.float64)
    layer.n_outputs = A.shape[0]
    return layer


class _KernelPCAInverse(nn.Module):
    """``KernelPCA.inverse_transform`` in torch.

    scikit-learn's pre-image map is a kernel ridge regression from the
    training codes ``X_transformed_fit_`` to the training samples:
    ``kernel(Z, X_transformed_fit_) @ dual_coef_``, with the fitted
    ``gamma_``, ``degree`` and ``coef0``.
    """

    def __init__(self, kpca, owner):
        super().__init__()
        if not kpca.fit_inverse_transform:
            raise ValueError(
                f"{owner} decodes with KernelPCA.inverse_transform, which this "
                "KernelPCA does not have. Refit it with "
                "KernelPCA(fit_inverse_transform=True)."
            )
        if not isinstance(kpca.kernel, str) or kpca.kernel not in KERNELS:
            raise ValueError(
                f"{owner} rebuilds KernelPCA.inverse_transform in torch for the "
                f"kernels {list(KERNELS)}, but this KernelPCA has "
                f"kernel={kpca.kernel!r}. Refit it with one of those kernels, or "
                "pass the decoder as a torch callable."
            )
        self.kernel = kpca.kernel
        self.gamma = float(kpca.gamma_)
        self.degree = float(kpca.degree)
        self.coef0 = float(kpca.coef0)
        # Frozen parameters, not buffers, so that TorchForward reads the
        # float64 dtype from them.
        self.centers = nn.Parameter(
            torch.tensor(kpca.X_transformed_fit_, dtype=torch.float64),
            requires_grad=False,
        )
        self.dual_coef = nn.Parameter(
            torch.tensor(kpca.dual_coef_, dtype=torch.float64), requires_grad=False
        )
        self.n_outputs = kpca.dual_coef_.shape[1]

    def forward(self, Z):
        return (
            kernel_matrix(
                self.kernel, Z, self.centers, self.gamma, self.degree, self.coef0
            )
            @ self.dual_coef
        )


def kernel_matrix(kernel, X, Y, gamma, degree, coef0):
    """Compute scikit-learn's pairwise kernel ``kernel`` between rows, in torch.

    Parameters
    ----------
    kernel : {"linear", "poly", "rbf", "sigmoid", "cosine"}
        Kernel, as named by ``sklearn.metrics.pairwise.pairwise_kernels``.
    X : torch.Tensor of shape (n, d)
        First rows.
    Y : torch.Tensor of shape (m, d)
        Second rows.
    gamma, degree, coef0 : float
        Kernel parameters, used where the kernel has them.

    Returns
    -------
    K : torch.Tensor of shape (n, m)
        Kernel values.
    """
    if kernel == "linear":
        return X @ Y.T
    if kernel == "poly":
        return (gamma * (X @ Y.T) + coef0) ** degree
    if kernel == "sigmoid":
        return torch.tanh(gamma * (X @ Y.T) + coef0)
    if kernel == "cosine":
        tiny = torch.finfo(X.dtype).tiny
        return F.normalize(X, dim=1, eps=tiny) @ F.normalize(Y, dim=1, eps=tiny).T
    # rbf, with squared distances expanded as scikit-learn computes them.
    squared = (X * X).sum(dim=1)[:, None] - 2 * (X @ Y.T) + (Y * Y).sum(dim=1)[None]
    return torch.exp(-gamma * squared.clamp_min(0))


class Encoder:
    """Map samples to codes with an encoder of any kind LatentInverter accepts.

    Parameters
    ----------
    encoder : object
        A fitted object with ``transform``, a torch module, a skorch net or
        a torch callable. A tuple output gives its first element, the mean
        code of a VAE encoder.
    n_components : int
        Width of the codes the encoder must return.
    owner : str
        Name used in error messages.
    device : str, torch.device or None, default=None
        Device for a torch callable without a module behind it.
    """

    def __init__(self, encoder, n_components, *, owner, device=None):
        self.encoder = encoder
        self.n_components = n_components
        self.owner = owner
        model = unwrap_frozen(encoder)
        self._transformer = None
        self._forward = None
        check_fitted(model, owner, "encoder")
        if hasattr(model, "transform") and not isinstance(model, nn.Module):
            self._transformer = model
            return
        if _is_skorch_net(model):
            model = model.module_
        self._function = model
        self._forward = _function_forward(model, n_components, device)

    def __call__(self, X):
        """Return the codes of the samples ``X`` as float64.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            Codes.

        Raises
        ------
        ValueError
            If the encoder fails, or returns codes of another shape or with
            NaN or infinite values.
        """
        if self._transformer is not None:
            model = self._transformer
            Z = model.transform(as_model_input(model, X))
            described = f"encoder={type(model).__name__}"
        else:
            Z = _probe(self._forward, self._function, X, self.owner, "encoder")
            described = f"encoder={_describe(self._function)}"
        Z = np.asarray(Z, dtype=np.float64)
        expected = (X.shape[0], self.n_components)
        if Z.shape != expected:
            raise ValueError(
                f"{self.owner}: {described} returned codes of shape {Z.shape} "
                f"for {X.shape[0]} samples, but the decoder reads codes of shape "
                f"{expected}. An encoder that returns the mean and the "
                "log-variance side by side must return them as a tuple "
                "(mean, log_variance), or be wrapped to return the mean only."
            )
        if not np.all(np.isfinite(Z)):
            raise ValueError(
                f"{self.owner}: {described} returned NaN or infinite codes. "
                "Check the encoder on these samples, or pass encoder=None to "
                "start from draws of the prior."
            )
        return Z
