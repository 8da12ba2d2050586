"""Batched minimizers for many independent problems, one per row.

Each row of ``x`` is its own problem. The loss function returns one value
per row, and rows never share a step size, a line search or a stopping test.
A row that stops leaves the batch, so it costs nothing more. The gradient of
the summed loss gives every row its own gradient, because rows do not
interact in the loss.
"""

from dataclasses import dataclass

import torch

# Relative loss decrease below which an iteration counts as no progress; the
# float64 value is the default of SciPy's L-BFGS-B (factr=1e7 times eps).
_FTOL = 2.2e-9
# Adam: iterations without progress before the row's step size is cut, the
# cut factor, and the smallest step (relative to the initial one) tried.
_ADAM_PATIENCE = 20
_ADAM_CUT = 0.5
_ADAM_MIN_STEP = 1e-5
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-12
# L-BFGS: history length, Armijo constant, backtracking trials and factor,
# and the largest step per iteration in standardized units.
_LBFGS_HISTORY = 10
# Iterations in a row without progress after which an L-BFGS row stops.
_LBFGS_PATIENCE = 3
# A stalled row first clears its history, which may be stale, this many
# times before it stops.
_LBFGS_RESETS = 2
_ARMIJO = 1e-4
_LINE_SEARCH_TRIALS = 20
_BACKTRACK = 0.3
_MAX_STEP = 1.0
# Extrapolation of short steps: the Wolfe curvature constant, the growth
# factor, the number of growths, and the largest step it may reach.
_WOLFE = 0.9
_EXPANSION = 4.0
_EXPANSIONS = 10
_MAX_EXPANDED_STEP = 10.0


@dataclass
class RowsResult:
    """Best point per row and how each row ended.

    Attributes
    ----------
    x : Tensor of shape (n_rows, n_features)
        Best point found per row (lowest finite loss).
    loss : Tensor of shape (n_rows,)
        Loss at ``x``; inf where no finite loss was seen.
    n_iter : Tensor of shape (n_rows,), dtype=int64
        Iterations run per row.
    stopped : Tensor of shape (n_rows,), dtype=bool
        True where a stopping test was met before ``max_iter``.
    nonfinite : Tensor of shape (n_rows,), dtype=bool
        True where the loss was NaN or infinite at some evaluated point.
    """

    x: torch.Tensor
    loss: torch.Tensor
    n_iter: torch.Tensor
    stopped: torch.Tensor
    nonfinite: torch.Tensor


class _Rows:
    """Full-size result storage and the indices of the rows still running."""

    def __init__(self, x0, loss0):
        n_rows = x0.shape[0]
        device = x0.device
        self.best_x = x0.detach().clone()
        self.best_loss = torch.where(
            torch.isfinite(loss0), loss0, torch.full_like(loss0, float("inf"))
        )
        self.n_iter = torch.zeros(n_rows, dtype=torch.int64, device=device)
        self.stopped = torch.zeros(n_rows, dtype=torch.bool, device=device)
        self.nonfinite = ~torch.isfinite(loss0)
        self.active = torch.arange(n_rows, device=device)

    def record(self, rows, x, loss):
        """Keep ``x`` for the rows of ``rows`` where ``loss`` improves the best."""
        finite = torch.isfinite(loss)
        self.nonfinite[rows[~finite]] = True
        better = finite & (loss < self.best_loss[rows])
        index = rows[better]
        self.best_x[index] = x[better].detach()
        self.best_loss[index] = loss[better].detach()

    def result(self):
        return RowsResult(
            x=self.best_x,
            loss=self.best_loss,
            n_iter=self.n_iter,
            stopped=self.stopped,
            nonfinite=self.nonfinite,
        )


def _value_and_grad(loss_fn, x, rows):
    x = x.detach().requires_grad_(True)
    loss = loss_fn(x, rows)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad


def _project(x, lower, upper):
    return torch.maximum(torch.minimum(x, upper), lower)


def _free(x, grad, lower, upper):
    """Return the mask of coordinates not pinned at a bound by the gradient."""
    pinned = ((x <= lower) & (grad > 0)) | ((x >= upper) & (grad < 0))
    return ~pinned


def _stationary(x, grad, lower, upper, gtol, loss):
    """Test first-order optimality per row: the projected gradient is small.

    The gradient of a sum of squares shrinks like the square root of the
    loss as the misfit vanishes, so the test is relative to that root. It
    stops rows at a minimum with a misfit left. Rows still closing in on an
    exact fit are left to the loss floor.
    """
    free = _free(x, grad, lower, upper)
    projected = torch.where(free, grad, torch.zeros_like(grad))
    return projected.abs().amax(dim=1) <= gtol * loss.abs().sqrt()


def minimize_rows(
    loss_fn,
    x0,
    lower,
    upper,
    *,
    method="lbfgs",
    max_iter=200,
    loss_floor=0.0,
    gtol=1e-8,
    learning_rate=0.05,
    progress=None,
):
    """Minimize one loss per row of ``x0`` inside a box, each row on its own.

    The coordinates should be standardized (of order 1 over the region of
    interest), because step limits and tolerances are absolute.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(x, rows)`` returns the losses, of shape (len(rows),), of
        the points ``x`` for the rows indexed by ``rows`` (an int64 tensor).
    x0 : Tensor of shape (n_rows, n_features)
        Starting points, inside the bounds.
    lower, upper : Tensor of shape (n_features,)
        Bounds, infinite for open sides.
    method : {"lbfgs", "adam"}
        Projected L-BFGS with a per-row Armijo line search, or Adam with a
        per-row step size that shrinks when the loss stops improving.
    max_iter : int
        Iterations per row.
    loss_floor : float
        A row stops once its loss is at or below this value.
    gtol : float
        A row stops once the largest entry of its projected gradient is at
        most ``gtol * sqrt(|loss|)``.
    learning_rate : float
        Adam's initial step per coordinate.
    progress : callable or None
        Called after each iteration as ``progress(iteration, n_running,
        mean_loss)``.

    Returns
    -------
    result : RowsResult
        Best point, loss, iteration count and end state of each row.
    """
    all_rows = torch.arange(x0.shape[0], device=x0.device)
    with torch.no_grad():
        loss0 = loss_fn(x0, all_rows).detach()
    rows = _Rows(x0, loss0)
    ftol = max(_FTOL, 10 * torch.finfo(x0.dtype).eps)
    settings = (lower, upper, max_iter, loss_floor, gtol, ftol, progress)
    if method == "adam":
        _run_adam(loss_fn, rows, settings, learning_rate)
    else:
        _run_lbfgs(loss_fn, rows, settings)
    return rows.result()


def _run_adam(loss_fn, rows, settings, learning_rate):
    lower, upper, max_iter, loss_floor, gtol, ftol, progress = settings
    beta1, beta2 = _ADAM_BETAS
    index = rows.active
    x = rows.best_x[index].clone()
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    step = torch.full_like(rows.best_loss, learning_rate)
    best = rows.best_loss.clone()
    stall = torch.zeros_like(rows.n_iter)

    for iteration in range(1, max_iter + 1):
        loss, grad = _value_and_grad(loss_fn, x, index)
        rows.record(index, x, loss)
        rows.n_iter[index] = iteration

        # A NaN or infinite loss sends the row back to its best point with
        # a smaller step and fresh moments.
        bad = ~torch.isfinite(loss) | ~torch.isfinite(grad).all(dim=1)
        if bad.any():
            x[bad] = rows.best_x[index[bad]]
            grad[bad] = 0
            m[bad] = 0
            v[bad] = 0
            step[bad] *= _ADAM_CUT

        finite_loss = torch.where(bad, best, loss)
        threshold = torch.where(
            torch.isfinite(best),
            best - ftol * best.abs(),
            torch.full_like(best, float("inf")),
        )
        improved = finite_loss < threshold
        best = torch.minimum(best, finite_loss)
        stall = torch.where(improved, torch.zeros_like(stall), stall + 1)
        cut = stall >= _ADAM_PATIENCE
        step = torch.where(cut, step * _ADAM_CUT, step)
        stall[cut] = 0

        done = (best <= loss_floor) | (step < learning_rate * _ADAM_MIN_STEP)
        done |= ~bad & _stationary(x, grad, lower, upper, gtol, loss)

        m.mul_(beta1).add_(grad, alpha=1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        m_hat = m / (1 - beta1**iteration)
        v_hat = v / (1 - beta2**iteration)
        x = _project(
            x - step[:, None] * m_hat / (v_hat.sqrt() + _ADAM_EPS), lower, upper
        )

        if progress is not None:
            progress(
                iteration,
                int((~done).sum()),
                float(best[~done].mean()) if (~done).any() else 0.0,
            )
        if done.any():
            rows.stopped[index[done]] = True
            keep = ~done
            index, x, m, v, step, best, stall = (
                tensor[keep] for tensor in (index, x, m, v, step, best, stall)
            )
            if index.numel() == 0:
                return
    # Evaluate the last update so the best point includes it.
    with torch.no_grad():
        rows.record(index, x, loss_fn(x, index))


def _two_loop(grad, S, Y, rho, gamma, order):
    """Apply the L-BFGS inverse-Hessian estimate to ``grad``, row by row."""
    q = grad.clone()
    alphas = []
    for slot in order:
        alpha = rho[slot] * (S[slot] * q).sum(dim=1)
        q -= alpha[:, None] * Y[slot]
        alphas.append(alpha)
    r = gamma[:, None] * q
    for slot, alpha in zip(reversed(order), reversed(alphas), strict=True):
        beta = rho[slot] * (Y[slot] * r).sum(dim=1)
        r += (alpha - beta)[:, None] * S[slot]
    return r


def _extrapolate(
    loss_fn, rows, index, x, direction, slope, t, t_first, accepted, new, lower, upper
):
    """Lengthen accepted first steps while the loss keeps falling steeply.

    A row whose first trial step was accepted but ends where the slope is
    still steep has a step that is too short: the curvature condition of
    Wolfe fails. This happens when its history is empty or was reset, for
    example in a region of negative curvature. Without this, such rows crawl
    in steps the size of their small gradient.
    """
    x_new, f_new, g_new = new
    grow = accepted & (t == t_first)
    grow &= (g_new * direction).sum(dim=1) < _WOLFE * slope
    candidates = torch.nonzero(grow).squeeze(1)
    for _ in range(_EXPANSIONS):
        if candidates.numel() == 0:
            return
        t[candidates] *= _EXPANSION
        limit = _MAX_EXPANDED_STEP / direction[candidates].abs().amax(dim=1)
        t[candidates] = torch.minimum(t[candidates], limit)
        trial = _project(
            x[candidates] + t[candidates, None] * direction[candidates], lower, upper
        )
        moved = (trial != x_new[candidates]).any(dim=1)
        candidates, trial = candidates[moved], trial[moved]
        if candidates.numel() == 0:
            return
        f_trial, g_trial = _value_and_grad(loss_fn, trial, index[candidates])
        rows.record(index[candidates], trial, f_trial)
        better = torch.isfinite(f_trial) & torch.isfinite(g_trial).all(dim=1)
        better &= f_trial < f_new[candidates]
        good = candidates[better]
        x_new[good], f_new[good], g_new[good] = (
            trial[better],
            f_trial[better],
            g_trial[better],
        )
        steep = (g_trial * direction[candidates]).sum(dim=1) < _WOLFE * slope[
            candidates
        ]
        candidates = candidates[better & steep]


def _run_lbfgs(loss_fn, rows, settings):
    lower, upper, max_iter, loss_floor, gtol, ftol, progress = settings
    index = rows.active
    x = rows.best_x[index].clone()
    f, g = _value_and_grad(loss_fn, x, index)
    rows.record(index, x, f)

    # A start with a non-finite loss or gradient gives L-BFGS nothing to work
    # with: such rows end at once, not stopped.
    keep = torch.isfinite(f) & torch.isfinite(g).all(dim=1)
    index, x, f, g = index[keep], x[keep], f[keep], g[keep]

    rounding = 10 * torch.finfo(x.dtype).eps
    n_rows, n_features = x.shape
    S = x.new_zeros((_LBFGS_HISTORY, n_rows, n_features))
    Y = x.new_zeros((_LBFGS_HISTORY, n_rows, n_features))
    rho = x.new_zeros((_LBFGS_HISTORY, n_rows))
    gamma = x.new_ones(n_rows)
    stalls = torch.zeros(n_rows, dtype=torch.int64, device=x.device)
    resets = torch.zeros_like(stalls)
    slot = 0
    n_stored = 0

    for iteration in range(1, max_iter + 1):
        if index.numel() == 0:
            return
        rows.n_iter[index] = iteration
        free = _free(x, g, lower, upper)
        free_grad = torch.where(free, g, torch.zeros_like(g))

        order = [(slot - 1 - k) % _LBFGS_HISTORY for k in range(n_stored)]
        direction = -torch.where(free, _two_loop(free_grad, S, Y, rho, gamma, order), 0)
        slope = (g * direction).sum(dim=1)
        # Fall back to steepest descent, and forget the history, where the
        # estimate does not give a descent direction.
        uphill = ~(slope < 0)
        if uphill.any():
            direction[uphill] = -free_grad[uphill]
            rho[:, uphill] = 0
            gamma[uphill] = 1
            slope = (g * direction).sum(dim=1)

        largest = direction.abs().amax(dim=1)
        t = torch.clamp(_MAX_STEP / largest, max=1.0)
        t = torch.where(torch.isfinite(t), t, torch.ones_like(t))

        t_first = t.clone()
        had_history = (rho != 0).any(dim=0)
        x_new, f_new, g_new = x.clone(), f.clone(), g.clone()
        accepted = torch.zeros_like(uphill)
        pending = torch.arange(index.numel(), device=x.device)
        for _ in range(_LINE_SEARCH_TRIALS):
            trial = _project(
                x[pending] + t[pending, None] * direction[pending], lower, upper
            )
            # A step too short to change the point, or to change the loss by
            # more than rounding, means the row sits at a minimum to the
            # precision of its loss: stop backtracking it without evaluating
            # the model again.
            expected = -slope[pending] * t[pending]
            moved = (trial != x[pending]).any(dim=1)
            moved &= expected > rounding * f[pending].abs()
            pending, trial = pending[moved], trial[moved]
            if pending.numel() == 0:
                break
            f_trial, g_trial = _value_and_grad(loss_fn, trial, index[pending])
            rows.record(index[pending], trial, f_trial)
            decrease = (g[pending] * (trial - x[pending])).sum(dim=1)
            ok = torch.isfinite(f_trial) & torch.isfinite(g_trial).all(dim=1)
            # The allowance covers rounding: torch may round a row's loss
            # differently in batches of different sizes.
            allowance = rounding * f[pending].abs()
            ok &= f_trial <= f[pending] + _ARMIJO * decrease + allowance
            good = pending[ok]
            x_new[good], f_new[good], g_new[good] = trial[ok], f_trial[ok], g_trial[ok]
            accepted[good] = True
            pending = pending[~ok]
            t[pending] *= _BACKTRACK
            if pending.numel() == 0:
                break

        _extrapolate(
            loss_fn,
            rows,
            index,
            x,
            direction,
            slope,
            t,
            t_first,
            accepted,
            (x_new, f_new, g_new),
            lower,
            upper,
        )

        s = x_new - x
        y = g_new - g
        sy = (s * y).sum(dim=1)
        yy = (y * y).sum(dim=1)
        valid = accepted & (sy > 1e-10 * yy) & (yy > 0)
        S[slot] = torch.where(valid[:, None], s, 0)
        Y[slot] = torch.where(valid[:, None], y, 0)
        rho[slot] = torch.where(valid, 1 / torch.where(valid, sy, 1), 0)
        gamma = torch.where(valid, sy / torch.where(valid, yy, 1), gamma)
        slot = (slot + 1) % _LBFGS_HISTORY
        n_stored = min(n_stored + 1, _LBFGS_HISTORY)

        # No step along the direction decreased the loss. With a history the
        # direction may be poor: forget the history and try steepest descent
        # next. Without one the row is at a minimum to the precision of its
        # loss.
        retry = ~accepted & had_history
        if retry.any():
            rho[:, retry] = 0
            gamma[retry] = 1
        done = ~accepted & ~retry
        progress_made = f - f_new
        x, f, g = x_new, f_new, g_new
        done |= f <= loss_floor
        done |= _stationary(x, g, lower, upper, gtol, f)
        # Stop after a few iterations in a row without real progress, since
        # one can happen in a flat stretch on the way.
        stalled = accepted & (
            progress_made <= ftol * torch.clamp(f.abs(), min=loss_floor)
        )
        stalls = torch.where(stalled, stalls + 1, torch.zeros_like(stalls))
        stuck = stalls >= _LBFGS_PATIENCE
        refresh = stuck & (resets < _LBFGS_RESETS)
        if refresh.any():
            rho[:, refresh] = 0
            gamma[refresh] = 1
            resets[refresh] += 1
            stalls[refresh] = 0
        done |= stuck & ~refresh

        if progress is not None:
            running = ~done
            mean_loss = float(f[running].mean()) if running.any() else 0.0
            progress(iteration, int(running.sum()), mean_loss)
        if done.any():
            rows.stopped[index[done]] = True
            keep = ~done
            index, x, f, g, gamma, stalls, resets = (
                t_[keep] for t_ in (index, x, f, g, gamma, stalls, resets)
            )
            S, Y, rho = S[:, keep], Y[:, keep], rho[:, keep]
