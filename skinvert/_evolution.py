r"""Many independent CMA-ES searches, one per row, advanced in lockstep.

Each row of the batch is its own CMA-ES (Hansen, "The CMA Evolution
Strategy: A Tutorial", arXiv:1604.00772, 2016, with the default settings of
its Table 1): a mean, a step size, a covariance matrix and two evolution
paths. One generation samples ``population_size`` points for every running
row at once, so that the caller can evaluate all of them in one call of the
model, and updates every row with NumPy operations over the batch. Rows do
not interact: the ranking, the update and the stopping tests of one row
use only its own samples.

Three additions to the tutorial's algorithm suit models without gradients:

- Bounds. Samples are clipped to the box and the clipped points drive the
  update, so every evaluated point lies inside the box and the mean, a
  weighted average of such points, stays inside it.
- Flat fitness. Piecewise-constant models (trees, nearest neighbours) have
  plateaus on which many samples share one loss. When the best sample and
  the one at 70 % of the ranking have the same loss, the step size grows by
  ``exp(0.2 + c_sigma / d_sigma)``, as in pycma, so that it does not
  collapse on a plateau.
- Integer coordinates, whose samples the caller rounds to allowed values.
  As in CMA-ES with margin (Hamano et al., GECCO 2022), a diagonal factor
  keeps the marginal standard deviation of each such coordinate from
  falling too low. A sample then crosses to the neighbouring value nearest
  the mean with probability at least ``1 / (n_dims * population_size)``,
  so the search does not freeze on one value.
"""

import numpy as np
from scipy.special import ndtri

from ._discrete import CategoricalBatch, snap

# Largest condition number of a row's covariance matrix. Beyond it the
# row's search has degenerated and it stops.
MAX_CONDITION = 1e14

# A row stops when its largest sampling standard deviation, in standardized
# input units, falls below this, because smaller steps only probe rounding
# noise.
MIN_STEP = 1e-12


def default_population_size(n_dims):
    """Return CMA-ES's default population size, ``4 + floor(3 ln n)``."""
    return 4 + int(np.floor(3 * np.log(max(n_dims, 1))))


def recombination_weights(population_size):
    """Return CMA-ES's positive weights of the best half of the samples, best first."""
    mu = population_size // 2
    weights = np.log((population_size + 1) / 2) - np.log(np.arange(1, mu + 1))
    return weights / weights.sum()


class CMAESBatch:
    """CMA-ES state of many independent rows.

    Parameters
    ----------
    mean : ndarray of shape (n_rows, n_dims)
        Initial mean of each row.
    sigma : float
        Initial step size of every row.
    lower, upper : ndarray of shape (n_dims,)
        Box to sample in. Infinite entries leave a side open.
    population_size : int
        Samples per row and generation, at least 2.
    max_sigma : float
        Upper limit of a row's largest sampling standard deviation, so that
        a row on a plateau does not grow its step size without end.
    integer_grids : dict of int to ndarray, default=None
        For each integer coordinate, its sorted allowed values. Only used to
        keep the margin described in the module docstring. The caller
        rounds the samples.
    """

    def __init__(
        self, mean, sigma, lower, upper, population_size, max_sigma, integer_grids=None
    ):
        n_rows, n = mean.shape
        self.n_dims = n
        self.population_size = population_size
        self.lower = lower
        self.upper = upper
        self.max_sigma = max_sigma
        self.integer_grids = integer_grids or {}

        self.weights = recombination_weights(population_size)
        mueff = 1.0 / np.sum(self.weights**2)
        self.mu = self.weights.size
        self.mueff = mueff
        self.c_sigma = (mueff + 2) / (n + mueff + 5)
        self.d_sigma = (
            1 + 2 * max(0.0, np.sqrt((mueff - 1) / (n + 1)) - 1) + self.c_sigma
        )
        self.c_c = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
        self.c_1 = 2 / ((n + 1.3) ** 2 + mueff)
        self.c_mu = min(
            1 - self.c_1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff)
        )
        self.chi_n = np.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n**2))
        # The tutorial's lazy update: the eigendecomposition of C costs
        # O(n^3) per row, and C changes little between generations.
        self.eigen_interval = max(1, int(1 / (10 * n * (self.c_1 + self.c_mu))))
        self.flat_factor = np.exp(0.2 + self.c_sigma / self.d_sigma)
        margin = 1.0 / (n * population_size)
        self.margin_quantile = ndtri(1 - margin)

        self.mean = np.array(mean, dtype=np.float64)
        self.sigma = np.full(n_rows, float(sigma))
        self.C = np.tile(np.eye(n), (n_rows, 1, 1))
        self.B = self.C.copy()
        self.D = np.ones((n_rows, n))
        self.p_sigma = np.zeros((n_rows, n))
        self.p_c = np.zeros((n_rows, n))
        self.generation = np.zeros(n_rows, dtype=np.int64)
        # The diagonal factor of CMA-ES with margin, 1 on real coordinates.
        self.margin_factor = np.ones((n_rows, n))
        self._update_margin(np.arange(n_rows))

    def ask(self, rows, normals):
        """Return samples of shape (rows.size, population_size, n_dims).

        ``normals`` are standard normal draws of that shape. Samples are
        clipped to the box.
        """
        scaled = normals * self.D[rows, None, :]
        steps = np.einsum("rij,rkj->rki", self.B[rows], scaled)
        spread = (self.sigma[rows, None] * self.margin_factor[rows])[:, None, :]
        samples = self.mean[rows, None, :] + spread * steps
        return np.clip(samples, self.lower, self.upper)

    def tell(self, rows, samples, order, sorted_losses):
        """Update ``rows`` from their samples, ranked best first by ``order``.

        Parameters
        ----------
        rows : ndarray of int
            Rows the samples belong to.
        samples : ndarray of shape (rows.size, population_size, n_dims)
            Points returned by ``ask``.
        order : ndarray of shape (rows.size, population_size)
            Indices that sort each row's samples by loss, best first.
        sorted_losses : ndarray of shape (rows.size, population_size)
            Losses in that order.
        """
        n = self.n_dims
        mean = self.mean[rows]
        sigma = self.sigma[rows]
        spread = sigma[:, None] * self.margin_factor[rows]
        elite = np.take_along_axis(samples, order[:, : self.mu, None], axis=1)
        y = (elite - mean[:, None, :]) / spread[:, None, :]
        y_w = np.einsum("k,rki->ri", self.weights, y)
        self.mean[rows] = mean + spread * y_w

        B, D = self.B[rows], self.D[rows]
        whitened = np.einsum("rij,rj->ri", B, np.einsum("rji,rj->ri", B, y_w) / D)
        p_sigma = (1 - self.c_sigma) * self.p_sigma[rows] + np.sqrt(
            self.c_sigma * (2 - self.c_sigma) * self.mueff
        ) * whitened
        norm = np.linalg.norm(p_sigma, axis=1)
        generation = self.generation[rows] + 1
        h_sigma = (
            norm / np.sqrt(1 - (1 - self.c_sigma) ** (2 * generation))
            < (1.4 + 2 / (n + 1)) * self.chi_n
        )
        p_c = (1 - self.c_c) * self.p_c[rows] + (
            h_sigma * np.sqrt(self.c_c * (2 - self.c_c) * self.mueff)
        )[:, None] * y_w
        delta = (1 - h_sigma) * self.c_c * (2 - self.c_c)
        rank_mu = np.einsum("k,rki,rkj->rij", self.weights, y, y)
        C = (1 + self.c_1 * delta - self.c_1 - self.c_mu)[:, None, None] * self.C[rows]
        C += self.c_1 * p_c[:, :, None] * p_c[:, None, :] + self.c_mu * rank_mu
        self.C[rows] = C
        self.p_sigma[rows] = p_sigma
        self.p_c[rows] = p_c
        self.generation[rows] = generation

        sigma = sigma * np.exp(self.c_sigma / self.d_sigma * (norm / self.chi_n - 1))
        flat = sorted_losses[:, 0] == sorted_losses[:, int(0.7 * self.population_size)]
        sigma[flat] *= self.flat_factor
        largest = sigma * self.D[rows].max(axis=1)
        sigma = np.where(
            largest > self.max_sigma, sigma * self.max_sigma / largest, sigma
        )
        self.sigma[rows] = sigma

        due = rows[generation % self.eigen_interval == 0]
        if due.size:
            self._decompose(due)
        self._update_margin(rows)

    def degenerate(self, rows):
        """Return True for rows whose steps are below MIN_STEP or C is singular."""
        D = self.D[rows]
        largest = self.sigma[rows] * (D * self.margin_factor[rows]).max(axis=1)
        condition = (D.max(axis=1) / D.min(axis=1)) ** 2
        return (largest < MIN_STEP) | (condition > MAX_CONDITION)

    def _decompose(self, rows):
        C = self.C[rows]
        C = (C + np.swapaxes(C, 1, 2)) / 2
        eigenvalues, eigenvectors = np.linalg.eigh(C)
        # Rounding can make tiny eigenvalues negative. The conditioning test
        # stops such rows.
        eigenvalues = np.maximum(eigenvalues, np.finfo(np.float64).tiny)
        self.C[rows] = C
        self.B[rows] = eigenvectors
        self.D[rows] = np.sqrt(eigenvalues)

    def _update_margin(self, rows):
        if not self.integer_grids:
            return
        deviation = self.sigma[rows, None] * np.sqrt(
            np.einsum("rij,rj,rij->ri", self.B[rows], self.D[rows] ** 2, self.B[rows])
        )
        for column, grid in self.integer_grids.items():
            if grid.size < 2:
                continue
            # Distance from the mean to the nearest midpoint between two
            # allowed values, where the rounded value changes.
            midpoints = (grid[1:] + grid[:-1]) / 2
            mean = self.mean[rows, column]
            gap = np.min(np.abs(mean[:, None] - midpoints[None, :]), axis=1)
            needed = gap / self.margin_quantile
            self.margin_factor[rows, column] = np.maximum(
                1.0, needed / np.maximum(deviation[:, column], np.finfo(float).tiny)
            )


class MixedSearch:
    """Searches over inputs with real, integer and categorical columns, one per row.

    Real and integer columns are searched by a :class:`CMAESBatch` in
    standardized units ``(x - mean) / scale``, and integer columns are then
    rounded to their nearest allowed value. Categorical columns are searched
    by a :class:`~skinvert._discrete.CategoricalBatch`. Samples are returned
    in the units of X, inside the box.

    Parameters
    ----------
    starts : ndarray of shape (n_rows, n_features)
        Start of each row, with allowed values in the integer and categorical
        columns.
    mean, scale : ndarray of shape (n_features,)
        Standardization of the inputs.
    lower, upper : ndarray of shape (n_features,)
        Box, possibly infinite.
    allowed_values : dict of int to ndarray
        Sorted allowed values of each integer and categorical column.
    categorical : ndarray of int
        Indices of the categorical columns.
    population_size : int
        Samples per row and generation.
    initial_step : float
        Initial CMA-ES step size, in standardized units.
    max_step : float
        Largest sampling standard deviation, in standardized units, when no
        real or integer column has a finite box side.
    """

    def __init__(
        self,
        starts,
        mean,
        scale,
        lower,
        upper,
        allowed_values,
        categorical,
        population_size,
        initial_step,
        max_step,
    ):
        self.n_rows, self.n_features = starts.shape
        self.population_size = population_size
        self.mean, self.scale = mean, scale
        self.lower, self.upper = lower, upper
        self.allowed_values = allowed_values
        self.categorical = categorical
        self.continuous = np.setdiff1d(np.arange(self.n_features), categorical)
        continuous = self.continuous

        z_lower = (lower[continuous] - mean[continuous]) / scale[continuous]
        z_upper = (upper[continuous] - mean[continuous]) / scale[continuous]
        span = z_upper - z_lower
        span = span[np.isfinite(span)]
        if span.size:
            max_step = max(span.max(), np.finfo(np.float64).eps)
        grids = {
            position: (allowed_values[column] - mean[column]) / scale[column]
            for position, column in enumerate(continuous.tolist())
            if column in allowed_values
        }
        self.weights = recombination_weights(population_size)
        self.strategy = None
        if continuous.size:
            self.strategy = CMAESBatch(
                (starts[:, continuous] - mean[continuous]) / scale[continuous],
                initial_step,
                z_lower,
                z_upper,
                population_size,
                max_step,
                grids,
            )

        self.categories = None
        if categorical.size:
            start_index = np.column_stack(
                [
                    np.searchsorted(allowed_values[column], starts[:, column])
                    for column in categorical.tolist()
                ]
            )
            sizes = [allowed_values[column].size for column in categorical.tolist()]
            self.categories = CategoricalBatch(start_index, sizes, population_size)

    def ask(self, rows, rng):
        """Return samples of shape (rows.size, population_size, n_features).

        Draws are made for every row, asked for or not, so that a row's
        samples do not depend on which other rows are still running.
        """
        shape = (self.n_rows, self.population_size)
        normals = rng.standard_normal((*shape, self.continuous.size))
        uniforms = rng.random((*shape, self.categorical.size))

        continuous = self.continuous
        samples = np.empty((rows.size, self.population_size, self.n_features))
        if self.strategy is not None:
            self._z = self.strategy.ask(rows, normals[rows])
            # Clipped again in the units of X, since the map back from
            # standardized units may round a point past a bound.
            samples[..., continuous] = np.clip(
                self.mean[continuous] + self._z * self.scale[continuous],
                self.lower[continuous],
                self.upper[continuous],
            )
        for column in continuous.tolist():
            if column in self.allowed_values:
                grid = self.allowed_values[column]
                samples[..., column] = snap(samples[..., column], grid)

        if self.categories is not None:
            self._chosen = self.categories.ask(rows, uniforms[rows])
            for position, column in enumerate(self.categorical.tolist()):
                values = self.allowed_values[column]
                samples[..., column] = values[self._chosen[..., position]]
        return samples

    def tell(self, rows, order, sorted_losses):
        """Update ``rows`` from the samples of the last ``ask``, ranked by ``order``."""
        if self.strategy is not None:
            self.strategy.tell(rows, self._z, order, sorted_losses)
        if self.categories is not None:
            self.categories.tell(rows, self._chosen, order, self.weights)

    def degenerate(self, rows):
        """Return True for rows whose CMA-ES can no longer move."""
        if self.strategy is None:
            return np.zeros(rows.size, dtype=bool)
        return self.strategy.degenerate(rows)
