import numpy as np
import pytest

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
