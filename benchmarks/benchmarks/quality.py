"""Inversion quality on the Neural-Adjoint benchmark problems and on digits.

The sine wave, robot arm and ballistics problems of ``skinvert.datasets`` are
those of Ren, Padilla and Malof, "Benchmarking deep inverse models over time,
and the neural-adjoint method", NeurIPS 2020. For each problem a skorch MLP
surrogate is trained on 10,000 simulated samples. GradientInverter inverts
200 targets drawn from the true simulator with 50 starts per target. The
candidates, ranked best first by the surrogate's loss, are then re-simulated
with the true forward function. The tracks report the best-of-T re-simulation
error r_T of ``skinvert.metrics.best_of_t_resimulation_error`` for T = 1 and
T = 50.

The published r_T at T = 50 (``PUBLISHED_R50``) was read off the figure of
r_T against T in that paper, so it is an estimate. The comparison is loose
for two more reasons. By default ``robot_arm_forward`` and
``ballistics_forward`` follow the formulas as stated (relative joint angles,
quadratic drag), which differ from the paper's generator scripts, and the
surrogates here are smaller and trained for less time. ``python -m
benchmarks.quality --definitions script`` runs the scripts' variants
(``angles="differenced"``, ``drag="linear"``) for a closer comparison.

The digits track inverts the 10 class labels through an ``MLPClassifier``
with a prior and counts how many of the 10 inputs a separately trained
``LogisticRegression`` assigns to the same class.

Run the tracks with ``asv run --python=same --quick -b quality`` from the
``benchmarks`` folder, or this module with ``python -m benchmarks.quality``
from there to print r_T for T from 1 to 50 per problem, the smallest T at
which r_T is at or below the published r_50, the surrogate's test error, the
NaN candidate counts and the times.
"""

import argparse
import functools
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from skorch import NeuralNetRegressor
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from skinvert import GradientInverter
from skinvert.datasets import (
    ballistics_forward,
    make_ballistics,
    make_robot_arm,
    make_sine_wave,
    robot_arm_forward,
    sine_wave_forward,
)
from skinvert.metrics import best_of_t_resimulation_error

from .common import RANDOM_SEED

# Generator and true forward function of each problem.
PROBLEMS = {
    "sine_wave": (make_sine_wave, sine_wave_forward),
    "robot_arm": (make_robot_arm, robot_arm_forward),
    "ballistics": (make_ballistics, ballistics_forward),
}

# Keyword arguments that switch a problem to the definition of the
# benchmark's generator script.
SCRIPT_VARIANTS = {
    "robot_arm": {"angles": "differenced"},
    "ballistics": {"drag": "linear"},
}
DEFINITIONS = ("formulas", "script")

# r_50 of the Neural-Adjoint method in Ren, Padilla and Malof (NeurIPS 2020),
# read off their figure of r_T against T, so each value is an estimate.
PUBLISHED_R50 = {"sine_wave": 3e-5, "robot_arm": 3e-6, "ballistics": 5e-6}

N_TRAIN = 10_000
N_TARGETS = 200
N_STARTS = 50
# The test targets come from inputs drawn with this seed, which differs from
# RANDOM_SEED so that they are fresh inputs, not training rows.
TEST_SEED = RANDOM_SEED + 1
# Rows on which the surrogate's test error is measured.
N_TEST = 2_000

# Surrogate MLP and its training. With these settings the three surrogates
# trained in about 55 s in all, with torch 2.13 on 2 CPU cores. Their test
# errors (mean squared, in the units of y) were 4.0e-5 (sine wave), 1.3e-5
# (robot arm) and 1.8e-6 (ballistics). SiLU in place of ReLU or tanh
# gave the lowest error of the three in 100 epochs on the sine wave (ReLU
# 1.7e-4, tanh 1.0e-4), and it is smooth, which suits L-BFGS.
HIDDEN_LAYERS = (256, 256, 256)
MAX_EPOCHS = 100
LEARNING_RATE = 3e-3
TRAIN_BATCH_SIZE = 256


class StandardizedMLP(torch.nn.Module):
    """MLP that standardizes its inputs and outputs with fixed training statistics.

    The means and standard deviations are buffers, so the module maps raw
    inputs to raw outputs and stays differentiable end to end, while the
    layers in between work on unit-scale values. The raw ballistics inputs
    differ in scale by a factor of about 60: launch x has a standard
    deviation of 0.25 m and the speed a mean of 15 m/s.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Training inputs.
    y : ndarray of shape (n_samples, n_outputs)
        Training outputs.
    hidden_layers : tuple of int
        Width of each hidden layer.
    """

    def __init__(self, X, y, hidden_layers):
        super().__init__()
        for name, values in [
            ("input_mean", X.mean(axis=0)),
            ("input_std", X.std(axis=0)),
            ("output_mean", y.mean(axis=0)),
            ("output_std", y.std(axis=0)),
        ]:
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32))
        sizes = [X.shape[1], *hidden_layers, y.shape[1]]
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.SiLU()]
        self.network = torch.nn.Sequential(*layers[:-1])

    def forward(self, x):
        z = (x - self.input_mean) / self.input_std
        return self.network(z) * self.output_std + self.output_mean


def problem_functions(name, definitions="formulas"):
    """Return the generator and the true forward function of one problem.

    ``definitions="script"`` selects the variant of the benchmark's
    generator script where it differs from the stated formulas.
    """
    make, forward = PROBLEMS[name]
    if definitions == "script" and name in SCRIPT_VARIANTS:
        variant = SCRIPT_VARIANTS[name]
        make = functools.partial(make, **variant)
        forward = functools.partial(forward, **variant)
    return make, forward


def draw_problem(make, n_samples, seed):
    """Draw ``n_samples`` rows of a problem, with y as a 2-D float64 array."""
    X, y = make(n_samples, random_state=seed)
    return X, y.reshape(X.shape[0], -1)


def train_surrogate(X, y):
    """Train the float32 skorch surrogate on ``(X, y)`` with a fixed torch seed.

    The torch seed is set inside ``torch.random.fork_rng``, so the global
    torch random state is the same after the call as before it.
    """
    with torch.random.fork_rng():
        torch.manual_seed(RANDOM_SEED)
        net = NeuralNetRegressor(
            StandardizedMLP(X, y, HIDDEN_LAYERS),
            max_epochs=MAX_EPOCHS,
            lr=LEARNING_RATE,
            batch_size=TRAIN_BATCH_SIZE,
            optimizer=torch.optim.Adam,
            callbacks=[LRScheduler(policy=CosineAnnealingLR, T_max=MAX_EPOCHS)],
            train_split=None,
            verbose=0,
        )
        net.fit(X.astype(np.float32), y.astype(np.float32))
    return net


def build_problem(name, definitions="formulas"):
    """Train the surrogate of one problem and draw its test targets.

    Returns
    -------
    problem : dict
        ``net`` (fitted surrogate), ``X_train``, ``Y`` (the N_TARGETS test
        targets from the true simulator), ``test_mse`` (the surrogate's mean
        squared error on N_TEST fresh rows) and ``train_seconds``.
    """
    make, _ = problem_functions(name, definitions)
    X_train, y_train = draw_problem(make, N_TRAIN, RANDOM_SEED)
    start = time.perf_counter()
    net = train_surrogate(X_train, y_train)
    train_seconds = time.perf_counter() - start

    X_test, y_test = draw_problem(make, N_TEST, TEST_SEED)
    predicted = net.predict(X_test.astype(np.float32)).reshape(y_test.shape)
    return {
        "net": net,
        "X_train": X_train,
        "Y": y_test[:N_TARGETS],
        "test_mse": float(np.mean((predicted - y_test) ** 2)),
        "train_seconds": train_seconds,
    }


def invert_problem(problem, name, definitions="formulas"):
    """Invert the test targets with N_STARTS starts and re-simulate the candidates.

    Returns
    -------
    r : ndarray of shape (N_STARTS,)
        ``r[T - 1]`` is r_T.
    n_nan_candidates : int
        Candidates for which the true forward function returns NaN (for
        ballistics, launches that never land).
    """
    _, forward = problem_functions(name, definitions)
    inverter = GradientInverter(
        problem["net"], n_restarts=N_STARTS - 1, random_state=RANDOM_SEED
    )
    candidates = inverter.fit(problem["X_train"]).invert(problem["Y"]).candidates
    n_features = candidates.shape[-1]
    resimulated = np.asarray(forward(candidates.reshape(-1, n_features)))
    n_nan_candidates = int(np.isnan(resimulated).any(axis=-1).sum())
    r = best_of_t_resimulation_error(problem["Y"], candidates, forward)
    return r, n_nan_candidates


class NeuralAdjointBenchmarkSuite:
    """Best-of-T re-simulation error of GradientInverter on the three problems.

    Each track inverts the 200 targets again, because asv runs every track
    in its own process. Only the surrogates are shared, through setup_cache.
    """

    params = list(PROBLEMS)
    param_names = ["problem"]
    # setup_cache trained the three surrogates in about 55 s on 2 CPU cores,
    # and the timeout covers it as well as each track.
    timeout = 900

    def setup_cache(self):
        return {name: build_problem(name) for name in PROBLEMS}

    def track_r1(self, problems, problem):
        """Measure r_1, the re-simulation error of the top-ranked candidate."""
        r, _ = invert_problem(problems[problem], problem)
        return float(r[0])

    track_r1.unit = "MSE"

    def track_r50(self, problems, problem):
        """Measure r_50, the re-simulation error of the best of the 50 candidates."""
        r, _ = invert_problem(problems[problem], problem)
        return float(r[N_STARTS - 1])

    track_r50.unit = "MSE"

    def track_nan_candidates(self, problems, problem):
        """Count the candidates whose true re-simulation is NaN, out of 10,000."""
        _, n_nan_candidates = invert_problem(problems[problem], problem)
        return n_nan_candidates

    track_nan_candidates.unit = "candidates"


def build_digits_models():
    """Train the MLPClassifier to invert and the LogisticRegression that judges.

    Both are fitted on the same training split of the digits data, 8 x 8
    images with pixel values 0 to 16.
    """
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=0.25, random_state=RANDOM_SEED, stratify=y
    )
    classifier = MLPClassifier(
        hidden_layer_sizes=(64,), max_iter=1000, random_state=RANDOM_SEED
    ).fit(X_train, y_train)
    judge = LogisticRegression(max_iter=5000).fit(X_train, y_train)
    return {"classifier": classifier, "judge": judge, "X_train": X_train}


def count_digits_agreement(models):
    """Invert the 10 labels and count those the judge assigns to the same class."""
    inverter = GradientInverter(
        models["classifier"], alpha=0.1, prior="full", init="mean"
    ).fit(models["X_train"])
    labels = models["classifier"].classes_
    X_inverted = inverter.inverse_transform(labels)
    return int(np.sum(models["judge"].predict(X_inverted) == labels))


class DigitsClassAgreementSuite:
    """Agreement of an independent classifier with inputs inverted from labels."""

    timeout = 300

    def setup_cache(self):
        return build_digits_models()

    def track_digits_class_agreement(self, models):
        """Count the classes, of 10, on which the LogisticRegression agrees."""
        return count_digits_agreement(models)

    track_digits_class_agreement.unit = "classes"


def smallest_t_reaching(r, published):
    """Return the smallest T with r_T at or below ``published``, or None."""
    reached = np.flatnonzero(r <= published)
    return int(reached[0]) + 1 if reached.size else None


def main():
    """Print r_T, the surrogate errors, NaN counts and times for every problem."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--definitions",
        choices=DEFINITIONS,
        default="formulas",
        help="problem definitions: the stated formulas (default) or the "
        "variants of the benchmark's generator scripts",
    )
    parser.add_argument(
        "--skip-digits", action="store_true", help="skip the digits track"
    )
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s), "
        f"{N_TRAIN} training rows, {N_TARGETS} targets, {N_STARTS} starts each, "
        f"{args.definitions} definitions"
    )
    printed_t = [1, 2, 3, 5, 10, 20, 30, 40, 50]
    header = " ".join(f"{'r_' + str(t):>8}" for t in printed_t)
    print(
        f"{'problem':<11} {header} {'published':>9} {'T reach':>7} | "
        f"{'test MSE':>9} {'NaN':>5} | {'train s':>7} {'invert s':>8}"
    )
    curves = {}
    for name in PROBLEMS:
        problem = build_problem(name, args.definitions)
        start = time.perf_counter()
        r, n_nan_candidates = invert_problem(problem, name, args.definitions)
        invert_seconds = time.perf_counter() - start
        curves[name] = r
        values = " ".join(f"{r[t - 1]:8.2g}" for t in printed_t)
        reach = smallest_t_reaching(r, PUBLISHED_R50[name])
        print(
            f"{name:<11} {values} {PUBLISHED_R50[name]:9.1g} "
            f"{reach if reach is not None else '-':>7} | "
            f"{problem['test_mse']:9.3g} {n_nan_candidates:5d} | "
            f"{problem['train_seconds']:7.1f} {invert_seconds:8.1f}",
            flush=True,
        )
    print("r_T for T = 1 to 50:")
    for name, r in curves.items():
        print(f"{name}: " + " ".join(f"{value:.3g}" for value in r))

    if args.skip_digits:
        return
    start = time.perf_counter()
    agreement = count_digits_agreement(build_digits_models())
    print(
        f"digits: the LogisticRegression agrees on {agreement} of 10 classes "
        f"({time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
