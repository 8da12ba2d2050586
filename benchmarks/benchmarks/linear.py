"""Benchmarks of LinearInverter.inverse_transform against two baselines.

The problem is a LinearRegression with 200 features and 50 outputs, fitted on
synthetic Gaussian data, and 100,000 targets to invert. The baselines are the
floor for any closed-form method, one matrix product of the same size, and a
loop that calls ``np.linalg.lstsq`` once per target.

Run the whole suite with ``asv run --python=same --quick`` from the
``benchmarks`` folder, or this module with ``python -m benchmarks.linear`` from
there to print the times and ratios of a few repeats.
"""

import numpy as np
from sklearn.linear_model import LinearRegression

from skinvert import LinearInverter

from .common import (
    RANDOM_SEED,
    limit_blas_threads,
    make_gaussian_inputs,
    make_linear_regression_data,
    measure_best_times,
)

N_FEATURES = 200
N_OUTPUTS = 50
N_TRAIN = 2_000
N_TARGETS = 100_000

# The lstsq loop on all N_TARGETS would take tens of seconds per call (about
# 0.45 ms per target in BENCHMARKS.md), so it runs on the first LSTSQ_SUBSET
# targets only and the ratio benchmark scales its time to N_TARGETS.
LSTSQ_SUBSET = 1_000

# Calls of each function in the side-by-side ratio measurements.
RATIO_REPEATS = 5


class LinearInverterSuite:
    """Inversion of 100,000 targets through a fitted LinearRegression.

    Every benchmark runs with the BLAS limited to ``common.BLAS_THREADS``
    threads. The ``dtype`` parameter sets the dtype of the targets, which
    ``inverse_transform`` keeps in its output.
    """

    params = ["float64", "float32"]
    param_names = ["dtype"]
    timeout = 120

    def setup_cache(self):
        """Fit the forward model and the inverter, and draw the targets.

        Returns
        -------
        problem : dict
            ``"inverter"``, a fitted LinearInverter, and ``"targets"``, an
            ndarray of shape (N_TARGETS, N_OUTPUTS) in float64 containing the
            model's predictions for new inputs drawn from the training
            distribution.
        """
        rng = np.random.default_rng(RANDOM_SEED)
        with limit_blas_threads():
            X, y = make_linear_regression_data(rng, N_TRAIN, N_FEATURES, N_OUTPUTS)
            model = LinearRegression().fit(X, y)
            inverter = LinearInverter(model).fit(X)
            targets = model.predict(make_gaussian_inputs(rng, N_TARGETS, N_FEATURES))
        return {"inverter": inverter, "targets": targets}

    def setup(self, problem, dtype):
        self.blas_limit = limit_blas_threads()
        self.inverter = problem["inverter"]
        self.targets = np.ascontiguousarray(problem["targets"], dtype=dtype)

        # The floor multiplies by the pseudo-inverse of the fitted map, which
        # has the shape of the matrix that inverse_transform applies.
        pinv = np.linalg.pinv(self.inverter.coef_)
        self.pinv_transposed = np.ascontiguousarray(pinv.T, dtype=dtype)
        self.coef = self.inverter.coef_.astype(dtype)
        self.intercept = self.inverter.intercept_.astype(dtype)

        # In float64 the first full-size product in a process took 1.6 to 4.4
        # times as long as later ones in four runs on the machine described
        # in BENCHMARKS.md. Calling each function once here keeps that, and the
        # inverter's per-dtype cast of its solve matrices, out of the timings.
        # A quick run (one call per benchmark) then times the same steady
        # state as a full run.
        self.run_inverse_transform()
        self.run_matmul()
        np.linalg.lstsq(self.coef, self.targets[0] - self.intercept, rcond=None)

    def teardown(self, problem, dtype):
        self.blas_limit.restore_original_limits()

    def run_inverse_transform(self):
        return self.inverter.inverse_transform(self.targets)

    def run_matmul(self):
        return self.targets @ self.pinv_transposed

    def run_lstsq_loop(self):
        # np.linalg.lstsq computes in float64 for float32 input and casts the
        # solution back to float32 (numpy 2.4).
        X = np.empty((LSTSQ_SUBSET, N_FEATURES), dtype=self.targets.dtype)
        for i, target in enumerate(self.targets[:LSTSQ_SUBSET]):
            X[i] = np.linalg.lstsq(self.coef, target - self.intercept, rcond=None)[0]
        return X

    def time_inverse_transform(self, problem, dtype):
        """Time inverse_transform on all 100,000 targets."""
        self.run_inverse_transform()

    def time_matmul_floor(self, problem, dtype):
        """Time one (100,000, 50) @ (50, 200) matrix product in the targets' dtype."""
        self.run_matmul()

    def time_lstsq_loop(self, problem, dtype):
        """Time one np.linalg.lstsq call per target on the first 1,000 targets.

        The reported time covers LSTSQ_SUBSET (1,000) targets, so the time per
        target is the reported time divided by 1,000. Each call returns the
        minimum-norm solution, while inverse_transform returns the solution
        nearest the training mean in standardized units, so the two agree
        only approximately on this standard normal data.
        """
        self.run_lstsq_loop()

    def peakmem_inverse_transform(self, problem, dtype):
        """Measure the peak memory of the process through inverse_transform.

        asv reports the maximum resident set size of the whole process. It
        includes the cached problem, the targets and the warm-up calls in
        setup, which allocate outputs of the same size as this call.
        """
        self.run_inverse_transform()

    def track_ratio_vs_matmul(self, problem, dtype):
        """Measure the inverse_transform time divided by the matmul floor time.

        Both run in this process, alternating, and each keeps the best of
        RATIO_REPEATS times. A ratio of 1 means no overhead over the floor.
        """
        inverse_time, matmul_time = measure_best_times(
            [self.run_inverse_transform, self.run_matmul], RATIO_REPEATS
        )
        return inverse_time / matmul_time

    track_ratio_vs_matmul.unit = "ratio"

    def track_ratio_vs_lstsq_loop(self, problem, dtype):
        """Measure the inverse_transform time divided by the lstsq loop time.

        Both run in this process, alternating, and each keeps the best of
        RATIO_REPEATS times. The lstsq loop runs on LSTSQ_SUBSET (1,000)
        targets, and its time is multiplied by N_TARGETS / LSTSQ_SUBSET (100)
        to extrapolate it linearly to all 100,000 targets. The ratio is the
        inverse_transform time on 100,000 targets divided by that scaled time,
        so a value below 1 means inverse_transform is faster.
        """
        inverse_time, lstsq_subset_time = measure_best_times(
            [self.run_inverse_transform, self.run_lstsq_loop], RATIO_REPEATS
        )
        lstsq_time = lstsq_subset_time * N_TARGETS / LSTSQ_SUBSET
        return inverse_time / lstsq_time

    track_ratio_vs_lstsq_loop.unit = "ratio"


def main():
    """Print the best times and both ratios for each dtype."""
    suite = LinearInverterSuite()
    problem = suite.setup_cache()
    for dtype in LinearInverterSuite.params:
        suite.setup(problem, dtype)
        inverse_time, matmul_time, lstsq_subset_time = measure_best_times(
            [suite.run_inverse_transform, suite.run_matmul, suite.run_lstsq_loop],
            RATIO_REPEATS,
        )
        suite.teardown(problem, dtype)

        lstsq_time = lstsq_subset_time * N_TARGETS / LSTSQ_SUBSET
        print(
            f"{dtype}: best of {RATIO_REPEATS}\n"
            f"  inverse_transform, {N_TARGETS} targets: {inverse_time * 1e3:.1f} ms\n"
            f"  matmul floor, {N_TARGETS} targets: {matmul_time * 1e3:.1f} ms\n"
            f"  lstsq loop, {LSTSQ_SUBSET} targets: {lstsq_subset_time * 1e3:.1f} ms "
            f"({lstsq_subset_time / LSTSQ_SUBSET * 1e3:.3f} ms per target, "
            f"{lstsq_time:.1f} s scaled to {N_TARGETS})\n"
            f"  ratio vs matmul floor: {inverse_time / matmul_time:.3f}\n"
            f"  ratio vs lstsq loop (scaled): {inverse_time / lstsq_time:.3g}"
        )


if __name__ == "__main__":
    main()
