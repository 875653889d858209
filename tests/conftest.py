import numpy as np
import pytest
from hypothesis import settings

from rillet import _context


@pytest.fixture
def check_rules():
    """Compare every kernel's output with its shape rule while the test runs."""
    previous = _context.FLAGS.check_rules
    _context.FLAGS.check_rules = True
    yield
    _context.FLAGS.check_rules = previous


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# Two test processes share two cores in CI: Hypothesis's per-example deadline would be noise.
settings.register_profile("rillet", deadline=None)
settings.load_profile("rillet")
