"""Latent codes of generative models, found by optimizing through the decoder."""

import warnings
from numbers import Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.decomposition import PCA, KernelPCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array, validate_data

from ._base import reject_bool_alpha, split_not_converged
from ._decoders import (
    Encoder,
    build_decoder_forward,
    check_fitted,
    code_step,
    latent_dimension,
)
from ._gradient import GradientInverter
from ._logging import enable_verbose_output, log_summary
from ._prior import fit_input_prior
from ._torch_models import describe_output
from ._validation import FLOAT_DTYPES

# Codes decoded in fit to probe the decoder and to measure the spread of its
# samples, the unit of tol.
_N_REFERENCE_CODES = 1000

_SHARED_CONSTRAINTS = (
    "optimizer",
    "max_iter",
    "tol",
    "n_restarts",
    "random_state",
    "device",
    "batch_size",
)


class LatentInverter(GradientInverter):
    r"""Find the latent code from which a generative model's decoder makes a sample.

    The decoder ``g`` of a VAE, an autoencoder or a GAN generator, or a
    fitted scikit-learn decomposition used as one, maps codes ``z`` to
    samples ``x``. For each sample the inverter solves

    .. math::

        \min_z \ell(g(z), x) + \alpha \|L^{-1}(z - \mu)\|^2

    where ``ell`` is the squared error summed over features (or ``loss``)
    and ``N(mu, L L^T)`` is the prior over codes. The optimization starts
    from the encoder's code when there is an encoder, else from draws of the
    prior, and runs the batched L-BFGS or Adam loop of
    :class:`GradientInverter`: all samples and starts are optimized
    together, ``batch_size`` rows at a time, each with its own line search
    and stopping test.

    The forward model of this transformer is the decoder: ``transform(Z)``
    decodes codes, ``inverse_transform(X)`` returns the codes of samples and
    ``invert(X)`` adds the reconstruction error per sample, whether each
    sample was reproduced within ``tol``, and every candidate code.

    Parameters
    ----------
    decoder : object
        Maps codes of shape (n, n_components) to samples. One of:

        - a ``torch.nn.Module``, used as it is: its weights, dtype and device
          are never changed, and its ``training`` and ``requires_grad`` flags
          are restored after every call, also one that raised;
        - a bound method of a module, such as ``vae.decode``, which is
          handled like that module;
        - another callable that takes a float64 tensor and returns a tensor.
          It must be written in torch so that gradients flow through it;
        - an initialized skorch net, whose ``module_`` is used;
        - a fitted scikit-learn decomposition whose ``inverse_transform``
          is affine (PCA, TruncatedSVD, a Pipeline of scalers and PCA), or a
          ``KernelPCA`` fitted with ``fit_inverse_transform=True`` and one of
          the kernels linear, poly, rbf, sigmoid or cosine;
        - a fitted regressor from codes to samples that
          :class:`GradientInverter` supports, such as ``MLPRegressor``.

        A decoder output with more than two dimensions, such as images, is
        flattened row by row to compare it with the rows of X. A tuple
        output gives its first element.
    encoder : object or None, default=None
        Maps samples to the codes the optimization starts from: a fitted
        object with ``transform`` (for a decomposition, its ``transform``),
        a torch module, a skorch net, or a torch callable. It gets X as a
        2-D tensor in its module's dtype, or in float64 for a callable
        without a module. A tuple output gives its first element, so a VAE
        encoder that returns ``(mean, log_variance)`` starts from the mean.
        None starts every sample from draws of the prior.
    alpha : float, default=0.0
        Weight of the prior term. With the default, the code returned is the
        one whose decoding is closest to the sample among those the starts
        lead to, and an exact code where one exists. The other inverters
        likewise return an input whose prediction matches the target. The
        prior then only places the random starts.
        For a decoder with Gaussian noise of variance ``sigma**2`` per
        feature, ``alpha=sigma**2`` gives the most probable code under the
        prior (MAP). A small alpha keeps codes typical under the prior when
        the decoder cannot reproduce a sample exactly.
    loss : "squared_error" or callable, default="squared_error"
        Reconstruction loss. A callable ``loss(x_hat, x)`` gets two tensors
        of shape (n, n_features), the decoded samples and the samples, and
        must return a tensor of shape (n,) with one loss per sample,
        computed with torch operations. A loss that mixes rows would make
        each code depend on the other samples in its batch.
    n_restarts : int, default=0
        Extra starts per sample, drawn from the prior. All are returned in
        ``invert(X).candidates``, best first.
    max_iter : int, default=200
        Iterations per start.
    tol : float, default=1e-4
        A sample counts as reproduced when the root-mean-square over
        features of its reconstruction error is at most ``tol`` times
        ``output_scale_``. A start stops early once it is ten times below.
        Samples that no code reproduces (noisy samples, or samples unlike
        the training data) get a ConvergenceWarning and
        ``converged=False``. Raise tol to the noise level of the samples to
        accept their codes.
    optimizer : {"lbfgs", "adam"}, default="lbfgs"
        Projected L-BFGS with an Armijo line search per sample, or Adam with
        a step size per sample that shrinks when its loss stalls.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws from the prior. The torch global random state is
        never used.
    device : str, torch.device or None, default=None
        Where to compute. None means the device of a torch decoder, else
        the CPU. A user's torch module is never moved; a different device
        raises.
    batch_size : int, default=1000
        Rows (samples times starts) optimized at once; bounds memory. Each
        row is optimized on its own, so the codes depend on it only through
        rounding (see Notes).
    verbose : int, default=0
        0 is silent; 1 logs the decoder and the prior at fit through the
        ``skinvert`` logger, and shows a progress bar over the iterations of
        each batch.

    Attributes
    ----------
    prior_mean_ : ndarray of shape (n_components,)
        Mean of the prior over codes.
    prior_scale_ : ndarray of shape (n_components,)
        Standard deviation of each code under the prior; the optimization
        runs in codes divided by it.
    prior_covariance_ : ndarray of shape (n_components, n_components)
        Covariance of the prior over codes.
    output_scale_ : ndarray of shape (n_outputs,)
        Spread of the decoded samples, the unit of ``tol``: the
        root-mean-square over features of the standard deviation of samples
        decoded from 1,000 codes (drawn from the prior with a fixed seed, or
        taken from Z), the same value for every feature.
    bounds_ : None
        Codes have no bounds.
    n_outputs_ : int
        Number of features of a decoded sample.
    n_features_in_ : int
        Number of code components, the width of Z.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the code components, when Z had string column names.

    See Also
    --------
    GradientInverter : Inversion of differentiable models by the same loop.
    sklearn.decomposition.PCA : Its ``transform`` is the least-squares code of
        its ``inverse_transform``.

    Notes
    -----
    The prior over codes is, in this order: the mean and covariance of the
    codes Z passed to ``fit``; for a PCA without whitening, the Gaussian of
    its codes, ``N(0, diag(explained_variance_))``; for a KernelPCA, the
    mean and covariance of its training codes; else the standard normal
    prior of VAEs and GANs, which the codes of a whitened PCA also follow.
    Other decompositions, such as TruncatedSVD, NMF and FastICA, store no
    mean of their codes, so ``fit`` needs their codes as Z. The width of
    the codes comes from Z or is read
    off the decoder: its ``latent_dim`` or ``n_components_`` attribute, the
    components of a decomposition, the first ``nn.Linear`` of an
    ``nn.Sequential``, or a regressor's ``n_features_in_``. Where none of
    these exists, ``fit`` needs Z.

    With ``alpha > 0`` the reconstruction error is part of the trade-off, so
    a sample whose error exceeds ``tol`` is solved again without the prior
    (by L-BFGS, from the answer and from its first start) to tell a sample
    the decoder cannot reproduce from a regularized one. The result reports
    the reconstruction error as the root-mean-square error over features,
    also with a callable ``loss``.

    The reconstruction error is measured in the units of X. So for a
    Pipeline such as ``make_pipeline(StandardScaler(), PCA())`` the codes
    differ from ``pipeline.transform(X)``, which is the least-squares code
    in the scaled units.

    ``invert(X).X`` contains the codes, since the codes are the inputs of the
    forward model. Codes can differ slightly between batch sizes, because
    torch's kernels round differently for different batch shapes. For a
    sample the decoder cannot reproduce, that rounding can move the
    iteration at which a start stops. On a small float64 MLP decoder the
    codes then differed by up to 5e-8. A float32 decoder computes in
    float32: for samples it cannot reproduce, codes were about 2e-3 from
    the float64 least-squares codes of an ``nn.Linear`` decoder, and moved by
    up to 8e-4 with ``batch_size`` on a small VAE.

    Examples
    --------
    A PCA with 8 components cannot reproduce a digit exactly, so ``tol``
    accepts reconstruction errors up to the spread of decoded digits. The
    codes found are PCA's own least-squares codes:

    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from skinvert import LatentInverter
    >>> X = load_digits().data
    >>> pca = PCA(n_components=8, random_state=0).fit(X)
    >>> inverter = LatentInverter(pca, tol=1.0, random_state=0).fit()
    >>> result = inverter.invert(X[:4])
    >>> bool(result.converged.all())
    True
    >>> bool(np.allclose(result.X, pca.transform(X[:4]), atol=1e-3))
    True
    """

    _supports_classifiers = False

    # Adam's initial step in codes divided by prior_scale_, where the prior
    # has unit scale. It is not a parameter: the codes are standardized.
    learning_rate = 0.05

    _parameter_constraints: dict = {
        "decoder": [
            HasMethods(["inverse_transform"]),
            HasMethods(["predict"]),
            callable,
        ],
        "encoder": [
            HasMethods(["transform"]),
            HasMethods(["forward"]),
            callable,
            None,
        ],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "loss": [StrOptions({"squared_error"}), callable],
        "verbose": ["verbose"],
        **{
            name: GradientInverter._parameter_constraints[name]
            for name in _SHARED_CONSTRAINTS
        },
    }

    def __init__(
        self,
        decoder,
        *,
        encoder=None,
        alpha=0.0,
        loss="squared_error",
        n_restarts=0,
        max_iter=200,
        tol=1e-4,
        optimizer="lbfgs",
        random_state=None,
        device=None,
        batch_size=1000,
        verbose=0,
    ):
        self.decoder = decoder
        self.encoder = encoder
        self.alpha = alpha
        self.loss = loss
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.tol = tol
        self.optimizer = optimizer
        self.random_state = random_state
        self.device = device
        self.batch_size = batch_size
        self.verbose = verbose

    def _resolved_estimator(self):
        return self.decoder

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # fit learns the prior from codes alone.
        tags.target_tags.required = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, Z=None, y=None):
        """Learn the prior over codes and prepare the decoder and the encoder.

        Parameters
        ----------
        Z : array-like of shape (n_codes, n_components) or None, default=None
            Sample codes, for example the encoder's codes of training
            samples. When given, the prior is their mean and covariance.
            When None, the prior is the decoder's own (see Notes) and the
            width of the codes is read off the decoder.
        y : None
            Ignored. Present for API consistency by convention.

        Returns
        -------
        self : object
            Fitted inverter.
        """
        reject_bool_alpha(self)
        name = type(self).__name__
        check_fitted(self.decoder, name, "decoder")
        n_components = latent_dimension(self.decoder)
        if Z is None:
            if n_components is None:
                raise ValueError(
                    f"{name} cannot read the width of the codes of decoder="
                    f"{_short_repr(self.decoder)}. Pass sample codes to "
                    "fit(Z), or give the decoder module an integer attribute "
                    "latent_dim."
                )
            self.n_features_in_ = n_components
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            Z = validate_data(self, Z, dtype=FLOAT_DTYPES)
            Z = np.asarray(Z, dtype=np.float64)
            if n_components is not None and Z.shape[1] != n_components:
                raise ValueError(
                    f"Z has {Z.shape[1]} features, but {name} is expecting "
                    f"{n_components} features, the width of the codes that "
                    f"decoder={_short_repr(self.decoder)} reads."
                )

        prior, source = self._fit_prior(Z)
        self.prior_mean_ = prior["mean"]
        self.prior_scale_ = prior["scale"]
        self.prior_covariance_ = prior["covariance"]
        self._prior_sqrt = prior["sqrt"]
        self._prior_inverse_sqrt = prior["inverse_sqrt"]
        self.bounds_ = None

        # A fixed seed keeps output_scale_, the unit of tol, the same
        # between fits.
        reference = self._reference_codes(Z, np.random.default_rng(0))
        self._prepare_forward(reference)
        decoded = self._run_forward(reference)
        if not np.all(np.isfinite(decoded)):
            raise ValueError(
                f"{name}: the decoder returns NaN or infinite values for codes "
                f"from the prior ({source}). Check the decoder, or pass codes "
                "it handles to fit(Z)."
            )
        self.n_outputs_ = decoded.shape[1]
        self._output_names = None
        spread = float(np.sqrt(np.mean(decoded.var(axis=0))))
        spread = spread if spread > 0 else 1.0
        self.output_scale_ = np.full(self.n_outputs_, spread)

        self._encoder = None
        if self.encoder is not None:
            self._encoder = Encoder(
                self.encoder, self.n_features_in_, owner=name, device=self.device
            )
            # Encoding decoded samples checks the encoder now, not at the
            # first inversion.
            self._encoder(decoded[: min(8, decoded.shape[0])])

        enable_verbose_output(self.verbose)
        log_summary(
            self.verbose,
            "%s: decoder %s maps %d code components to %d features; prior: %s.",
            name,
            _short_repr(self.decoder),
            self.n_features_in_,
            self.n_outputs_,
            source,
        )
        return self

    def _fit_prior(self, Z):
        """Return the prior over codes and a description of where it comes from."""
        if Z is not None:
            return fit_input_prior(Z, "full"), "mean and covariance of Z"
        model = code_step(self.decoder)
        n_components = self.n_features_in_
        # A KernelPCA stores its training codes only when it was fitted with
        # fit_inverse_transform=True, which the decoder needs anyway.
        codes = getattr(model, "X_transformed_fit_", None)
        if isinstance(model, KernelPCA) and codes is not None:
            return fit_input_prior(codes, "full"), "KernelPCA training codes"
        variance = getattr(model, "explained_variance_", None)
        if isinstance(model, PCA) and not model.whiten:
            return _diagonal_prior(np.zeros(n_components), variance), (
                "N(0, diag(explained_variance_)) of the PCA"
            )
        if hasattr(model, "components_") and not isinstance(model, PCA):
            # TruncatedSVD, NMF, FastICA and the like keep no mean of their
            # codes, which are far from standard normal (TruncatedSVD's do
            # not even center the data).
            raise ValueError(
                f"{type(self).__name__} cannot tell the distribution of the "
                f"codes of the {type(model).__name__} in decoder="
                f"{_short_repr(self.decoder)}, because it stores no mean of "
                "them. Pass its codes of training samples to fit, for "
                "example fit(decoder.transform(X_train))."
            )
        return _diagonal_prior(np.zeros(n_components), np.ones(n_components)), (
            "standard normal"
        )

    def _reference_codes(self, Z, rng):
        if Z is None:
            return self._prior_draws(rng, (_N_REFERENCE_CODES,))
        if Z.shape[0] <= _N_REFERENCE_CODES:
            return Z
        return Z[np.sort(rng.choice(Z.shape[0], _N_REFERENCE_CODES, replace=False))]

    def _prepare_forward(self, Z):
        self._check_device()
        # Built outside inference mode, so that a graph built inside one can
        # still be differentiated later.
        with torch.inference_mode(False):
            self._forward = build_decoder_forward(
                self.decoder, Z, owner=type(self).__name__, device=self.device
            )

    def _predict(self, Z):
        return self._run_forward(Z)

    def _check_targets(self, X):
        X = check_array(X, dtype=FLOAT_DTYPES, input_name="X", estimator=self)
        if X.shape[1] != self.n_outputs_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_outputs_} features, the width of a decoded "
                "sample."
            )
        return X

    def _starting_points(self, X):
        """Return starts of shape (n_samples, 1 + n_restarts, n_components)."""
        rng = check_random_state(self.random_state)
        n_samples = X.shape[0]
        if self._encoder is None:
            return self._prior_draws(rng, (n_samples, 1 + self.n_restarts))
        rows = range(0, n_samples, self.batch_size)
        first = np.vstack(
            [self._encoder(X[start : start + self.batch_size]) for start in rows]
        )
        draws = self._prior_draws(rng, (n_samples, self.n_restarts))
        return np.concatenate([first[:, None], draws], axis=1)

    def _loss_scale(self, Y):
        normalizer, loss_floor = super()._loss_scale(Y)
        if callable(self.loss):
            # A loss of the user's may be negative, such as a negative
            # log-likelihood, so no value of it means an exact fit.
            loss_floor = -np.inf
        return normalizer, loss_floor

    def _data_misfit(self, x, targets, is_label, target_rows):
        forward = self._forward
        decoded = forward.values(forward.module(x))
        if not callable(self.loss):
            return ((decoded - targets) ** 2).sum(dim=1)
        values = self.loss(decoded, targets)
        expected = (x.shape[0],)
        if not isinstance(values, torch.Tensor) or tuple(values.shape) != expected:
            raise ValueError(
                f"{type(self).__name__}: loss must return one value per sample, "
                f"a tensor of shape {expected}, but it returned "
                f"{describe_output(values)}. "
                "Reduce over features only, for example "
                "(x_hat - x).abs().sum(dim=1), never over samples."
            )
        if torch.is_grad_enabled() and not values.requires_grad:
            raise ValueError(
                f"{type(self).__name__}: loss returned a tensor without a "
                "gradient with respect to x_hat. Compute it with torch "
                "operations only: detach(), numpy() and torch.no_grad() cut "
                "the gradient."
            )
        return values

    def _prior_penalty(self, z, x, constants):
        whitened = (x - constants["mean"]) @ constants["inverse_sqrt_t"]
        return (whitened * whitened).sum(dim=1)

    def _input_feature_names(self):
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return names
        return np.asarray([f"z{i}" for i in range(self.n_features_in_)], dtype=object)

    def _warn_not_converged(self, result):
        # stacklevel 4: the overrides of invert and inverse_transform below
        # add one frame between the user's call and this method.
        name = type(self).__name__
        n_samples = np.size(result.converged)
        unfinished, unreachable = split_not_converged(result)
        if unfinished.any():
            warnings.warn(
                f"{name}: {int(unfinished.sum())} of {n_samples} samples did not "
                f"converge within max_iter={self.max_iter} iterations. Increase "
                "max_iter, or check invert(X).residual.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if unreachable.any():
            warnings.warn(
                f"{name}: {int(unreachable.sum())} of {n_samples} samples were "
                "not reproduced by the decoder: their smallest reconstruction "
                f"error found is above tol={self.tol} in units of output_scale_, "
                "the spread of decoded samples. The returned codes give the "
                "closest reconstructions found; invert(X).residual gives the "
                "error per sample. Raise tol to the noise level of the samples, "
                "or raise n_restarts, since an iterative search may end in a "
                "local minimum.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def transform(self, Z):
        """Decode codes into samples.

        Parameters
        ----------
        Z : array-like of shape (n_codes, n_components)
            Codes.

        Returns
        -------
        X : ndarray of shape (n_codes, n_outputs)
            Decoded samples, flattened to one row each, in the dtype of Z.
        """
        return super().transform(Z)

    def invert(self, X):
        """Find the codes of samples, with the reconstruction error per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_outputs)
            Samples, one flattened row each.

        Returns
        -------
        result : InversionResult
            ``X`` contains the codes, of shape (n_samples, n_components), in the
            dtype of the samples. ``residual`` is the root-mean-square
            reconstruction error over features, in the units of the samples.
            With ``alpha=0``, ``converged`` is True where it is within
            ``tol``. With ``alpha > 0`` the prior may keep the returned code
            from that, so ``converged`` is True where a search without the
            prior reproduces the sample within ``tol`` and the search with
            it stopped at its optimum.
            ``candidates`` contains the code found from every start, best first,
            and ``candidate_losses`` their objective values.
        """
        return super().invert(X)

    def inverse_transform(self, X):
        """Find the codes of samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_outputs)
            Samples, one flattened row each.

        Returns
        -------
        Z : ndarray or DataFrame of shape (n_samples, n_components)
            Codes, in the dtype of X. They are a DataFrame when the output
            is set to pandas with :meth:`set_output`.
        """
        return super().inverse_transform(X)

    def score(self, Z, y, sample_weight=None):
        """Return the R² of the codes recovered from samples ``y`` against ``Z``.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_components)
            True codes.
        y : array-like of shape (n_samples, n_outputs)
            Samples decoded from ``Z``, possibly with noise.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            R² of ``inverse_transform(y)`` against ``Z``, averaged uniformly
            over code components.
        """
        return super().score(Z, y, sample_weight=sample_weight)


def _diagonal_prior(mean, variance):
    """Return a Gaussian prior with independent components, as fit_input_prior."""
    scale = np.sqrt(np.asarray(variance, dtype=np.float64))
    # A component without variance gets unit scale, as in fit_input_prior,
    # so that standardizing never divides by zero.
    scale[scale == 0] = 1.0
    return {
        "mean": np.asarray(mean, dtype=np.float64),
        "scale": scale,
        "sqrt": np.diag(scale),
        "inverse_sqrt": np.diag(1.0 / scale),
        "covariance": np.diag(scale**2),
    }


def _short_repr(obj):
    text = repr(obj)
    return text if len(text) <= 60 else f"{type(obj).__name__}(...)"
