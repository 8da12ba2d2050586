"""Inverters for fitted machine learning models.

Given a fitted model ``f`` and target outputs ``y``, an inverter finds
inputs ``x`` with ``f(x)`` close to ``y``, using priors, bounds and
regularization learned from the training inputs. Every inverter is a
scikit-learn transformer: ``transform`` is the forward model and
``inverse_transform`` the inversion.
"""

from ._base import BaseInverter
from ._blackbox import BlackBoxInverter
from ._linear import LinearInverter
from ._result import InversionResult

__all__ = [
    "BaseInverter",
    "BlackBoxInverter",
    "GradientInverter",
    "InversionResult",
    "LatentInverter",
    "LinearInverter",
]


def __getattr__(name):
    # GradientInverter and LatentInverter need torch, which takes seconds to
    # import; load them only when asked for, so LinearInverter and the CLI
    # start fast.
    if name == "GradientInverter":
        from ._gradient import GradientInverter

        return GradientInverter
    if name == "LatentInverter":
        from ._latent import LatentInverter

        return LatentInverter
    raise AttributeError(f"module 'skinvert' has no attribute {name!r}")


__version__ = "0.1.0"
