"""Forward models and data generators for standard low-dimensional inverse problems.

Each problem has a forward model ``*_forward(X)`` that maps inputs to outputs
and a generator ``make_*`` that samples inputs from the problem's input
distribution and returns them with the outputs. The three problems are the
sine wave, the robot arm and the ballistics benchmarks of Ren, Padilla and
Malof, "Benchmarking deep inverse models over time, and the neural-adjoint
method", NeurIPS 2020. Their generator scripts are in the GitHub repository
BensonRen/BDIMNNA under ``Simulated_DataSets/``.

Everything is computed offline from the formulas, with NumPy.
"""

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "ballistics_forward",
    "make_ballistics",
    "make_robot_arm",
    "make_sine_wave",
    "robot_arm_forward",
    "sine_wave_forward",
]

# Segment lengths of the robot arm, from the base outwards.
ROBOT_ARM_LENGTHS = (0.5, 0.5, 1.0)

# Standard deviations of the robot arm inputs (rail offset, three joint angles).
ROBOT_ARM_INPUT_STD = (0.25, 0.5, 0.5, 0.5)

# Ballistics constants in SI units: gravity (m/s^2), drag coefficient (kg/m)
# and projectile mass (kg).
BALLISTICS_GRAVITY = 9.81
BALLISTICS_DRAG = 0.25
BALLISTICS_MASS = 0.2

# Fixed RK4 time step of the ballistics simulation, in seconds.
BALLISTICS_TIME_STEP = 2e-3

# Rows integrated together. Blocks are faster than one large array, likely
# because the RK4 temporaries then fit in the CPU cache. 1e5 rows from
# make_ballistics took 4.1 s in blocks of 16384 and 10.2 s in one block
# (2-core AMD EPYC, NumPy 2.4).
BALLISTICS_CHUNK_SIZE = 16384


def _check_X(X, n_columns, function_name, column_names):
    """Convert ``X`` to a 2-D float array with ``n_columns`` columns."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != n_columns:
        raise ValueError(
            f"{function_name}: X must be a 2-D array with {n_columns} columns "
            f"({column_names}), but it has shape {X.shape}. Pass one sample "
            f"per row, and reshape a single sample with X.reshape(1, {n_columns})."
        )
    return X


def _check_option(function_name, name, value, options):
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(option) for option in options)
        raise ValueError(
            f"{function_name}: {name} must be one of {listed}, got {value!r}."
        )


def _check_n_samples(n_samples, function_name):
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ValueError(
            f"{function_name}: n_samples must be a positive integer, got {n_samples!r}."
        )
    if n_samples < 1:
        raise ValueError(
            f"{function_name}: n_samples must be a positive integer, got {n_samples}."
        )


def sine_wave_forward(X):
    """Compute the sine wave benchmark output ``sin(3 pi x1) + cos(3 pi x2)``.

    The problem of Ren, Padilla and Malof (NeurIPS 2020) has two inputs on
    ``[-1, 1]^2`` and one output. Inputs outside that square are accepted and
    evaluated with the same formula.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Inputs ``(x1, x2)``.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        One output per row, as a 1-D array.

    Examples
    --------
    >>> from skinvert.datasets import sine_wave_forward
    >>> sine_wave_forward([[0.0, 0.0], [1 / 6, 1 / 3]])
    array([1., 0.])
    """
    X = _check_X(X, 2, "sine_wave_forward", "x1, x2")
    return np.sin(3 * np.pi * X[:, 0]) + np.cos(3 * np.pi * X[:, 1])


def make_sine_wave(n_samples=1000, *, random_state=None):
    """Sample the sine wave problem with inputs uniform on ``[-1, 1]^2``.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for the inputs, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        Inputs, independent and uniform on ``[-1, 1]``.
    y : ndarray of shape (n_samples,)
        ``sine_wave_forward(X)``.

    Examples
    --------
    >>> from skinvert.datasets import make_sine_wave
    >>> X, y = make_sine_wave(5, random_state=0)
    >>> X.shape, y.shape
    ((5, 2), (5,))
    """
    _check_n_samples(n_samples, "make_sine_wave")
    rng = check_random_state(random_state)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    return X, sine_wave_forward(X)


def robot_arm_forward(X, *, angles="relative"):
    """Compute the end position of a planar three-segment arm on a vertical rail.

    The base of the arm sits at ``(0, x0)``, so the rail offset ``x0`` moves
    it vertically. The segments have lengths ``l1, l2, l3 = 0.5, 0.5, 1.0``
    and each joint angle is relative to the previous segment, with ``θ1``
    measured from the positive x axis. The end position is::

        x = l1 cos θ1 + l2 cos(θ1 + θ2) + l3 cos(θ1 + θ2 + θ3)
        y = x0 + l1 sin θ1 + l2 sin(θ1 + θ2) + l3 sin(θ1 + θ2 + θ3)

    This is the robot arm problem of Ren, Padilla and Malof (NeurIPS 2020).
    Their generator script ``generate_robotic_arm.py`` computes the segment
    directions differently, as ``θ1``, ``θ2 - θ1`` and ``θ3 - θ2 - θ1``, and
    ``angles="differenced"`` gives that variant, to compare with results
    published on their data.

    Parameters
    ----------
    X : array-like of shape (n_samples, 4)
        Inputs ``(x0, θ1, θ2, θ3)``, the angles in radians.
    angles : {"relative", "differenced"}, default="relative"
        How the joint angles give the direction of each segment: summed
        (each joint relative to the previous segment), or differenced as in
        the benchmark's generator script.

    Returns
    -------
    positions : ndarray of shape (n_samples, 2)
        End position ``(x, y)`` of each row.

    Examples
    --------
    >>> from skinvert.datasets import robot_arm_forward
    >>> robot_arm_forward([[0.3, 0.0, 0.0, 0.0]])
    array([[2. , 0.3]])
    """
    X = _check_X(X, 4, "robot_arm_forward", "x0, θ1, θ2, θ3")
    _check_option("robot_arm_forward", "angles", angles, ("relative", "differenced"))
    l1, l2, l3 = ROBOT_ARM_LENGTHS
    angle1 = X[:, 1]
    if angles == "relative":
        angle2 = angle1 + X[:, 2]
        angle3 = angle2 + X[:, 3]
    else:
        angle2 = X[:, 2] - X[:, 1]
        angle3 = X[:, 3] - X[:, 2] - X[:, 1]
    x = l1 * np.cos(angle1) + l2 * np.cos(angle2) + l3 * np.cos(angle3)
    y = X[:, 0] + l1 * np.sin(angle1) + l2 * np.sin(angle2) + l3 * np.sin(angle3)
    return np.column_stack([x, y])


def make_robot_arm(n_samples=1000, *, angles="relative", random_state=None):
    """Sample the robot arm problem with Gaussian inputs.

    The inputs are independent normal with mean 0 and standard deviations
    0.25 for the rail offset and 0.5 for each joint angle (radians).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of rows.
    angles : {"relative", "differenced"}, default="relative"
        Angle convention of :func:`robot_arm_forward`.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for the inputs, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_samples, 4)
        Inputs ``(x0, θ1, θ2, θ3)``.
    y : ndarray of shape (n_samples, 2)
        ``robot_arm_forward(X, angles=angles)``.

    Examples
    --------
    >>> from skinvert.datasets import make_robot_arm
    >>> X, y = make_robot_arm(5, random_state=0)
    >>> X.shape, y.shape
    ((5, 4), (5, 2))
    """
    _check_n_samples(n_samples, "make_robot_arm")
    _check_option("make_robot_arm", "angles", angles, ("relative", "differenced"))
    rng = check_random_state(random_state)
    X = rng.normal(0.0, ROBOT_ARM_INPUT_STD, size=(n_samples, 4))
    return X, robot_arm_forward(X, angles=angles)


def _ballistics_derivative(vx, vy, drag):
    """Return the accelerations ``(ax, ay)`` under gravity and drag."""
    drag_rate = BALLISTICS_DRAG / BALLISTICS_MASS
    if drag == "quadratic":
        drag_rate = drag_rate * np.hypot(vx, vy)
    return -drag_rate * vx, -BALLISTICS_GRAVITY - drag_rate * vy


def _rk4_step(state, dt, drag):
    """Advance the states ``(x, y, vx, vy)``, stacked as rows, by one RK4 step."""

    def derivative(s):
        ax, ay = _ballistics_derivative(s[2], s[3], drag)
        return np.stack([s[2], s[3], ax, ay])

    k1 = derivative(state)
    k2 = derivative(state + 0.5 * dt * k1)
    k3 = derivative(state + 0.5 * dt * k2)
    k4 = derivative(state + dt * k3)
    return state + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _hermite(p0, p1, m0, m1, s):
    """Evaluate the cubic Hermite polynomial on ``s`` in [0, 1].

    ``m0`` and ``m1`` are the derivatives with respect to ``s``, that is the
    time derivatives times the step length.
    """
    s2 = s * s
    s3 = s2 * s
    return (
        (2 * s3 - 3 * s2 + 1) * p0
        + (s3 - 2 * s2 + s) * m0
        + (-2 * s3 + 3 * s2) * p1
        + (s3 - s2) * m1
    )


def _landing_x(before, after, dt):
    """Interpolate the x position where ``y`` reaches 0 within one step.

    ``before`` has ``y > 0`` and ``after`` has ``y <= 0`` in every column. The
    cubic Hermite interpolant through the positions and velocities at both
    ends has an error of order ``dt**4``, the same order as the RK4 error. Its
    root in ``y`` is found by bisection.
    """
    low = np.zeros(before.shape[1])
    high = np.ones(before.shape[1])
    for _ in range(50):
        middle = 0.5 * (low + high)
        y = _hermite(before[1], after[1], dt * before[3], dt * after[3], middle)
        above = y > 0
        low = np.where(above, middle, low)
        high = np.where(above, high, middle)
    s = 0.5 * (low + high)
    return _hermite(before[0], after[0], dt * before[2], dt * after[2], s)


def ballistics_forward(X, *, drag="quadratic", max_time=6.0, return_landed=False):
    """Simulate projectiles with air drag and return where they land.

    A projectile of mass ``m = 0.2`` kg starts at ``(x, y)`` with speed ``v``
    at ``angle`` radians above the horizontal and moves under gravity
    ``g = 9.81`` m/s^2 and quadratic drag with coefficient ``k = 0.25`` kg/m::

        m dv/dt = -m g e_y - k |v| v

    The output is the x position at which the projectile first crosses
    ``y = 0`` from above. This is the ballistics problem of Ren, Padilla and
    Malof (NeurIPS 2020) with the drag made quadratic in the speed. Their
    generator script ``generate_ballistics.py`` uses drag linear in the
    velocity, ``m dv/dt = -m g e_y - k v`` with ``k = 0.25`` kg/s, and
    ``drag="linear"`` gives that variant, to compare with results published
    on their data.

    All rows are integrated together with fixed-step fourth-order Runge-Kutta
    (step 2 ms), and the landing point is found by cubic Hermite
    interpolation within the step that crosses ``y = 0``. Against
    ``scipy.integrate.solve_ivp`` (DOP853, rtol=atol=1e-12, terminal event at
    ``y = 0``) on 50 random launches per speed range, from heights of 0 to
    3 m at angles of 9° to 81°, the largest landing x error was 1.4e-8 m for
    speeds up to 15 m/s, 1.9e-6 m up to 50 m/s, 2.2e-5 m up to 100 m/s and
    1.1e-3 m up to 200 m/s. The drag makes the equations stiffer as the speed
    grows, and the step is fixed, so the error keeps growing at higher speeds.

    A row does not land, and gets NaN, when the projectile starts below the
    ground (``y < 0``), starts on the ground (``y == 0``) without an upward
    velocity, has a non-finite input, or is still in the air after
    ``max_time`` seconds.

    Parameters
    ----------
    X : array-like of shape (n_samples, 4)
        Inputs ``(x, y, angle, speed)``: launch position in m, launch angle
        in radians and launch speed in m/s.
    drag : {"quadratic", "linear"}, default="quadratic"
        Drag force ``k |v| v`` or ``k v``.
    max_time : float, default=6.0
        Simulated time in seconds. Rows still in the air then get NaN.
    return_landed : bool, default=False
        If True, also return the mask of rows that landed.

    Returns
    -------
    landing_x : ndarray of shape (n_samples,)
        Landing x position in m, NaN for rows that did not land.
    landed : ndarray of shape (n_samples,), dtype=bool
        True for rows that landed within ``max_time``. Returned only when
        ``return_landed`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from skinvert.datasets import ballistics_forward
    >>> X = [[0.0, 1.5, np.pi / 4, 15.0], [0.0, -1.0, np.pi / 4, 15.0]]
    >>> landing_x, landed = ballistics_forward(X, return_landed=True)
    >>> landed
    array([ True, False])
    >>> bool(landing_x[0] > 0), bool(np.isnan(landing_x[1]))
    (True, True)
    """
    X = _check_X(X, 4, "ballistics_forward", "x, y, angle, speed")
    _check_option("ballistics_forward", "drag", drag, ("quadratic", "linear"))
    if not (np.isfinite(max_time) and max_time > 0):
        raise ValueError(
            f"ballistics_forward: max_time must be a positive number of seconds, "
            f"got {max_time!r}."
        )

    initial_state = np.stack(
        [
            X[:, 0],
            X[:, 1],
            X[:, 3] * np.cos(X[:, 2]),
            X[:, 3] * np.sin(X[:, 2]),
        ]
    )
    landing_x = np.full(X.shape[0], np.nan)
    landed = np.zeros(X.shape[0], dtype=bool)
    for start in range(0, X.shape[0], BALLISTICS_CHUNK_SIZE):
        chunk = slice(start, start + BALLISTICS_CHUNK_SIZE)
        landing_x[chunk], landed[chunk] = _simulate_landings(
            initial_state[:, chunk], max_time, drag
        )

    if return_landed:
        return landing_x, landed
    return landing_x


def _simulate_landings(state, max_time, drag):
    """Integrate the states ``(x, y, vx, vy)``, stacked as rows, until landing.

    Returns the landing x positions (NaN where none) and the landed mask.
    """
    n_samples = state.shape[1]
    landing_x = np.full(n_samples, np.nan)
    landed = np.zeros(n_samples, dtype=bool)
    # States at both ends of the step in which each row crosses y = 0, kept
    # so the landing points are interpolated in one call after the loop.
    before_landing = np.zeros((4, n_samples))
    after_landing = np.zeros((4, n_samples))

    # Rows that can never cross y = 0 from above are left out of the loop.
    can_land = np.all(np.isfinite(state), axis=0) & (
        (state[1] > 0) | ((state[1] == 0) & (state[3] > 0))
    )
    active = np.flatnonzero(can_land)
    state = state[:, active]

    dt = BALLISTICS_TIME_STEP
    n_steps = int(np.ceil(max_time / dt))
    for _ in range(n_steps):
        if active.size == 0:
            break
        new_state = _rk4_step(state, dt, drag)

        crossed = (state[1] > 0) & (new_state[1] <= 0)
        if np.any(crossed):
            rows = active[crossed]
            before_landing[:, rows] = state[:, crossed]
            after_landing[:, rows] = new_state[:, crossed]
            landed[rows] = True
            active = active[~crossed]
            new_state = new_state[:, ~crossed]
        state = new_state

    landing_x[landed] = _landing_x(
        before_landing[:, landed], after_landing[:, landed], dt
    )
    return landing_x, landed


def make_ballistics(
    n_samples=1000, *, drag="quadratic", drop_unlanded=True, random_state=None
):
    """Sample the ballistics problem and simulate where each projectile lands.

    The inputs are independent, with the distribution of the benchmark's
    script ``generate_ballistics.py`` (Ren, Padilla and Malof, NeurIPS 2020):

    - launch x ~ N(0, 0.25^2) in m,
    - launch y ~ N(1.5, 0.25^2) in m,
    - angle ~ U(9°, 72°), returned in radians,
    - speed ~ Poisson(15) in m/s.

    The outputs come from :func:`ballistics_forward`, which uses quadratic
    drag unless ``drag="linear"``, the benchmark's own choice.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of inputs to sample.
    drag : {"quadratic", "linear"}, default="quadratic"
        Drag law of :func:`ballistics_forward`.
    drop_unlanded : bool, default=True
        If True, remove the rows for which :func:`ballistics_forward` returns
        NaN, so the result can have fewer than ``n_samples`` rows; check
        ``len(y)``. If False, keep them with ``y`` set to NaN. With this
        input distribution a row fails to land only if its launch y is
        negative (probability about 1e-9) or it starts at ``y = 0`` with
        speed 0.
    random_state : int, RandomState instance or None, default=None
        Seed or generator for the inputs, as in scikit-learn.

    Returns
    -------
    X : ndarray of shape (n_rows, 4)
        Inputs ``(x, y, angle, speed)``, with ``n_rows <= n_samples``.
    y : ndarray of shape (n_rows,)
        Landing x position of each row.

    Examples
    --------
    >>> from skinvert.datasets import make_ballistics
    >>> X, y = make_ballistics(5, random_state=0)
    >>> X.shape, y.shape
    ((5, 4), (5,))
    """
    _check_n_samples(n_samples, "make_ballistics")
    _check_option("make_ballistics", "drag", drag, ("quadratic", "linear"))
    rng = check_random_state(random_state)
    x = rng.normal(0.0, 0.25, size=n_samples)
    y = rng.normal(1.5, 0.25, size=n_samples)
    angle = np.radians(rng.uniform(9.0, 72.0, size=n_samples))
    speed = rng.poisson(15, size=n_samples).astype(float)
    X = np.column_stack([x, y, angle, speed])

    landing_x, landed = ballistics_forward(X, drag=drag, return_landed=True)
    if drop_unlanded:
        return X[landed], landing_x[landed]
    return X, landing_x
