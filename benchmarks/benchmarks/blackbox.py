"""Benchmarks of BlackBoxInverter against SciPy's differential evolution per target.

The problem is Friedman #1 (``sklearn.datasets.make_friedman1``): 10 inputs
uniform on [0, 1], of which 5 matter, and 2,000 training samples. Two models
without gradients are fitted to it, a RandomForestRegressor (50 trees,
``min_samples_leaf=3``) and a HistGradientBoostingRegressor with its
defaults. The 100 targets are each model's outputs for 100 fresh inputs, so
every target can be reached inside the training box.

BlackBoxInverter inverts all 100 targets in one call. The baseline is what
users write without skinvert: ``scipy.optimize.differential_evolution`` run
once per target on the squared error. It evaluates its population in one
``predict`` call per generation (``vectorized=True``) and skips the gradient
polish, which is useless on trees. A callback stops it once the target is
reached by the inverter's rule. Both use the inverter's default ``tol=1e-4``,
relative to the standard deviation of the training outputs, and the training
box as bounds. Differential evolution runs on the first ``DE_SUBSET`` targets
only, and the ratio scales its time linearly to 100 targets.

Run the whole suite with ``asv run --python=same --quick`` from the
``benchmarks`` folder, or this module with ``python -m benchmarks.blackbox``
from there to print the times, residuals and ratios.
"""

import time
import warnings

import numpy as np
from scipy.optimize import differential_evolution
from sklearn.datasets import make_friedman1
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from skinvert import BlackBoxInverter

from .common import RANDOM_SEED, measure_best_times

N_FEATURES = 10
N_TRAIN = 2_000
N_TARGETS = 100
# A target counts as reached at this root-mean-square error over the
# standard deviation of the training outputs, for both methods.
TOL = 1e-4

# Differential evolution on all 100 targets took 19.4 s (forest) and 13.7 s
# (boosting) per call on the machine in BENCHMARKS.md, so it runs on the
# first DE_SUBSET targets and the ratio scales its time to N_TARGETS. Its
# time per target varies between targets, so the scaled time is an estimate.
DE_SUBSET = 20
# Generations per target for differential evolution, as BlackBoxInverter's
# default max_iter.
DE_MAX_ITER = 1000

# Calls of each function in the side-by-side ratio measurement. One call of
# differential evolution on the subset takes seconds, so one is enough for a
# ratio of this size.
RATIO_REPEATS = 1

MODELS = {
    "random_forest": lambda: RandomForestRegressor(
        n_estimators=50, min_samples_leaf=3, random_state=RANDOM_SEED
    ),
    "hist_gradient_boosting": lambda: HistGradientBoostingRegressor(
        random_state=RANDOM_SEED
    ),
}


def limit_threads():
    """Limit BLAS and OpenMP to one thread each.

    HistGradientBoostingRegressor predicts with OpenMP threads, so the BLAS
    limit of ``common.limit_blas_threads`` alone would leave it free.

    Returns
    -------
    limiter : threadpoolctl.threadpool_limits
        Call ``restore_original_limits()`` to undo the limit.
    """
    return threadpool_limits(limits=1)


def build_problem():
    """Fit both models and draw the targets.

    Returns
    -------
    problem : dict
        ``"X"``, the training inputs, and per model name a dict with the
        fitted ``"model"`` and its ``"targets"``, an ndarray of shape
        (N_TARGETS,).
    """
    X, y = make_friedman1(N_TRAIN, n_features=N_FEATURES, random_state=RANDOM_SEED)
    # Fresh inputs from another seed, so that no target is a training output.
    X_new, _ = make_friedman1(
        N_TARGETS, n_features=N_FEATURES, random_state=RANDOM_SEED + 1
    )
    problem = {"X": X}
    with limit_threads():
        for name, make in MODELS.items():
            model = make().fit(X, y)
            problem[name] = {"model": model, "targets": model.predict(X_new)}
    return problem


def invert_with_differential_evolution(model, targets, lower, upper, scale):
    """Invert each target with its own differential evolution run.

    Parameters
    ----------
    model : regressor
        Fitted model with one output.
    targets : ndarray of shape (n_targets,)
        Targets.
    lower, upper : ndarray of shape (n_features,)
        Box to search.
    scale : float
        Standard deviation of the training outputs; a run stops once its
        error is at most ``TOL * scale``.

    Returns
    -------
    X : ndarray of shape (n_targets, n_features)
        Best input found per target.
    """
    threshold = (TOL * scale) ** 2
    bounds = list(zip(lower, upper, strict=True))
    X = np.empty((targets.size, lower.size))
    for i, target in enumerate(targets):

        def squared_error(population, target=target):
            # With vectorized=True the population arrives as (n_features, n).
            return (model.predict(population.T) - target) ** 2

        result = differential_evolution(
            squared_error,
            bounds,
            maxiter=DE_MAX_ITER,
            polish=False,
            seed=RANDOM_SEED,
            vectorized=True,
            updating="deferred",
            callback=lambda intermediate_result: intermediate_result.fun <= threshold,
        )
        X[i] = result.x
    return X


class BlackBoxInverterSuite:
    """Inversion of 100 targets through a forest or a boosted model, 10 inputs.

    Every benchmark runs with BLAS and OpenMP limited to one thread.
    """

    params = list(MODELS)
    param_names = ["model"]
    timeout = 300

    def setup_cache(self):
        return build_problem()

    def setup(self, problem, model):
        self.thread_limit = limit_threads()
        self.model = problem[model]["model"]
        self.targets = problem[model]["targets"]
        self.inverter = BlackBoxInverter(
            self.model, tol=TOL, random_state=RANDOM_SEED
        ).fit(problem["X"])
        self.lower, self.upper = self.inverter.bounds_
        self.scale = float(self.inverter.output_scale_[0])

    def teardown(self, problem, model):
        self.thread_limit.restore_original_limits()

    def run_inverter(self):
        with warnings.catch_warnings():
            # Targets the search misses are reported by the residual tracks.
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self.inverter.invert(self.targets)

    def run_differential_evolution(self):
        return invert_with_differential_evolution(
            self.model, self.targets[:DE_SUBSET], self.lower, self.upper, self.scale
        )

    def time_blackbox_inverter(self, problem, model):
        """Time BlackBoxInverter.invert on all 100 targets."""
        self.run_inverter()

    def time_differential_evolution(self, problem, model):
        """Time one differential evolution run per target, on the first 20."""
        self.run_differential_evolution()

    def track_ratio_vs_differential_evolution(self, problem, model):
        """Measure the inverter's time over differential evolution's, scaled to 100."""
        inverter, evolution = measure_best_times(
            [self.run_inverter, self.run_differential_evolution], RATIO_REPEATS
        )
        return inverter / (evolution * N_TARGETS / DE_SUBSET)

    track_ratio_vs_differential_evolution.unit = "ratio"

    def track_blackbox_residual(self, problem, model):
        """Measure the inverter's mean error over the 100 targets, in output stds."""
        return float(np.mean(self.run_inverter().residual) / self.scale)

    track_blackbox_residual.unit = "output std"

    def track_differential_evolution_residual(self, problem, model):
        """Measure differential evolution's mean error on its 20 targets, in stds."""
        X = self.run_differential_evolution()
        error = np.abs(self.model.predict(X) - self.targets[:DE_SUBSET])
        return float(np.mean(error) / self.scale)

    track_differential_evolution_residual.unit = "output std"


def main():
    """Print times, residuals and the ratio for both models."""
    suite = BlackBoxInverterSuite()
    problem = suite.setup_cache()
    print(
        f"{N_TARGETS} targets, differential evolution on the first {DE_SUBSET}, "
        f"tol={TOL}; errors in standard deviations of the training outputs"
    )
    for model in BlackBoxInverterSuite.params:
        suite.setup(problem, model)
        start = time.perf_counter()
        result = suite.run_inverter()
        inverter_seconds = time.perf_counter() - start
        start = time.perf_counter()
        X = suite.run_differential_evolution()
        evolution_seconds = time.perf_counter() - start
        suite.teardown(problem, model)

        evolution_error = np.abs(suite.model.predict(X) - suite.targets[:DE_SUBSET])
        reached = TOL * suite.scale
        scaled = evolution_seconds * N_TARGETS / DE_SUBSET
        print(
            f"{model}: inverter {inverter_seconds:.2f} s for {N_TARGETS} targets, "
            f"mean error {np.mean(result.residual) / suite.scale:.3g} "
            f"({np.mean(result.residual[:DE_SUBSET]) / suite.scale:.3g} on the "
            f"first {DE_SUBSET}), {int(np.sum(result.residual > reached))} missed; "
            f"differential evolution {evolution_seconds:.2f} s for {DE_SUBSET} "
            f"({scaled:.1f} s scaled to {N_TARGETS}), mean error "
            f"{np.mean(evolution_error) / suite.scale:.3g}, "
            f"{int(np.sum(evolution_error > reached))} missed; "
            f"time ratio {inverter_seconds / scaled:.3g}",
            flush=True,
        )


if __name__ == "__main__":
    main()
