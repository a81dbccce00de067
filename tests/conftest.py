"""Shared pytest configuration for gnll's test suite.

The project runs pytest with ``--import-mode=importlib``, so the tests
directory is not put on ``sys.path``; the slow reference implementation in
``reference.py`` is made importable here.
"""

import os
import sys

import numpy as np
import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

try:  # keep hypothesis fast and deterministic in CI
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "gnll",
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.load_profile(os.environ.get("GNLL_HYPOTHESIS_PROFILE", "gnll"))
except ImportError:  # hypothesis is optional; its tests importorskip it
    pass


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: a test that takes more than a few seconds (deselect with -m 'not slow')")


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's node id (stable, per test)."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)
