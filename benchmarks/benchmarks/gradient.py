"""Benchmarks of GradientInverter's batched loop against hand-written torch loops.

The model is a plain ``torch.nn.Sequential`` MLP, 8 -> 256 -> 256 -> 4 with
tanh, whose weights are drawn with ``numpy.random.default_rng(RANDOM_SEED)``
like PyTorch's default ``nn.Linear`` initialization. It is not trained. The
targets are the model's outputs for inputs drawn uniformly from the training
box ``[-1, 1] ** 8``, so every target is reachable inside the bounds.

GradientInverter is compared with two baselines written in plain torch:

- the floor: one loop of ``torch.optim.Adam`` (or ``torch.optim.LBFGS``) over
  all targets stacked in one tensor, with the same number of steps;
- what users write without skinvert: one such loop per target.

Run the whole suite with ``asv run --python=same --quick`` from the
``benchmarks`` folder, or this module with ``python -m benchmarks.gradient``
from there to print the times, gradient evaluation counts and ratios.
"""

import os
import warnings

import numpy as np
import torch

# torch.optim imports torch._dynamo when it builds the first optimizer in a
# process, which took 1.5 s on the machine in BENCHMARKS.md. Importing it with
# this module lets `asv run --launch-method forkserver` pay for it once, in the
# process that preloads the suite, in place of every benchmark's setup.
import torch._dynamo  # noqa: F401
from sklearn.exceptions import ConvergenceWarning

from skinvert import GradientInverter

from .common import (
    RANDOM_SEED,
    TORCH_THREADS,
    TorchThreadLimit,
    limit_blas_threads,
    make_uniform_inputs,
    measure_best_times,
)

N_FEATURES = 8
N_HIDDEN = 256
N_OUTPUTS = 4
N_TRAIN = 2_000
MAX_TARGETS = 10_000
BOX = (-1.0, 1.0)

# Iterations per target for GradientInverter and the baselines alike. With 50,
# `asv run --python=same --quick -b gradient` took 14 minutes on the 2-core
# machine in BENCHMARKS.md, under a load average of about 5 from other
# processes. The suite compares the cost per step, which needs fewer steps.
N_STEPS = 20
# GradientInverter's default initial Adam step, in standardized input units.
LEARNING_RATE = 0.05
# A target counts as reached at a relative root-mean-square error of TOL, and
# a row stops once its error is ten times below. 1e-12 is far below what
# N_STEPS steps reach, so no row stops by reaching its target.
TOL = 1e-12

# The one-target loops run on the first ONE_TARGET_SUBSET targets only, and
# the ratios compare times per evaluation on that subset. At the 6 ms per
# target of 20 Adam steps in BENCHMARKS.md, the full loop would take about a
# minute per call at 10,000 targets.
ONE_TARGET_SUBSET = 10

# Calls of each function in the side-by-side ratio measurements.
RATIO_REPEATS = 3


def draw_mlp_weights(rng):
    """Draw the weights of the 8 -> 256 -> 256 -> 4 MLP.

    Every weight and bias of a layer with ``fan_in`` inputs is uniform in
    ``[-1 / sqrt(fan_in), 1 / sqrt(fan_in)]``, the default initialization of
    ``torch.nn.Linear``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    layers : list of (ndarray, ndarray)
        Weight of shape (fan_out, fan_in) and bias of shape (fan_out,) of
        each linear layer, in float64.
    """
    sizes = [N_FEATURES, N_HIDDEN, N_HIDDEN, N_OUTPUTS]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / np.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        bias = rng.uniform(-bound, bound, size=fan_out)
        layers.append((weight, bias))
    return layers


def build_mlp(layers, dtype):
    """Build the tanh MLP from ``draw_mlp_weights`` output, in eval mode.

    Parameters
    ----------
    layers : list of (ndarray, ndarray)
        Weights and biases of the linear layers.
    dtype : torch.dtype
        Dtype of the parameters.

    Returns
    -------
    module : torch.nn.Sequential
        Linear layers with tanh between them. The parameters keep
        ``requires_grad=True``, as in a trained model. GradientInverter and
        the baselines turn it off while they run.
    """
    modules = []
    for weight, bias in layers:
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weight))
            linear.bias.copy_(torch.from_numpy(bias))
        modules += [linear, torch.nn.Tanh()]
    return torch.nn.Sequential(*modules[:-1]).eval()


class GradientEvaluationCounter:
    """Counter of the rows that pass through a module, with and without gradients.

    A forward pre-hook counts the rows of every call. Rows whose input
    requires a gradient are counted as gradient evaluations (a forward pass
    followed by a backward pass in all the loops timed here), the others as
    forward-only evaluations. Use it as a context manager around a call:
    entering resets the counts and registers the hook, and exiting removes
    it. The hook costs one Python call per module call, which changed the
    times of either loop by less than 1 % in 30 repeats at 1 and 100
    targets on the machine in BENCHMARKS.md.

    Parameters
    ----------
    module : torch.nn.Module
        Module to count the calls of.
    """

    def __init__(self, module):
        self.module = module
        self.gradient_rows = 0
        self.forward_rows = 0

    def _count(self, module, inputs):
        (x,) = inputs
        if x.requires_grad:
            self.gradient_rows += x.shape[0]
        else:
            self.forward_rows += x.shape[0]

    def __enter__(self):
        self.gradient_rows = 0
        self.forward_rows = 0
        self.handle = self.module.register_forward_pre_hook(self._count)
        return self

    def __exit__(self, *exc_info):
        self.handle.remove()


class StandardizedProblem:
    """Least-squares inversion of a module in the standardized inputs of skinvert.

    GradientInverter optimizes ``z = (x - mean) / scale``, with the training
    mean and standard deviation, from ``z = 0`` for ``init="mean"``. The
    baselines do the same, so that their steps have the same size and their
    arithmetic per step matches GradientInverter's: one affine map of ``z``,
    the module, and a squared error summed over outputs.

    Parameters
    ----------
    module : torch.nn.Module
        Model, with ``requires_grad=False`` on its parameters.
    mean, scale : Tensor of shape (n_features,)
        Training mean and standard deviation.
    lower, upper : Tensor of shape (n_features,)
        Box in the units of x.
    """

    def __init__(self, module, mean, scale, lower, upper):
        self.module = module
        self.mean = mean
        self.scale = scale
        self.z_lower = (lower - mean) / scale
        self.z_upper = (upper - mean) / scale

    def loss(self, z, targets):
        """Return the squared error summed over outputs and rows."""
        outputs = self.module(self.mean + z * self.scale)
        return ((outputs - targets) ** 2).sum()

    def to_inputs(self, z):
        """Return the inputs, in the units of x, for standardized points ``z``."""
        return self.mean + z.detach() * self.scale

    def run_adam(self, targets, n_steps, learning_rate):
        """Run ``n_steps`` Adam steps on all rows of ``targets`` at once.

        Each step evaluates the loss and its gradient once, so a call makes
        ``n_steps`` gradient evaluations of every row. After each step the
        points are clamped to the box.
        """
        z = torch.zeros(
            (targets.shape[0], self.mean.shape[0]), dtype=targets.dtype
        ).requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=learning_rate)
        for _ in range(n_steps):
            optimizer.zero_grad()
            self.loss(z, targets).backward()
            optimizer.step()
            with torch.no_grad():
                z.clamp_(min=self.z_lower, max=self.z_upper)
        return self.to_inputs(z)

    def run_lbfgs(self, targets, n_steps):
        """Run ``torch.optim.LBFGS`` with ``max_iter=n_steps`` on all rows at once.

        The optimizer minimizes one function, the loss summed over rows, so
        its strong Wolfe line search picks one step length for all rows and its
        stopping tests (the default ``tolerance_grad`` and
        ``tolerance_change``, and ``max_eval = 1.25 * max_iter``) apply to
        the sum. The box is not enforced during the iterations, because
        torch's L-BFGS has no bounds, and the result is clamped to it.
        """
        z = torch.zeros(
            (targets.shape[0], self.mean.shape[0]), dtype=targets.dtype
        ).requires_grad_(True)
        optimizer = torch.optim.LBFGS(
            [z], max_iter=n_steps, line_search_fn="strong_wolfe"
        )

        def closure():
            optimizer.zero_grad()
            loss = self.loss(z, targets)
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            z.clamp_(min=self.z_lower, max=self.z_upper)
        return self.to_inputs(z)


class GradientInverterSuite:
    """Inversion of 1 to 10,000 targets through a tanh MLP, 8 -> 256 -> 256 -> 4.

    Every benchmark runs with torch limited to ``common.TORCH_THREADS``
    thread and BLAS to ``common.BLAS_THREADS`` thread. ``dtype`` is the
    dtype of the module's parameters and of the targets. ``optimizer``
    selects Adam or L-BFGS, in GradientInverter and in the baselines.

    GradientInverter runs with ``init="mean"``, ``bounds=(-1, 1)``,
    ``max_iter=N_STEPS`` (20), ``tol=1e-12``, its default
    ``learning_rate=0.05`` and its default ``batch_size=1000``, so 10,000
    targets run as 10 batches of 1,000 rows. The baselines start from the
    same point and use the same step count, and the Adam baselines the same
    learning rate.

    Equal work. GradientInverter stops a row before N_STEPS when its loss
    reaches the floor set by ``tol``, which 1e-12 puts out of reach, or on
    its stationarity and step-size tests. Its L-BFGS adds backtracking
    trials per iteration, and torch's L-BFGS stops on tests of the summed
    loss and adds strong Wolfe evaluations. So the ratio benchmarks do not
    assume equal work: a forward hook counts the gradient evaluations of
    rows in each timed call, and the ratios compare times per gradient
    evaluation of one row. With Adam every row of every function made
    exactly N_STEPS evaluations in the runs recorded in BENCHMARKS.md, so
    there the ratio equals the time ratio. With L-BFGS the counts differ,
    and so does the accuracy reached, which the ratio does not weigh.
    ``main`` prints the counts and the plain time ratios.
    """

    params = (
        [1, 100, 1_000, 10_000],
        ["float64", "float32"],
        ["adam", "lbfgs"],
    )
    param_names = ["n_targets", "dtype", "optimizer"]
    timeout = 300

    def setup_cache(self):
        """Draw the model weights, the training inputs and the targets.

        Returns
        -------
        problem : dict
            ``"layers"`` contains the MLP weights of ``draw_mlp_weights``.
            ``"X"`` contains the training inputs, an ndarray of shape
            (N_TRAIN, N_FEATURES). ``"targets"`` contains the float64 model's
            outputs for new inputs from the same box, an ndarray of shape
            (MAX_TARGETS, N_OUTPUTS).
        """
        rng = np.random.default_rng(RANDOM_SEED)
        layers = draw_mlp_weights(rng)
        X = make_uniform_inputs(rng, N_TRAIN, N_FEATURES, *BOX)
        target_inputs = make_uniform_inputs(rng, MAX_TARGETS, N_FEATURES, *BOX)
        module = build_mlp(layers, torch.float64)
        with torch.no_grad():
            targets = module(torch.from_numpy(target_inputs)).numpy()
        return {"layers": layers, "X": X, "targets": targets}

    def setup(self, problem, n_targets, dtype, optimizer):
        self.blas_limit = limit_blas_threads()
        self.torch_limit = TorchThreadLimit()
        self.n_targets = n_targets
        self.optimizer = optimizer
        torch_dtype = getattr(torch, dtype)

        self.module = build_mlp(problem["layers"], torch_dtype)
        self.inverter = GradientInverter(
            self.module,
            bounds=BOX,
            init="mean",
            optimizer=optimizer,
            max_iter=N_STEPS,
            tol=TOL,
            learning_rate=LEARNING_RATE,
        ).fit(problem["X"])
        self.targets = np.ascontiguousarray(problem["targets"][:n_targets], dtype=dtype)

        # The baselines use a second module with frozen weights, so that
        # freezing them never touches the module that the inverter holds.
        frozen = build_mlp(problem["layers"], torch_dtype).requires_grad_(False)
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch_dtype)  # noqa: E731
        lower, upper = self.inverter.bounds_
        self.problem = StandardizedProblem(
            frozen,
            as_tensor(self.inverter.prior_mean_),
            as_tensor(self.inverter.prior_scale_),
            as_tensor(lower),
            as_tensor(upper),
        )
        self.target_tensor = torch.from_numpy(self.targets)
        self.n_subset = min(ONE_TARGET_SUBSET, n_targets)

        # One small call of each function runs what torch and skinvert
        # initialize on first use before any timed call, which matters for a
        # quick run's only call.
        self.run_gradient_inverter(self.targets[:1])
        self.run_plain_loop(self.target_tensor[:1])

    def teardown(self, problem, n_targets, dtype, optimizer):
        self.torch_limit.restore()
        self.blas_limit.restore_original_limits()

    def run_gradient_inverter(self, targets=None):
        targets = self.targets if targets is None else targets
        # Adam does not reach tol=1e-12 in N_STEPS steps, and inverse_transform
        # warns about it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self.inverter.inverse_transform(targets)

    def run_plain_loop(self, targets=None):
        targets = self.target_tensor if targets is None else targets
        with torch.enable_grad():
            if self.optimizer == "adam":
                return self.problem.run_adam(targets, N_STEPS, LEARNING_RATE)
            return self.problem.run_lbfgs(targets, N_STEPS)

    def run_one_target_loop(self):
        """Run the plain loop once per target on the first ``n_subset`` targets."""
        rows = [
            self.run_plain_loop(self.target_tensor[i : i + 1])
            for i in range(self.n_subset)
        ]
        return torch.cat(rows)

    def measure(self, baselines):
        """Time the inverter and baselines side by side and count their evaluations.

        The functions run in turn RATIO_REPEATS times, each inside a
        ``GradientEvaluationCounter``. A function makes the same evaluations
        in every call, so the counts of its last call are its counts.

        Parameters
        ----------
        baselines : list of {"plain", "one_target"}
            Baselines to measure next to the inverter.

        Returns
        -------
        counts : dict
            Rows that went through the module with gradients, for
            ``"inverter"`` and each baseline, plus
            ``"inverter_forward_only"``, the rows that the inverter
            evaluated without gradients (the start, the residual and, with
            Adam, the last point).
        times : dict
            Best wall-clock time in seconds of the inverter and each baseline.
        """
        run = {
            "inverter": self.run_gradient_inverter,
            "plain": self.run_plain_loop,
            "one_target": self.run_one_target_loop,
        }
        names = ["inverter", *baselines]
        counters = {
            name: GradientEvaluationCounter(
                self.module if name == "inverter" else self.problem.module
            )
            for name in names
        }

        def counted(name):
            def call():
                with counters[name]:
                    run[name]()

            return call

        best_times = measure_best_times(
            [counted(name) for name in names], RATIO_REPEATS
        )
        counts = {name: counters[name].gradient_rows for name in names}
        counts["inverter_forward_only"] = counters["inverter"].forward_rows
        return counts, dict(zip(names, best_times, strict=True))

    def time_gradient_inverter(self, problem, n_targets, dtype, optimizer):
        """Time GradientInverter.inverse_transform on n_targets targets."""
        self.run_gradient_inverter()

    def time_plain_torch_loop(self, problem, n_targets, dtype, optimizer):
        """Time one plain torch optimizer loop over all n_targets targets stacked.

        With Adam it makes exactly N_STEPS (20) steps. With L-BFGS it is
        ``torch.optim.LBFGS(max_iter=20, line_search_fn="strong_wolfe")`` on
        the loss summed over targets, whose line search and stopping tests
        couple the targets, so it does not solve the same problems as
        GradientInverter. It is what users write, and it is timed anyway.
        """
        self.run_plain_loop()

    def time_one_target_loop(self, problem, n_targets, dtype, optimizer):
        """Time a plain torch optimizer loop per target, on the first 10 targets.

        The reported time covers min(ONE_TARGET_SUBSET, n_targets) targets
        (10, or 1 for n_targets=1), so the time per target is the reported
        time divided by that number. Each target gets its own optimizer, as
        in ``time_plain_torch_loop``.
        """
        self.run_one_target_loop()

    def track_ratio_vs_plain_loop(self, problem, n_targets, dtype, optimizer):
        """Measure the inverter's time per row evaluation relative to the plain loop.

        Both functions run in this process, alternating, and each keeps the
        best of RATIO_REPEATS times. A forward hook counts their gradient
        evaluations of rows (forward and backward pass of one row). The
        ratio is (inverter time / inverter evaluations) / (plain loop time /
        plain loop evaluations), which equals the time ratio when both make
        the same evaluations, as with Adam here. A ratio of 1 means no
        overhead over the plain loop.
        """
        counts, times = self.measure(["plain"])
        return (times["inverter"] / counts["inverter"]) / (
            times["plain"] / counts["plain"]
        )

    track_ratio_vs_plain_loop.unit = "ratio"

    def track_ratio_vs_one_target_loop(self, problem, n_targets, dtype, optimizer):
        """Measure the inverter's time per row evaluation relative to one-target loops.

        Measured as in ``track_ratio_vs_plain_loop``. The one-target loop runs
        on the first min(ONE_TARGET_SUBSET, n_targets) targets, and its time
        and evaluations are both counted on that subset, so the ratio needs
        no extrapolation. A value below 1 means GradientInverter is faster.
        """
        counts, times = self.measure(["one_target"])
        return (times["inverter"] / counts["inverter"]) / (
            times["one_target"] / counts["one_target"]
        )

    track_ratio_vs_one_target_loop.unit = "ratio"


class GradientInverterMemorySuite:
    """Peak memory of the inversion of 10,000 targets through the tanh MLP.

    The problem and settings are those of GradientInverterSuite with
    ``n_targets=10_000``. asv reports the maximum resident set size of the
    whole process, which includes the cached problem, the setup and the
    imports: importing torch, skinvert and this module alone reached 348 MB
    on the machine in BENCHMARKS.md.
    """

    params = (["float64", "float32"], ["adam", "lbfgs"])
    param_names = ["dtype", "optimizer"]
    timeout = 300

    def setup_cache(self):
        return GradientInverterSuite().setup_cache()

    def setup(self, problem, dtype, optimizer):
        self.suite = GradientInverterSuite()
        self.suite.setup(problem, MAX_TARGETS, dtype, optimizer)

    def teardown(self, problem, dtype, optimizer):
        self.suite.teardown(problem, MAX_TARGETS, dtype, optimizer)

    def peakmem_gradient_inverter(self, problem, dtype, optimizer):
        """Measure the peak memory of the process through inverse_transform."""
        self.suite.run_gradient_inverter()


def main():
    """Print times, gradient evaluations and ratios for every parameter set."""
    suite = GradientInverterSuite()
    problem = suite.setup_cache()
    print(
        f"torch {torch.__version__}, {TORCH_THREADS} torch thread(s), "
        f"{N_STEPS} steps, best of {RATIO_REPEATS}, "
        f"load average at start {format_load_average()}"
    )
    print(
        "Columns: best times of the inverter, the plain loop and the one-target\n"
        "loop on its subset | gradient evaluations per target of each (the\n"
        "inverter's forward-only ones in brackets) | inverter time over the plain\n"
        "loop's and over the one-target loop's scaled to n_targets | the same\n"
        "ratios per gradient evaluation of one row (the asv track_ values)"
    )
    for optimizer in GradientInverterSuite.params[2]:
        for dtype in GradientInverterSuite.params[1]:
            for n_targets in GradientInverterSuite.params[0]:
                suite.setup(problem, n_targets, dtype, optimizer)
                counts, times = suite.measure(["plain", "one_target"])
                suite.teardown(problem, n_targets, dtype, optimizer)
                print_row(n_targets, dtype, optimizer, suite.n_subset, counts, times)
    print(f"load average at end {format_load_average()}")


def format_load_average():
    """Return the 1, 5 and 15 minute load averages of the machine as text."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def print_row(n_targets, dtype, optimizer, n_subset, counts, times):
    """Print one line of ``main``'s table."""
    one_target_scaled = times["one_target"] * n_targets / n_subset
    per_eval = {name: times[name] / counts[name] for name in times}
    print(
        f"{n_targets:>9} {dtype:<7} {optimizer:<9} | "
        f"{times['inverter'] * 1e3:9.1f} ms {times['plain'] * 1e3:9.1f} ms "
        f"{times['one_target'] * 1e3:9.1f} ms ({n_subset} targets) | "
        f"{counts['inverter'] / n_targets:.1f} "
        f"(+{counts['inverter_forward_only'] / n_targets:.1f}) "
        f"{counts['plain'] / n_targets:.1f} "
        f"{counts['one_target'] / n_subset:.1f} | "
        f"{times['inverter'] / times['plain']:.3g} "
        f"{times['inverter'] / one_target_scaled:.3g} | "
        f"{per_eval['inverter'] / per_eval['plain']:.3g} "
        f"{per_eval['inverter'] / per_eval['one_target']:.3g}",
        flush=True,
    )


if __name__ == "__main__":
    main()
