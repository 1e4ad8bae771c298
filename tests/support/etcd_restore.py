"""A saved one-member etcd to restore, for the tests of _restore and etcd_member_restore.

``save_member`` starts etcd, puts ``seeded_keys()``, saves a snapshot, puts one key more
and stops it; ``copy_member`` gives each test its own copy of that data dir, and
``restore_args`` the arguments restore_member takes to restore the snapshot into it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.etcd_process import (
    VERSIONS,
    Etcd,
    pod_keys,
    seed,
    skip_unless_installed,
    tools_for,
)
from tests.support.files import corrupt_body_snapshot

STAMP = "20261126T041500Z"
KEYS = 25
BUMP = 1_000_000_000


def seeded_keys():
    """The keys in the snapshot of ``save_member``."""
    return pod_keys(KEYS)


def save_member(version, tmp_path_factory):
    """{'version', 'tools', 'data_dir' (the stopped member's, one key newer than the
    snapshot), 'snapshot', 'etcd' (stopped)} for one etcd release, or pytest.skip."""
    skip_unless_installed(version)
    base = tmp_path_factory.mktemp(f"restore-{version}")
    etcd = Etcd(version, base / "etcd")
    try:
        etcd.start()
        seed(etcd, seeded_keys())
        snapshot = etcd.save(base / "etcd-snapshot-20261126T030000Z.db")
        etcd.put("/registry/after-the-snapshot", "lost by the restore")
    finally:
        etcd.stop()
    return {
        "version": version,
        "tools": tools_for(version),
        "data_dir": etcd.data_dir,
        "snapshot": snapshot,
        "etcd": etcd,
    }


def copy_member(saved, directory):
    """A copy of the stopped member's data dir, and an Etcd on it with the same peer URL."""
    data_dir = Path(directory) / "var-lib-etcd"
    shutil.copytree(saved["data_dir"], data_dir)
    return Etcd(saved["version"], data_dir, peer=saved["etcd"].peer)


def restore_fixtures():
    """The fixtures ``saved`` (per module and release: ``save_member``) and ``member``
    (per test: ``copy_member``, stopped at the end); bind them in a test module with
    ``saved, member = restore_fixtures()``."""

    @pytest.fixture(scope="module", params=sorted(VERSIONS))
    def saved(request, tmp_path_factory):
        """A stopped one-member etcd and its snapshot, per release."""
        return save_member(request.param, tmp_path_factory)

    @pytest.fixture
    def member(saved, tmp_path):
        """A copy of the saved member's data dir, to restore into; etcd on it is stopped
        at the end."""
        etcd = copy_member(saved, tmp_path)
        yield etcd
        etcd.stop()

    return saved, member


def restore_args(saved, etcd, **kwargs):
    """restore_member's arguments to restore the saved snapshot into ``etcd``'s data dir."""
    args = {
        "tools": saved["tools"],
        "snapshot": str(saved["snapshot"]),
        "data_dir": str(etcd.data_dir),
        "name": etcd.name,
        "initial_cluster": etcd.initial_cluster,
        "initial_advertise_peer_urls": [etcd.peer],
        "initial_cluster_token": f"kubedr-{STAMP}",
        "stamp": STAMP,
        "etcd_version": VERSIONS[saved["version"]]["version"],
        "timeout": 120,
    }
    args.update(kwargs)
    return args


def offline_args(directory, **kwargs):
    """restore_member's arguments without etcd: the data dir ``directory``/etcd holds an
    empty member/, the snapshot ``directory``/s.db is no database (a valid trailer)."""
    data_dir = Path(directory) / "etcd"
    (data_dir / "member").mkdir(parents=True)
    args = {
        "tools": {"etcdctl": {"path": "/usr/bin/etcdctl", "version": "3.4.23"}},
        "snapshot": corrupt_body_snapshot(Path(directory) / "s.db"),
        "data_dir": str(data_dir),
        "name": "m1",
        "initial_cluster": "m1=http://127.0.0.1:2380",
        "initial_advertise_peer_urls": ["http://127.0.0.1:2380"],
        "initial_cluster_token": "t",
        "stamp": STAMP,
    }
    args.update(kwargs)
    return args
