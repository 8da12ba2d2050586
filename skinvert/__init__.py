"""Inverters for fitted machine learning models.

Given a fitted model ``f`` and target outputs ``y``, an inverter finds
inputs ``x`` with ``f(x)`` close to ``y``, using priors, bounds and
regularization learned from the training inputs. Every inverter is a
scikit-learn transformer: ``transform`` is the forward model and
``inverse_transform`` the inversion.
"""

from ._base import BaseInverter
from ._linear import LinearInverter
from ._result import InversionResult

__all__ = ["BaseInverter", "InversionResult", "LinearInverter"]
__version__ = "0.1.0"
