"""How far to trust a temperature field that did not come from a converged solve.

:mod:`~chiptherm.trust.confidence` holds the confidence score (the error estimate in kelvin
from the finite-volume residual) and the refinement of a rejected field by a warm-started
solve. The names below are re-exported for ``from chiptherm.trust import ...``.
"""

from chiptherm.trust.confidence import (
    DEFAULT_TOLERANCE_K,
    EXACT_CORRECTION,
    Confidence,
    ErrorEstimator,
    Refinement,
    refine,
)

__all__ = [
    "DEFAULT_TOLERANCE_K",
    "EXACT_CORRECTION",
    "Confidence",
    "ErrorEstimator",
    "Refinement",
    "refine",
]
