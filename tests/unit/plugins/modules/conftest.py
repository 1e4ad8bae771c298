"""Shared plumbing for module tests: exit_json / fail_json raise, so a test can run a
module's main() and look at what it returned; and backups as a master writes them."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os

import pytest
from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19 (make unit-oldest) reads the arguments here

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


from ansible_collections.kubedr.etcd.plugins.module_utils._archive import (
    archive_directory,
    archive_name,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    build_metadata,
    metadata_path,
    new_stamp,
    verify_trailer,
    write_json_atomic,
)


class ExitJson(Exception):
    """exit_json was called; args[0] holds what the module returned."""


class FailJson(Exception):
    """fail_json was called; args[0] holds msg and the rest."""


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    def exit_json(_self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(_self, msg, **kwargs):
        raise FailJson({"msg": msg, **kwargs})

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


@pytest.fixture
def warnings(monkeypatch):
    """The warnings the module gave (AnsibleModule.warn), in order."""
    recorded = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda _self, text: recorded.append(text))
    return recorded


def run_module(main, arguments):
    """What main() passed to exit_json with these module arguments."""
    with patch_module_args(arguments), pytest.raises(ExitJson) as caught:
        main()
    return caught.value.args[0]


def fail_module(main, arguments):
    """What main() passed to fail_json with these module arguments."""
    with patch_module_args(arguments), pytest.raises(FailJson) as caught:
        main()
    return caught.value.args[0]


# --------------------------------------------------------------------------
# A backup as a master writes it
# --------------------------------------------------------------------------

STATUS = {"hash": 3117283462, "revision": 42, "total_key": 17, "total_size": 32768}
HOSTS = ("cp-1", "cp-2")


def snap(stamp):
    """The snapshot name of the backup taken at ``stamp``."""
    return f"etcd-snapshot-{stamp}.db"


def backup_names(stamp, hosts=HOSTS):
    """The files of one backup, in install order: archives, snapshot, metadata record."""
    return [
        *(archive_name(host, stamp) for host in hosts),
        snap(stamp),
        metadata_path(snap(stamp)),
    ]


def stamp_days_ago(days):
    """A stamp ``days`` days before now (whole seconds), as the backups are named."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # noqa: UP017
    return new_stamp(now - dt.timedelta(days=days))


def make_three_backups(tmp_path):
    """Three complete backups in tmp_path/backups, 0, 1 and 2 days old, plus a file that is
    no backup; returns (directory, stamps newest first)."""
    directory = tmp_path / "backups"
    directory.mkdir()
    stamps = [stamp_days_ago(0), stamp_days_ago(1), stamp_days_ago(2)]
    for when in stamps:
        make_backup(directory, when)
    (directory / "notes.txt").write_text("keep me\n")
    return directory, stamps


def make_backup(directory, stamp, hosts=HOSTS, pages=8, complete=True, extra_archives=()):
    """Write what a master writes into ``directory``: a control-plane archive per host (of a
    small tree with a private key), a snapshot-like file with a valid sha256 trailer and,
    when ``complete``, its metadata record. Returns the record (or None)."""
    archives = []
    for host in hosts:
        tree = directory.parent / f"src-{directory.name}" / f"{host}-{stamp}" / "kubernetes"
        (tree / "manifests").mkdir(parents=True)
        (tree / "manifests" / "etcd.yaml").write_text(f"# {host} {stamp}\n")
        (tree / "pki").mkdir()
        (tree / "pki" / "ca.key").write_bytes(os.urandom(256))
        done = archive_directory(str(tree), str(directory / archive_name(host, stamp)))
        archives.append({"host": host, **done})
    archives.extend(extra_archives)
    snapshot = directory / snap(stamp)
    body = os.urandom(pages * 4096)
    snapshot.write_bytes(body + hashlib.sha256(body).digest())
    if not complete:
        return None
    record = build_metadata(
        snapshot.name,
        verify_trailer(str(snapshot)),
        STATUS,
        created=stamp,
        etcd_version="3.5.16",
        cluster_id="cdf818194e3a8c32",
        members=[
            {"name": "cp-1", "id": "8e9e05c52164694d", "peer_urls": ["https://10.0.0.1:2380"]}
        ],
        source_host="cp-1",
        control_plane_archives=archives,
    )
    write_json_atomic(metadata_path(str(snapshot)), record)
    return record
