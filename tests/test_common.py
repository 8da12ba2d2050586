"""scikit-learn's estimator checks on every public inverter."""

from sklearn.linear_model import LinearRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from skinvert import LinearInverter

# No check is expected to fail; list one here with its reason if that changes.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks(
    [
        LinearInverter(),
        LinearInverter(Ridge(), alpha=1.0, prior="full"),
        LinearInverter(LinearRegression(), bounds="data", n_components=1),
        LinearInverter(Ridge(), alpha="gcv"),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
