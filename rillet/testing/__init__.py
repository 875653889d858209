"""Testing helpers: op tables (OpInfo) and numerical gradient checks."""

from .gradcheck import check_grads, numerical_gradient
from .opinfo import OpInfo, Sample

__all__ = ["OpInfo", "Sample", "check_grads", "numerical_gradient"]
