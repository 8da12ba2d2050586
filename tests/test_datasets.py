"""Tests of the benchmark forward models and data generators."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from skinvert.datasets import (
    ballistics_forward,
    make_ballistics,
    make_robot_arm,
    make_sine_wave,
    robot_arm_forward,
    sine_wave_forward,
)

GRAVITY = 9.81
DRAG = 0.25
MASS = 0.2


def solve_landing_x(row):
    """Return the landing x of one launch from an adaptive solver, or NaN."""
    x, y, angle, speed = row

    def derivative(t, state):
        speed_now = np.hypot(state[2], state[3])
        drag_rate = DRAG / MASS * speed_now
        return [
            state[2],
            state[3],
            -drag_rate * state[2],
            -GRAVITY - drag_rate * state[3],
        ]

    def ground(t, state):
        return state[1]

    ground.terminal = True
    ground.direction = -1
    initial = [x, y, speed * np.cos(angle), speed * np.sin(angle)]
    solution = solve_ivp(
        derivative,
        (0.0, 6.0),
        initial,
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        events=ground,
    )
    if solution.t_events[0].size == 0:
        return np.nan
    return solution.y_events[0][0][0]


def test_sine_wave_values_at_known_points():
    X = np.array(
        [
            [0.0, 0.0],
            [1 / 6, 0.0],
            [1 / 6, 1 / 3],
            [-1 / 6, 1 / 6],
            [1.0, 1.0],
            [0.5, -1 / 3],
        ]
    )
    # sin(3 pi x1) + cos(3 pi x2) worked out by hand for each row.
    expected = [1.0, 2.0, 0.0, -1.0, -1.0, -2.0]

    assert_allclose(sine_wave_forward(X), expected, atol=1e-12)


def test_sine_wave_output_is_1d():
    y = sine_wave_forward(np.zeros((3, 2)))

    assert y.shape == (3,)


def test_robot_arm_straight_arm_reaches_two():
    X = np.array([[0.0, 0.0, 0.0, 0.0], [0.7, 0.0, 0.0, 0.0], [-0.4, 0.0, 0.0, 0.0]])

    positions = robot_arm_forward(X)

    assert_allclose(positions[:, 0], 2.0, atol=1e-12)
    assert_allclose(positions[:, 1], X[:, 0], atol=1e-12)


def test_robot_arm_known_configurations():
    X = np.array(
        [
            # Arm pointing straight up from a base at (0, 0.5).
            [0.5, np.pi / 2, 0.0, 0.0],
            # First segment up, the other two folded to point along +x.
            [0.0, np.pi / 2, -np.pi / 2, 0.0],
            # Last segment folded back onto the first two.
            [0.0, 0.0, 0.0, np.pi],
        ]
    )
    expected = [[0.0, 2.5], [1.5, 0.5], [0.0, 0.0]]

    assert_allclose(robot_arm_forward(X), expected, atol=1e-12)


def test_robot_arm_matches_per_row_loop():
    rng = np.random.default_rng(0)
    X = rng.normal(0.0, 1.0, size=(20, 4))

    expected = []
    for x0, theta1, theta2, theta3 in X:
        base = np.array([0.0, x0])
        end = base.copy()
        angle = 0.0
        for length, joint in zip(
            (0.5, 0.5, 1.0), (theta1, theta2, theta3), strict=True
        ):
            angle += joint
            end += length * np.array([np.cos(angle), np.sin(angle)])
        expected.append(end)

    assert_allclose(robot_arm_forward(X), expected, atol=1e-12)


def test_ballistics_matches_solve_ivp():
    rng = np.random.default_rng(1)
    n_rows = 8
    X = np.column_stack(
        [
            rng.normal(0.0, 0.5, n_rows),
            rng.uniform(0.0, 3.0, n_rows),
            rng.uniform(0.05 * np.pi, 0.45 * np.pi, n_rows),
            rng.uniform(1.0, 40.0, n_rows),
        ]
    )
    # A launch from the ground and a drop at speed 0.
    X = np.vstack([X, [0.0, 0.0, np.pi / 4, 10.0], [1.0, 2.0, 0.3, 0.0]])

    landing_x, landed = ballistics_forward(X, return_landed=True)
    expected = [solve_landing_x(row) for row in X]

    assert landed.all()
    assert_allclose(landing_x, expected, rtol=0, atol=1e-4)


def linear_drag_landing_x(row):
    """Return the landing x of one launch under linear drag, from the closed form.

    With ``m dv/dt = -m g e_y - k v`` the trajectory is, with ``tau = m / k``,
    ``x(t) = x0 + vx tau (1 - exp(-t / tau))`` and
    ``y(t) = y0 + tau (vy + g tau) (1 - exp(-t / tau)) - g tau t``.
    The landing time is the root of ``y`` after the apex.
    """
    x, y, angle, speed = row
    tau = MASS / DRAG
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)

    def height(t):
        return (
            y + tau * (vy + GRAVITY * tau) * (1 - np.exp(-t / tau)) - GRAVITY * tau * t
        )

    # The height grows until the apex, so y > 0 there, and falls below 0 by 100 s.
    apex = max(tau * np.log1p(vy / (GRAVITY * tau)), 0.0)
    landing_time = brentq(height, apex, 100.0, xtol=1e-14)
    return x + vx * tau * (1 - np.exp(-landing_time / tau))


def test_ballistics_linear_drag_matches_closed_form():
    rng = np.random.default_rng(2)
    n_rows = 10
    X = np.column_stack(
        [
            rng.normal(0.0, 0.5, n_rows),
            rng.uniform(0.5, 3.0, n_rows),
            rng.uniform(0.05 * np.pi, 0.45 * np.pi, n_rows),
            rng.uniform(1.0, 40.0, n_rows),
        ]
    )

    landing_x, landed = ballistics_forward(X, drag="linear", return_landed=True)
    expected = [linear_drag_landing_x(row) for row in X]

    assert landed.all()
    assert_allclose(landing_x, expected, rtol=0, atol=1e-8)
    # Above 1 m/s linear drag is the weaker one, and these launches stay
    # above that speed for most of their flight, so they land farther.
    assert np.all(landing_x > ballistics_forward(X))


def test_make_ballistics_linear_drag_outputs():
    X, y = make_ballistics(20, drag="linear", random_state=0)
    X_quadratic, _ = make_ballistics(20, random_state=0)

    assert_array_equal(X, X_quadratic)
    assert_allclose(y, [linear_drag_landing_x(row) for row in X], atol=1e-8)


def test_robot_arm_differenced_angles():
    rng = np.random.default_rng(3)
    X = rng.normal(0.0, 1.0, size=(20, 4))

    expected = []
    for x0, theta1, theta2, theta3 in X:
        directions = (theta1, theta2 - theta1, theta3 - theta2 - theta1)
        end = np.array([0.0, x0])
        for length, direction in zip((0.5, 0.5, 1.0), directions, strict=True):
            end += length * np.array([np.cos(direction), np.sin(direction)])
        expected.append(end)

    assert_allclose(robot_arm_forward(X, angles="differenced"), expected, atol=1e-12)
    X_made, y_made = make_robot_arm(20, angles="differenced", random_state=0)
    assert_array_equal(y_made, robot_arm_forward(X_made, angles="differenced"))


@pytest.mark.parametrize(
    ("function", "name", "value"),
    [
        (robot_arm_forward, "angles", "absolute"),
        (ballistics_forward, "drag", "cubic"),
        (make_robot_arm, "angles", None),
        (make_ballistics, "drag", 2),
    ],
)
def test_invalid_variant_rejected(function, name, value):
    argument = np.zeros((1, 4)) if function.__name__.endswith("forward") else 5

    with pytest.raises(ValueError) as error:
        function(argument, **{name: value})

    message = str(error.value)
    assert function.__name__ in message
    assert f"{name} must be one of" in message
    assert repr(value) in message


def test_ballistics_drop_lands_below_launch():
    X = np.array([[1.25, 2.0, 0.3, 0.0]])

    assert_allclose(ballistics_forward(X), [1.25], atol=1e-12)


def test_ballistics_farther_with_more_speed():
    speeds = np.linspace(1.0, 40.0, 15)
    X = np.column_stack(
        [np.zeros(15), np.full(15, 1.0), np.full(15, np.pi / 4), speeds]
    )

    landing_x = ballistics_forward(X)

    assert np.all(np.diff(landing_x) > 0)


def test_ballistics_shifts_with_launch_x():
    X = np.array([[0.0, 1.0, 0.6, 12.0], [3.0, 1.0, 0.6, 12.0]])

    landing_x = ballistics_forward(X)

    assert_allclose(landing_x[1] - landing_x[0], 3.0, atol=1e-12)


@pytest.mark.parametrize(
    "row",
    [
        pytest.param([0.0, -1.0, np.pi / 4, 15.0], id="below ground"),
        pytest.param([0.0, 0.0, -0.2, 15.0], id="on ground pointing down"),
        pytest.param([0.0, 0.0, 0.0, 15.0], id="on ground horizontal"),
        pytest.param([0.0, 0.0, np.pi / 4, 0.0], id="on ground at rest"),
        pytest.param([0.0, 1.0, np.nan, 15.0], id="nan angle"),
        pytest.param([0.0, 1000.0, np.pi / 4, 15.0], id="still falling"),
    ],
)
def test_ballistics_unlanded_row_is_nan(row):
    X = np.array([[0.0, 1.5, np.pi / 4, 15.0], row])

    landing_x, landed = ballistics_forward(X, return_landed=True)

    assert_array_equal(landed, [True, False])
    assert np.isfinite(landing_x[0])
    assert np.isnan(landing_x[1])


def test_ballistics_max_time_limits_flight():
    X = np.array([[0.0, 20.0, np.pi / 4, 5.0]])

    _, landed_short = ballistics_forward(X, max_time=1.0, return_landed=True)
    _, landed_long = ballistics_forward(X, max_time=30.0, return_landed=True)

    assert_array_equal(landed_short, [False])
    assert_array_equal(landed_long, [True])


def test_ballistics_empty_input():
    landing_x, landed = ballistics_forward(np.zeros((0, 4)), return_landed=True)

    assert landing_x.shape == (0,)
    assert landed.shape == (0,)


def test_ballistics_rejects_invalid_max_time():
    with pytest.raises(ValueError, match="max_time must be a positive"):
        ballistics_forward(np.zeros((1, 4)), max_time=0.0)


@pytest.mark.parametrize(
    ("function", "n_columns"),
    [(sine_wave_forward, 2), (robot_arm_forward, 4), (ballistics_forward, 4)],
)
@pytest.mark.parametrize("shape", [(5,), (5, 3), (2, 5, 4)])
def test_forward_rejects_wrong_shape(function, n_columns, shape):
    if shape[-1] == n_columns and len(shape) == 2:
        pytest.skip("valid shape for this function")

    with pytest.raises(ValueError) as error:
        function(np.zeros(shape))

    message = str(error.value)
    assert function.__name__ in message
    assert str(shape) in message
    assert f"{n_columns} columns" in message


@pytest.mark.parametrize(
    ("make", "x_shape", "y_shape"),
    [
        (make_sine_wave, (50, 2), (50,)),
        (make_robot_arm, (50, 4), (50, 2)),
        (make_ballistics, (50, 4), (50,)),
    ],
)
def test_generator_shapes(make, x_shape, y_shape):
    X, y = make(50, random_state=0)

    assert X.shape == x_shape
    assert y.shape == y_shape


@pytest.mark.parametrize("make", [make_sine_wave, make_robot_arm, make_ballistics])
def test_generator_reproducible(make):
    X_first, y_first = make(30, random_state=3)
    X_second, y_second = make(30, random_state=np.random.RandomState(3))
    X_other, _ = make(30, random_state=4)

    assert_array_equal(X_first, X_second)
    assert_array_equal(y_first, y_second)
    assert not np.array_equal(X_first, X_other)


@pytest.mark.parametrize("make", [make_sine_wave, make_robot_arm, make_ballistics])
@pytest.mark.parametrize("n_samples", [0, -1, 2.5, True])
def test_generator_rejects_invalid_n_samples(make, n_samples):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make(n_samples)


def test_generator_outputs_match_forward():
    X, y = make_sine_wave(20, random_state=0)
    assert_array_equal(y, sine_wave_forward(X))

    X, y = make_robot_arm(20, random_state=0)
    assert_array_equal(y, robot_arm_forward(X))

    X, y = make_ballistics(20, random_state=0)
    assert_array_equal(y, ballistics_forward(X))


def test_sine_wave_inputs_uniform():
    X, _ = make_sine_wave(4000, random_state=0)

    assert X.min() >= -1.0
    assert X.max() <= 1.0
    # The standard deviation of U(-1, 1) is 1 / sqrt(3).
    assert_allclose(X.std(axis=0), 1 / np.sqrt(3), rtol=0.05)
    assert_allclose(X.mean(axis=0), 0.0, atol=0.05)


def test_robot_arm_input_distribution():
    X, _ = make_robot_arm(4000, random_state=0)

    assert_allclose(X.std(axis=0), [0.25, 0.5, 0.5, 0.5], rtol=0.05)
    assert_allclose(X.mean(axis=0), 0.0, atol=0.05)


def test_ballistics_input_distribution():
    X, _ = make_ballistics(2000, drop_unlanded=False, random_state=0)

    assert_allclose(X[:, 0].mean(), 0.0, atol=0.05)
    assert_allclose(X[:, 0].std(), 0.25, rtol=0.05)
    assert_allclose(X[:, 1].mean(), 1.5, atol=0.05)
    assert_allclose(X[:, 1].std(), 0.25, rtol=0.05)
    assert X[:, 2].min() >= np.radians(9.0)
    assert X[:, 2].max() <= np.radians(72.0)
    assert_allclose(X[:, 3].mean(), 15.0, atol=0.5)
    assert_array_equal(X[:, 3], np.round(X[:, 3]))


def test_make_ballistics_drop_unlanded(monkeypatch):
    import skinvert.datasets as datasets

    def forward_with_one_miss(X, *, drag="quadratic", return_landed=False):
        landing_x = np.arange(X.shape[0], dtype=float)
        landing_x[1] = np.nan
        landed = ~np.isnan(landing_x)
        return landing_x, landed

    monkeypatch.setattr(datasets, "ballistics_forward", forward_with_one_miss)

    X_kept, y_kept = datasets.make_ballistics(4, drop_unlanded=False, random_state=0)
    X_dropped, y_dropped = datasets.make_ballistics(4, random_state=0)

    assert X_kept.shape == (4, 4)
    assert np.isnan(y_kept[1])
    assert X_dropped.shape == (3, 4)
    assert_array_equal(X_dropped, X_kept[[0, 2, 3]])
    assert_array_equal(y_dropped, [0.0, 2.0, 3.0])
