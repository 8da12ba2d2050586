"""Re-simulation metrics against brute-force computations."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skinvert.metrics import best_of_t_resimulation_error, resimulation_error


def _forward(X):
    return np.column_stack([X[:, 0] + X[:, 1] ** 2, np.sin(X[:, 0])])


def test_best_of_t_matches_loop():
    rng = np.random.default_rng(0)
    candidates = rng.normal(size=(7, 5, 2))
    Y = rng.normal(size=(7, 2))

    r = best_of_t_resimulation_error(Y, candidates, _forward)

    expected = []
    for t in range(1, 6):
        per_target = []
        for i in range(7):
            errors = [
                np.mean((_forward(c[None])[0] - Y[i]) ** 2) for c in candidates[i, :t]
            ]
            per_target.append(min(errors))
        expected.append(np.mean(per_target))
    assert_allclose(r, expected, rtol=1e-12)
    assert np.all(np.diff(r) <= 0)


def test_best_of_t_skips_nan_candidates():
    def forward(X):
        return np.where(X[:, :1] > 0, X[:, :1], np.nan)

    candidates = np.array([[[-1.0], [2.0]], [[-1.0], [-2.0]]])
    Y = np.array([[1.0], [1.0]])

    r = best_of_t_resimulation_error(Y, candidates, forward)

    assert np.isnan(r[0])
    assert np.isnan(r[1])
    r_first = best_of_t_resimulation_error(Y[:1], candidates[:1], forward)
    assert_allclose(r_first, [np.nan, 1.0])


def test_best_of_t_max_t():
    rng = np.random.default_rng(1)
    candidates = rng.normal(size=(3, 4, 2))
    Y = rng.normal(size=(3, 2))

    r = best_of_t_resimulation_error(Y, candidates, _forward, max_t=2)

    assert r.shape == (2,)
    assert_allclose(r, best_of_t_resimulation_error(Y, candidates, _forward)[:2])


@pytest.mark.parametrize(
    "candidates, max_t, message",
    [
        (np.zeros((2, 3)), None, "shape \\(2, 3\\)"),
        (np.zeros((3, 3, 2)), None, "Y has 2 targets"),
        (np.zeros((2, 3, 2)), 4, "max_t=4 is outside 1..3"),
        (np.zeros((2, 3, 2)), 1.5, "max_t must be an integer, got 1.5"),
    ],
)
def test_best_of_t_bad_input(candidates, max_t, message):
    with pytest.raises(ValueError, match=message):
        best_of_t_resimulation_error(
            np.zeros((2, 2)), candidates, _forward, max_t=max_t
        )


def test_resimulation_error_shape_mismatch():
    with pytest.raises(ValueError, match="forward must return one row"):
        resimulation_error(np.zeros((3, 2)), np.zeros((3, 2)), lambda X: X[:2])
