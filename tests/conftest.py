"""Shared fixtures of the datajoint_rs test suite."""

from __future__ import annotations

import os

import blob_helpers
import lab_schema
import pytest
from hypothesis import HealthCheck, settings

# Hypothesis: no deadlines (the first call of a native function can be slow), moderate example
# counts so the whole suite stays fast on 2 cores. HYPOTHESIS_PROFILE=thorough for long runs.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("default"),
    max_examples=2000,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def blob():
    """The module under test: ``datajoint_rs.blob``."""
    return blob_helpers.ours()


@pytest.fixture
def ref_blob():
    """``datajoint.blob`` of the reference datajoint 0.14.9 (skips when not installed)."""
    module = blob_helpers.reference_blob()
    if module is None:
        pytest.skip("the reference datajoint 0.14.9 is not installed")
    return module


@pytest.fixture
def config():
    import datajoint_rs

    return datajoint_rs.config


@pytest.fixture
def vector():
    """Look up a golden vector by name: ``vector(name) -> (case, blob bytes)``."""

    def get(name):
        case = blob_helpers.CASE_BY_NAME.get(name)
        if case is None:
            pytest.skip(f"vector {name} is not in tests/data/blob")
        return case, blob_helpers.read_blob(case)

    return get


@pytest.fixture(autouse=True)
def _restore_blob_flags():
    """Tests may flip the module flags of datajoint_rs.blob; always restore them."""
    try:
        module = blob_helpers.ours()
    except ImportError:
        yield
        return
    saved = (module.use_32bit_dims, module.bypass_serialization)
    yield
    module.use_32bit_dims, module.bypass_serialization = saved


@pytest.fixture(scope="module")
def connection():
    """A ``datajoint_rs`` connection to the test server (DJ_HOST, DJ_USER, DJ_PASS), one per
    test module; skips when no server is configured."""
    env = lab_schema.server_env()
    if env is None:
        pytest.skip("DJ_HOST is not set: no database server to test against")
    import datajoint_rs

    c = datajoint_rs.Connection(*env)
    yield c
    c.close()
