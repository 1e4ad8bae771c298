"""Fixtures every unit test may use."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.age_keys import make_age_key
from tests.support.fake_processes import Fakes


@pytest.fixture(scope="session")
def age_key(tmp_path_factory):
    """A real age key pair (identity file and recipient)."""
    return make_age_key(tmp_path_factory.mktemp("age"), "backup")


@pytest.fixture(scope="session")
def other_age_key(tmp_path_factory):
    """A second key pair, that no backup is encrypted to."""
    return make_age_key(tmp_path_factory.mktemp("age-other"), "other")


@pytest.fixture
def fakes(tmp_path):
    """Fake etcd processes and listeners of this test (tests.support.fake_processes),
    all killed at its end."""
    with Fakes(tmp_path) as made:
        yield made


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs: a disk that fills up (needs root, as the lab does)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)
