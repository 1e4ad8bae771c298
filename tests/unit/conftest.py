"""Fixtures every unit test may use."""

from __future__ import annotations

import pytest

from tests.support.age_keys import make_age_key


@pytest.fixture(scope="session")
def age_key(tmp_path_factory):
    """A real age key pair (identity file and recipient)."""
    return make_age_key(tmp_path_factory.mktemp("age"), "backup")


@pytest.fixture(scope="session")
def other_age_key(tmp_path_factory):
    """A second key pair, that no backup is encrypted to."""
    return make_age_key(tmp_path_factory.mktemp("age-other"), "other")
