"""scikit-learn's estimator checks on every public inverter."""

import pytest
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from skinvert import GradientInverter, LinearInverter

# The checks fit single-output data, on which alpha="gcv" warns that it
# cannot choose; that warning is tested where it matters.
pytestmark = pytest.mark.filterwarnings("ignore:LinearInverter. alpha='gcv'")

EXPECTED_FAILED_CHECKS = {
    "GradientInverter": {
        "check_transformer_n_iter": (
            "max_iter bounds the iterations of each inversion, not of fit, so "
            "fit sets no n_iter_; invert(Y).n_iter reports them per target."
        ),
    },
}


@parametrize_with_checks(
    [
        LinearInverter(),
        LinearInverter(Ridge(), alpha=1.0, prior="full"),
        LinearInverter(LinearRegression(), bounds="data", n_components=1),
        LinearInverter(Ridge(), alpha="gcv"),
        GradientInverter(max_iter=20),
        GradientInverter(Ridge(), alpha=0.1, optimizer="adam", max_iter=20),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS.get(
        type(estimator).__name__, {}
    ),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
