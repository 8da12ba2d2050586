"""Derivative-free inversion of any model with ``predict`` or ``predict_proba``."""

import time
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)

from ._base import BaseInverter
from ._discrete import column_mask, encoded_columns, snap
from ._evolution import MixedSearch, default_population_size
from ._logging import ProgressLogger, log_summary
from ._result import InversionResult
from ._targets import (
    class_targets,
    confirm_unreachable,
    is_label_row,
    loss_scale,
    misfit,
    rank_candidates,
    starting_points,
)
from ._validation import float32_inside

# Initial CMA-ES step size, in standardized input units (training standard
# deviations). On 100 diabetes targets, 0.1, 0.3 and 1.0 reached about the
# same share of targets with five models; 0.3 took the fewest generations.
_INITIAL_STEP = 0.3

# Largest sampling standard deviation, in standardized units, of a search
# without bounds; with bounds it is the widest side of the box.
_MAX_STEP_UNBOUNDED = 3.0

# Rows passed to one predict call at most, to bound the memory that the
# model's own temporary arrays take. NOTE: a guess, not measured.
_MAX_PREDICT_ROWS = 100_000

# A search row has stalled when its best loss improved by at most this share
# of its value over the last 10 + 30 * n_dims / population_size generations,
# the history length of CMA-ES's TolHistFun test.
_STALL_RTOL = 1e-9

# Extra rounds of searches for targets that no search reached with
# alpha=0, each with twice the population of the last. The measurement
# behind 4: 100 diabetes targets made as model outputs at random inputs, so
# all reachable, with the inverter fitted on all 442 rows, defaults, seed 0.
# The first round reached 59 (gradient boosting), 77 (histogram boosting),
# 88 (5 neighbours) and 100 (30-tree forest). With 2 extra rounds it
# reached 93, 99, 98 and 100, and with 4 all 100. The price falls on
# unreachable targets: 200 of them took 2.2 s without extra rounds and
# 11.2 s with 4 (30-tree forest, 2-core AMD EPYC).
_EXTRA_ROUNDS = 4

# Smallest probability that enters the log of the cross-entropy, so that a
# class the model never predicts gives a finite loss.
_MIN_PROBABILITY = np.finfo(np.float64).eps


class BlackBoxInverter(BaseInverter):
    r"""Invert any fitted model by a batched, derivative-free evolution strategy.

    The model needs only ``predict``, or ``predict_proba`` for a classifier:
    random forests, gradient boosting, nearest neighbours, kernel SVR, and
    Pipelines with encoders or column transformers. For a regressor and
    target ``y`` the inverter solves the objective of
    :class:`GradientInverter`,

    .. math::

        \min_{l \le x \le u} \|f(x) - y\|^2 + \alpha \|L^{-1}(x - \mu)\|^2,

    where ``mu`` is the training mean and ``L`` the square root of the prior
    covariance. For a classifier and a class label ``c`` the misfit is the
    cross-entropy ``-log p_c(x)``, with probabilities below machine epsilon
    counted as epsilon, and for a target probability vector the squared gap
    between ``predict_proba(x)`` and the vector.

    Each target (and each restart) runs its own CMA-ES in standardized
    coordinates ``(x - mu) / std``, started at the training row whose
    prediction is nearest the target. All of them advance together: one
    generation evaluates the whole population of every running search in
    one ``predict`` call, split into ``n_jobs`` chunks and into chunks of at
    most 100,000 rows. With ``alpha=0`` a target's searches stop once one of
    them reaches it, except for class labels, which request the most
    confident input. Otherwise a search stops when its best loss has
    stalled over the last ``10 + 30 * n_features / population_size``
    generations (with ``alpha > 0``, when it fell by less than ``tol``
    relative), or after ``max_iter`` generations. With ``alpha=0``, the
    searches of a target that none of them reached, and that stopped on a
    stall, run again from their best points with twice the population, up
    to four more times (as in IPOP-CMA-ES), within the same ``max_iter``.
    That makes a target the model cannot reach cost about five times as
    much as one reached in the first round.
    The returned input is the best point evaluated, so its objective is
    never above the start's.

    Parameters
    ----------
    estimator : estimator or None, default=None
        Regressor or classifier with ``predict`` (and ``predict_proba`` for a
        classifier), or a Pipeline ending in one. None means a
        ``HistGradientBoostingRegressor(random_state=0)``.
    alpha : float, default=0.0
        Weight of the prior term. For a regressor the misfit is in squared
        output units and the prior in squared standardized inputs, so the
        alpha that balances them grows with the variance of the outputs.
    prior : {"diag", "full"}, default="diag"
        Prior covariance: per-feature variances or the training covariance.
    bounds : None, "data" or (lower, upper), default="data"
        Box the inputs must stay in, in the units of X. The default keeps
        them in the training range, where the model was fitted. Every
        evaluated and every returned input lies inside it.
    init : {"nearest", "mean", "random"}, array-like or estimator, default="nearest"
        First start per target: the training row whose prediction is nearest
        the target, the training mean, a draw from the prior, an array of
        shape (n_targets, n_features) or (n_features,), or an estimator whose
        ``predict(Y)`` maps targets to inputs. With "nearest", the k-th
        start is the k-th nearest row; otherwise extra starts are drawn from
        the prior. Integer and categorical columns of a start are rounded to
        the nearest allowed value.
    discrete_features : array-like or None, default=None
        Integer (ordered) columns, as indices, names or a boolean mask. Each
        is searched as a real number rounded to the nearest value it takes
        in the training data.
    categorical_features : "auto", array-like or None, default="auto"
        Unordered columns, as indices, names or a boolean mask. Each is
        searched on its allowed values by a categorical distribution per
        search. "auto" takes the columns that a OneHotEncoder or
        OrdinalEncoder in the model reads directly: as the first step of a
        Pipeline, or inside a ColumnTransformer that is the first step. Their
        allowed values are the encoder's categories. "auto" also takes the
        categorical features of a HistGradientBoosting model. For columns
        given here, and for those, the allowed values are the ones seen in
        training.
    population_size : int or None, default=None
        Samples per search and generation. None means CMA-ES's default
        ``4 + floor(3 ln n_features)``.
    n_restarts : int, default=4
        Extra searches per target, from the next-nearest training rows. All
        results are returned in ``invert(Y).candidates``.
    max_iter : int, default=1000
        Generations per search, the extra rounds included. Most searches
        stop well before it, when they reach their target or stall.
    tol : float, default=1e-4
        A target counts as reached when the root-mean-square over outputs of
        its error divided by ``output_scale_`` is at most ``tol``, and its
        search stops then (with ``alpha=0``). For classifiers, a label target
        is reached when the model predicts that class, and a probability
        target when the root-mean-square gap of the probabilities is at most
        ``tol``.
    random_state : int, RandomState instance or None, default=None
        Seed of the searches. Pass an int for reproducible results.
    n_jobs : int or None, default=None
        Threads that each evaluate one chunk of a generation's inputs, with
        joblib's threading backend. None means 1 unless in a
        ``joblib.parallel_config`` context; -1 means all processors. Rows
        are predicted independently, so results do not depend on it. Threads
        help models whose ``predict`` releases the GIL, such as
        scikit-learn's trees.
    verbose : int, default=0
        0 is silent; 1 logs, through the ``skinvert`` logger, how many
        targets have finished, at most once per second, and after each
        batched search its number of searches, generations, model
        evaluations and time.

    Attributes
    ----------
    estimator_ : estimator
        The fitted forward model.
    classes_ : ndarray
        Class labels, for classifiers.
    output_scale_ : ndarray of shape (n_outputs,)
        Standard deviation of each training output, the unit of ``tol``: of
        y when ``fit`` gets it, else of the model's predictions for X.
    prior_mean_, prior_scale_ : ndarray of shape (n_features,)
        Training mean and standard deviation (1 for constant features).
    prior_covariance_ : ndarray of shape (n_features, n_features)
        Prior covariance.
    data_min_, data_max_ : ndarray of shape (n_features,)
        Training range per feature.
    bounds_ : tuple of ndarray or None
        Bounds used, as ``(lower, upper)``.
    discrete_features_ : ndarray of int
        Indices of the integer columns.
    categorical_features_ : ndarray of int
        Indices of the categorical columns.
    allowed_values_ : dict of int to ndarray
        Sorted allowed values of each integer and categorical column, inside
        the bounds.
    population_size_ : int
        Samples per search and generation.
    n_outputs_ : int
        Number of model outputs, or of classes for a classifier.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the input features, when X had string column names.

    See Also
    --------
    GradientInverter : Gradient-based inversion of differentiable models.
    LinearInverter : Closed-form inversion of affine models.

    Notes
    -----
    No optimization library fitted the batched design. pycma 4.5.0 and
    cmaes 0.13.1 keep one Python object per search, whose ``ask`` and
    ``tell`` run per search. For 1,000 targets with 16 samples each on the
    10-feature diabetes data, that loop took 455 ms (pycma) and 219 ms
    (cmaes, 142 ms with its separable variant) per generation, against
    80 ms for the ``predict`` of all 16,000 inputs by a 100-tree random
    forest (one thread, NumPy 2.4, 2-core AMD EPYC; the script is in
    BENCHMARKS.md). evotorch 0.6.1 imports
    Ray at import time, and its batched functional algorithms do not include
    CMA-ES. So the strategy here is CMA-ES written over the batch in NumPy,
    as described in the ``skinvert._evolution`` module. Its own work took
    about 18 ms per generation in the same setting.

    On piecewise-constant models the result is a point inside the region
    whose prediction is nearest the target; several inputs usually qualify,
    and the one returned depends on the start and the seed. A target the
    model cannot output within ``tol`` (between two values a tree ensemble
    can output, or outside its range) is reported as not converged.

    Each search is local around its start. A small region of the input space
    that alone gives the target, or a target that needs another value of an
    integer or categorical column together with a different real input, can
    be missed; ``n_restarts`` and ``population_size`` make that less likely.

    With ``alpha > 0`` the misfit is part of the trade-off, so a target whose
    misfit exceeds ``tol`` is searched again without the prior, from the
    regularized result and from the first start, to tell an unreachable
    target from a regularized one. On piecewise-constant models the
    regularized optimum lies on a boundary between regions, which a search
    approaches in ever smaller steps. So a prior costs more there: on 50
    Friedman #1 targets, a 100-tree forest took 9.8 s with ``alpha=1`` and
    0.8 s with ``alpha=0`` (2-core AMD EPYC).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> from skinvert import BlackBoxInverter
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(300, 2))
    >>> y = 2 * X[:, 0] + X[:, 1] ** 2
    >>> model = RandomForestRegressor(n_estimators=20, random_state=0)
    >>> inverter = BlackBoxInverter(model, tol=1e-3, random_state=0).fit(X, y)
    >>> result = inverter.invert([-1.0, 0.5])
    >>> bool(result.converged.all())
    True
    >>> predicted = inverter.transform(result.X).ravel()
    >>> bool(np.allclose(predicted, [-1.0, 0.5], atol=1e-3 * y.std()))
    True
    """

    _supports_classifiers = True

    _parameter_constraints: dict = {
        **BaseInverter._parameter_constraints,
        "init": [
            StrOptions({"mean", "random", "nearest"}),
            "array-like",
            HasMethods(["predict"]),
        ],
        "discrete_features": ["array-like", None],
        "categorical_features": [StrOptions({"auto"}), "array-like", None],
        "population_size": [Interval(Integral, 2, None, closed="left"), None],
        "n_restarts": [Interval(Integral, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        alpha=0.0,
        prior="diag",
        bounds="data",
        init="nearest",
        discrete_features=None,
        categorical_features="auto",
        population_size=None,
        n_restarts=4,
        max_iter=1000,
        tol=1e-4,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.alpha = alpha
        self.prior = prior
        self.bounds = bounds
        self.init = init
        self.discrete_features = discrete_features
        self.categorical_features = categorical_features
        self.population_size = population_size
        self.n_restarts = n_restarts
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _make_default_estimator(self):
        return HistGradientBoostingRegressor(random_state=0)

    def fit(self, X, y=None):
        """Fit the forward model if needed and learn the prior and the columns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, all numeric. Encode string categories as numbers
            before the model.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Training outputs, or class labels for a classifier. When given, a
            clone of ``estimator`` is fitted on ``(X, y)``. When None,
            ``estimator`` must already be fitted and is used without copying.

        Returns
        -------
        self : object
            Fitted inverter.
        """
        if self.n_jobs == 0:
            # joblib rejects n_jobs=0 only once it runs, at the first invert.
            raise InvalidParameterError(
                f"The 'n_jobs' parameter of {type(self).__name__} must be a "
                "positive or negative int or None, not 0. Pass n_jobs=1 for one "
                "thread, or -1 for all processors."
            )
        _reject_string_columns(self, X)
        return super().fit(X, y)

    def _fit_inverse(self, X, Y_fitted, y):
        # Kept for init="nearest": training rows and what the model gives
        # for them.
        self._train_X = np.asarray(X, dtype=np.float64)
        self._train_outputs = Y_fitted
        self._resolve_discrete_columns()
        self.population_size_ = (
            self.population_size
            if self.population_size is not None
            else default_population_size(self.n_features_in_)
        )

    def _resolve_discrete_columns(self):
        name = type(self).__name__
        discrete = column_mask(self, self.discrete_features, "discrete_features")
        if isinstance(self.categorical_features, str):
            categories = encoded_columns(self, self.estimator_)
        else:
            mask = column_mask(self, self.categorical_features, "categorical_features")
            categories = dict.fromkeys(np.flatnonzero(mask).tolist())
        in_categories = np.isin(np.arange(discrete.size), list(categories))
        both = np.flatnonzero(discrete & in_categories)
        if both.size:
            raise ValueError(
                f"{name}: column {int(both[0])} is both in discrete_features and "
                "a categorical column. Pass each column in one of them only; "
                "with categorical_features='auto', categorical columns are the "
                "ones the model's encoders read."
            )

        self.discrete_features_ = np.flatnonzero(discrete)
        self.categorical_features_ = np.array(sorted(categories), dtype=np.int64)
        self.allowed_values_ = {}
        for column in [*self.discrete_features_.tolist(), *categories]:
            values = categories.get(column)
            if values is None:
                values = np.unique(self._train_X[:, column])
            if self.bounds_ is not None:
                lower, upper = self.bounds_[0][column], self.bounds_[1][column]
                values = values[(values >= lower) & (values <= upper)]
            if values.size == 0:
                raise ValueError(
                    f"{name}: no allowed value of column {column} lies inside the "
                    f"bounds [{self.bounds_[0][column]}, {self.bounds_[1][column]}]. "
                    "Widen the bounds of that column."
                )
            self.allowed_values_[int(column)] = values

    def _check_targets(self, Y):
        if not hasattr(self, "classes_"):
            return super()._check_targets(Y)
        return class_targets(self, Y)

    def _invert(self, Y, diagnostics):
        n_targets = Y.shape[0]
        n_candidates = 1 + self.n_restarts
        rng = np.random.default_rng(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        starts = self._snap(starting_points(self, Y, n_candidates, rng))

        flat = starts.reshape(n_targets * n_candidates, -1)
        owner = np.repeat(np.arange(n_targets), n_candidates)
        solved = self._search(flat, Y, owner, self.alpha, rng)
        if self.alpha == 0:
            self._search_again(solved, Y, owner, rng)
        ranked = rank_candidates(solved, n_targets, n_candidates)
        candidates = ranked["candidates"]
        X = candidates[:, 0]
        stopped = ranked["stopped"]

        residual, reached = misfit(self, ranked["outputs"], Y)

        def reaches(again, owners):
            polished = self._search(again, Y, owners, 0.0, rng)
            self._search_again(polished, Y, owners, rng)
            return misfit(self, polished["outputs"], Y[owners])[1]

        reached = confirm_unreachable(self, Y, X, starts[:, 0], reached, reaches)
        # Without a prior, a target within tol is solved even if the search
        # ran out of iterations. With one, the search must also have stopped
        # at the trade-off's optimum.
        converged = reached & (stopped | (self.alpha == 0))

        dtype = np.float64 if hasattr(self, "classes_") else Y.dtype
        X = X.astype(dtype)
        candidates = candidates.astype(dtype)
        active = None
        if self.bounds_ is not None:
            lower, upper = self.bounds_
            if dtype == np.float32:
                # Rounding to float32 may step over a bound; clip to the
                # nearest float32 values inside.
                lower, upper = float32_inside(lower, +1), float32_inside(upper, -1)
                np.clip(X, lower, upper, out=X)
                np.clip(candidates, lower, upper, out=candidates)
            active = np.zeros(X.shape, dtype=np.int8)
            active[X >= upper] = 1
            active[X <= lower] = -1
        return InversionResult(
            X=X,
            residual=residual,
            converged=converged,
            active_bounds=active,
            alpha=float(self.alpha),
            n_iter=ranked["n_iter"],
            stopped=stopped,
            candidates=candidates,
            candidate_losses=ranked["candidate_losses"],
        )

    def _snap(self, X):
        """Round integer and categorical columns to their nearest allowed value."""
        X = np.array(X, dtype=np.float64, copy=True)
        for column, values in self.allowed_values_.items():
            X[..., column] = snap(X[..., column], values)
        return X

    def _search_again(self, solved, Y, owner, rng):
        """Search again, with larger populations, for targets no search reached.

        As in IPOP-CMA-ES, each extra round doubles the population of the
        last, which makes a local search more global. Every search of a
        missed target that stopped on a test starts again from its own best
        point, so its loss can only fall, and runs for what is left of its
        ``max_iter`` generations. ``solved`` is updated in place.
        """
        population = self.population_size_
        for _ in range(_EXTRA_ROUNDS):
            _, reached = misfit(self, solved["outputs"], Y[owner])
            reached_targets = np.zeros(Y.shape[0], dtype=bool)
            reached_targets[owner[reached]] = True
            left = self.max_iter - solved["n_iter"]
            eligible = ~reached_targets[owner] & solved["stopped"] & (left > 0)
            rows = np.flatnonzero(eligible)
            if rows.size == 0:
                return
            population *= 2
            again = self._search(
                solved["x"][rows],
                Y,
                owner[rows],
                0.0,
                rng,
                population=population,
                budget=left[rows],
            )
            for key in ("x", "loss", "outputs", "stopped"):
                solved[key][rows] = again[key]
            solved["n_iter"][rows] += again["n_iter"]

    def _search(self, starts, Y, owner, alpha, rng, population=None, budget=None):
        """Run one CMA-ES per row of ``starts``. Row i aims at ``Y[owner[i]]``.

        ``population`` defaults to ``population_size_``, and ``budget``, the
        generations each row may run, to ``max_iter``. Returns a dict with,
        per row, the best input evaluated ``x``, its ``loss`` and model
        ``outputs``, the generations run ``n_iter`` and whether a stopping
        test ended the search (``stopped``).
        """
        began = time.perf_counter()
        n_rows = starts.shape[0]
        population = population or self.population_size_
        if budget is None:
            budget = np.full(n_rows, self.max_iter)
        normalizer, loss_floor = loss_scale(self, Y.shape[1])
        # A label target requests the most confident input, and a target with
        # a prior the best trade-off, so only the others stop on reaching.
        stop_on_reach = np.full(n_rows, alpha == 0)
        if hasattr(self, "classes_"):
            stop_on_reach &= ~is_label_row(Y[owner])
        history_length = 10 + int(np.ceil(30 * self.n_features_in_ / population))
        # With a prior the optimum is a trade-off, which a search on a
        # piecewise-constant model approaches in ever smaller steps towards a
        # cell boundary. There tol also bounds the relative progress that is
        # worth more generations.
        stall_rtol = max(_STALL_RTOL, self.tol) if alpha > 0 else _STALL_RTOL
        evaluations = n_rows

        with Parallel(n_jobs=self.n_jobs, prefer="threads") as parallel:

            def evaluate(X, targets):
                return self._objective(X, targets, alpha, normalizer, parallel)

            best_loss, best_outputs = evaluate(starts, Y[owner])
            best_x = starts.copy()
            search = MixedSearch(
                starts,
                self.prior_mean_,
                self.prior_scale_,
                *self._bounds_or_infinite(),
                self.allowed_values_,
                self.categorical_features_,
                population,
                _INITIAL_STEP,
                _MAX_STEP_UNBOUNDED,
            )

            # A target is done once any of its searches reaches it.
            target_done = np.zeros(Y.shape[0], dtype=bool)
            _, reached = misfit(self, best_outputs, Y[owner])
            target_done[owner[stop_on_reach & reached]] = True
            stopped = target_done[owner] | (best_loss <= loss_floor)
            running = ~stopped
            n_iter = np.zeros(n_rows, dtype=np.int64)
            history = np.tile(best_loss[:, None], (1, history_length))
            progress = ProgressLogger("black-box search", self.verbose)
            n_targets = np.unique(owner).size

            for generation in range(int(budget.max(initial=0))):
                rows = np.flatnonzero(running)
                progress(n_targets - np.unique(owner[rows]).size, n_targets)
                if rows.size == 0:
                    break

                samples = search.ask(rows, rng)
                targets = np.repeat(Y[owner[rows]], population, axis=0)
                loss, outputs = evaluate(samples.reshape(-1, starts.shape[1]), targets)
                evaluations += loss.size
                loss = loss.reshape(rows.size, population)
                order = np.argsort(loss, axis=1, kind="stable")
                sorted_loss = np.take_along_axis(loss, order, axis=1)
                search.tell(rows, order, sorted_loss)

                better = sorted_loss[:, 0] < best_loss[rows]
                improved = rows[better]
                first = order[better, 0]
                best_loss[improved] = sorted_loss[better, 0]
                best_x[improved] = samples[better, first]
                outputs = outputs.reshape(rows.size, population, -1)
                best_outputs[improved] = outputs[better, first]
                n_iter[rows] += 1

                slot = generation % history_length
                oldest = history[rows, (slot + 1) % history_length]
                history[rows, slot] = best_loss[rows]
                _, reached = misfit(self, best_outputs[rows], Y[owner[rows]])
                target_done[owner[rows][stop_on_reach[rows] & reached]] = True
                # Progress below loss_floor, a misfit ten times below tol,
                # cannot change whether a target is reached, so it counts as
                # a stall too. Without it, the prior term of a search on a
                # plateau of a tree model kept improving in tiny steps until
                # max_iter.
                threshold = np.maximum(stall_rtol * np.abs(best_loss[rows]), loss_floor)
                stalled = (n_iter[rows] >= history_length) & (
                    oldest - best_loss[rows] <= threshold
                )
                done = (
                    target_done[owner[rows]]
                    | (best_loss[rows] <= loss_floor)
                    | stalled
                    | search.degenerate(rows)
                )
                stopped[rows[done]] = True
                running[rows[done]] = False
                # Out of generations: not stopped by a test, so unfinished.
                running[rows[n_iter[rows] >= budget[rows]]] = False

        log_summary(
            self.verbose,
            "black-box search: %d searches, %d stopped, %d generations at most, "
            "%d model evaluations, %.1f s",
            n_rows,
            int(stopped.sum()),
            int(n_iter.max(initial=0)),
            evaluations,
            time.perf_counter() - began,
        )
        return {
            "x": best_x,
            "loss": best_loss,
            "outputs": best_outputs,
            "n_iter": n_iter,
            "stopped": stopped,
        }

    def _objective(self, X, targets, alpha, normalizer, parallel):
        """Return the normalized objective of each row and the model's outputs."""
        outputs = self._predict_rows(X, parallel)
        if hasattr(self, "classes_"):
            is_label = is_label_row(targets)
            label = np.argmax(targets, axis=1)
            chosen = outputs[np.arange(outputs.shape[0]), label]
            cross = -np.log(np.maximum(chosen, _MIN_PROBABILITY))
            squared = np.sum((outputs - targets) ** 2, axis=1)
            # A class label requests the most confident input, so its misfit
            # is the cross-entropy. A probability vector requests those
            # probabilities, so its misfit is the squared gap that tol bounds.
            loss = np.where(is_label, cross, squared)
        else:
            loss = np.sum((outputs - targets) ** 2, axis=1)
        if alpha > 0:
            centered = X - self.prior_mean_
            if self.prior == "diag":
                whitened = centered / self.prior_scale_
            else:
                whitened = centered @ self._prior_inverse_sqrt.T
            loss = loss + alpha * np.sum(whitened**2, axis=1)
        return loss / normalizer, outputs

    def _predict_rows(self, X, parallel):
        """Predict ``X`` in chunks, one per thread of ``n_jobs``."""
        n_chunks = max(
            effective_n_jobs(self.n_jobs), int(np.ceil(X.shape[0] / _MAX_PREDICT_ROWS))
        )
        n_chunks = min(n_chunks, X.shape[0])
        if n_chunks <= 1:
            return self._predict(X)
        parts = parallel(
            delayed(self._predict)(chunk) for chunk in np.array_split(X, n_chunks)
        )
        return np.concatenate(parts)


def _reject_string_columns(inverter, X):
    """Raise a clear error for a DataFrame with string or categorical columns."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return
    for column, dtype in dtypes.items():
        if getattr(dtype, "kind", "O") not in "biuf":
            # NOTE: string-valued categories would need the search to run on
            # codes and map them back before each predict; not supported yet.
            raise ValueError(
                f"{type(inverter).__name__}: column {column!r} of X has dtype "
                f"{dtype}, but the inverter searches numeric inputs only. Encode "
                "its categories as numbers (for example integer codes) and fit "
                "the model on those; a OneHotEncoder on that column is then "
                "found and searched on its categories."
            )
