"""Synthetic data, thread limits and timing helpers shared by the benchmarks.

All data come from a seeded ``numpy.random.Generator``, so the benchmarks need
no downloads and every run times the same arrays. Names here avoid the asv
prefixes (``time_``, ``peakmem_``, ``track_``) so that asv does not collect
them as benchmarks.
"""

import time

import numpy as np
from threadpoolctl import threadpool_limits

RANDOM_SEED = 0

# One BLAS thread keeps the timings comparable between machines with different
# core counts, and every function in a ratio runs under the same limit.
BLAS_THREADS = 1

# Intra-op threads of torch, set with torch.set_num_threads for the same reason
# as BLAS_THREADS. One thread also keeps torch's OpenMP workers from waiting on
# each other when other processes load the cores.
TORCH_THREADS = 1


def limit_blas_threads():
    """Limit every loaded BLAS library to ``BLAS_THREADS`` threads.

    Returns
    -------
    limiter : threadpoolctl.threadpool_limits
        Use it as a context manager, or call ``restore_original_limits()``
        to undo the limit.
    """
    return threadpool_limits(limits=BLAS_THREADS, user_api="blas")


class TorchThreadLimit:
    """Limit on the number of torch intra-op threads, in force until ``restore``.

    ``torch.set_num_threads`` applies to the whole process, so the limit
    covers every function that runs before ``restore``.

    Parameters
    ----------
    n_threads : int, default=TORCH_THREADS
        Number of threads to set.
    """

    def __init__(self, n_threads=TORCH_THREADS):
        # Imported here so that the benchmarks without torch never import it.
        import torch

        self.original_threads = torch.get_num_threads()
        torch.set_num_threads(n_threads)

    def restore(self):
        """Set the number of threads back to its value before the limit."""
        import torch

        torch.set_num_threads(self.original_threads)


def make_gaussian_inputs(rng, n_samples, n_features):
    """Draw inputs with independent standard normal features.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_samples : int
        Number of rows.
    n_features : int
        Number of columns.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs in float64.
    """
    return rng.standard_normal((n_samples, n_features))


def make_uniform_inputs(rng, n_samples, n_features, low=-1.0, high=1.0):
    """Draw inputs uniformly from the box ``[low, high] ** n_features``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_samples : int
        Number of rows.
    n_features : int
        Number of columns.
    low, high : float, default=-1.0, 1.0
        Bounds of every feature.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Inputs in float64.
    """
    return rng.uniform(low, high, size=(n_samples, n_features))


def make_linear_regression_data(rng, n_samples, n_features, n_outputs, noise=0.1):
    """Draw a multi-output linear regression problem with Gaussian noise.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_samples : int
        Number of training samples.
    n_features : int
        Number of input features.
    n_outputs : int
        Number of outputs.
    noise : float, default=0.1
        Standard deviation of the noise added to each output.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Standard normal inputs.
    y : ndarray of shape (n_samples, n_outputs)
        ``X @ coef.T + intercept`` plus noise, where ``coef`` and ``intercept``
        are standard normal.
    """
    X = make_gaussian_inputs(rng, n_samples, n_features)
    coef = rng.standard_normal((n_outputs, n_features))
    intercept = rng.standard_normal(n_outputs)
    y = X @ coef.T + intercept + noise * rng.standard_normal((n_samples, n_outputs))
    return X, y


def measure_best_times(functions, repeats):
    """Time functions side by side and return the best time of each.

    The functions run in turn within each repeat, so slow drifts of the
    machine (frequency scaling, other load) affect all of them alike.

    Parameters
    ----------
    functions : list of callable
        Functions taking no arguments.
    repeats : int
        Number of calls of each function.

    Returns
    -------
    best_times : list of float
        Minimum wall-clock time in seconds of each function, measured with
        ``time.perf_counter``, in the order of ``functions``.
    """
    best_times = [np.inf] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best_times[i] = min(best_times[i], time.perf_counter() - start)
    return best_times
