"""Unit tests of the control_plane_archive module, run through its main()."""

from __future__ import annotations

import hashlib
import stat
import tarfile

import pytest

from ansible_collections.kubedr.etcd.plugins.modules import control_plane_archive
from tests.unit.plugins.modules.conftest import fail_module, run_module

STAMP = "20261126T030000Z"
FILE = f"kubernetes-cp-1-{STAMP}.tar.gz"


def run(arguments):
    return run_module(control_plane_archive.main, arguments)


def run_fail(arguments):
    return fail_module(control_plane_archive.main, arguments)


@pytest.fixture
def etc(tmp_path):
    """A small /etc/kubernetes."""
    root = tmp_path / "etc" / "kubernetes"
    (root / "manifests").mkdir(parents=True)
    (root / "manifests" / "etcd.yaml").write_text("kind: Pod\n")
    (root / "manifests" / "kube-apiserver.yaml").write_text("kind: Pod\n")
    (root / "pki" / "etcd").mkdir(parents=True)
    (root / "pki" / "etcd" / "ca.key").write_bytes(b"-----BEGIN EC PRIVATE KEY-----\n")
    (root / "admin.conf").write_text("apiVersion: v1\n")
    return root


def args(src, dest, **extra):
    return {"src": str(src), "dest_dir": str(dest), "host": "cp-1", "stamp": STAMP, **extra}


def test_archive_of_a_small_tree(etc, tmp_path):
    dest = tmp_path / "backups"
    result = run(args(etc, dest))
    path = dest / FILE
    assert result["changed"] is True
    assert result["path"] == str(path)
    assert result["file"] == FILE
    assert result["host"] == "cp-1"
    assert result["size"] == path.stat().st_size
    assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result["entries"] == 8
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert sorted(p.name for p in dest.iterdir()) == [FILE]  # no temporary file left
    with tarfile.open(path) as tar:
        assert tar.getnames() == [
            "kubernetes",
            "kubernetes/manifests",
            "kubernetes/pki",
            "kubernetes/admin.conf",
            "kubernetes/manifests/etcd.yaml",
            "kubernetes/manifests/kube-apiserver.yaml",
            "kubernetes/pki/etcd",
            "kubernetes/pki/etcd/ca.key",
        ]
        member = tar.extractfile("kubernetes/manifests/etcd.yaml")
        assert member.read() == b"kind: Pod\n"


def test_same_stamp_again_changes_nothing(etc, tmp_path):
    dest = tmp_path / "backups"
    first = run(args(etc, dest))
    mtime = (dest / FILE).stat().st_mtime_ns
    (etc / "admin.conf").write_text("changed meanwhile\n")
    again = run(args(etc, dest))
    assert again == {
        "changed": False,
        "path": first["path"],
        "file": FILE,
        "host": "cp-1",
        "size": first["size"],
        "sha256": first["sha256"],
    }
    assert (dest / FILE).stat().st_mtime_ns == mtime


def test_check_mode_writes_nothing(etc, tmp_path):
    dest = tmp_path / "backups"
    result = run(args(etc, dest, _ansible_check_mode=True))
    assert result == {
        "changed": True,
        "path": str(dest / FILE),
        "file": FILE,
        "host": "cp-1",
        "msg": f"would archive {etc} to {dest / FILE}",
    }
    assert not dest.exists()


def test_bad_stamp_and_missing_src(etc, tmp_path):
    failed = run_fail(args(etc, tmp_path / "b", stamp="2026-11-26"))
    assert failed["msg"] == (
        "stamp='2026-11-26' is not a UTC time like 20261126T030000Z; nothing was written"
    )
    failed = run_fail(args(tmp_path / "nothing", tmp_path / "b"))
    assert failed["msg"] == f"src={tmp_path / 'nothing'} is not a directory: nothing to archive"
    assert not (tmp_path / "b").exists()


OLDER = ("20261124T030000Z", "20261125T030000Z")


@pytest.fixture
def older_archives(tmp_path):
    """Two earlier archives of this master (no snapshot record lists them: a master that
    does not save the snapshot)."""
    dest = tmp_path / "backups"
    dest.mkdir()
    for stamp in OLDER:
        (dest / f"kubernetes-cp-1-{stamp}.tar.gz").write_bytes(b"an earlier archive")
    return dest


def test_retention_prunes_older_archives_never_the_new_one(etc, older_archives):
    result = run(args(etc, older_archives, keep_last=2))
    assert sorted(p.name for p in older_archives.iterdir()) == sorted(
        [FILE, f"kubernetes-cp-1-{OLDER[1]}.tar.gz"]
    )
    assert result["retention"]["pruned"] == [
        str(older_archives / f"kubernetes-cp-1-{OLDER[0]}.tar.gz")
    ]
    assert result["changed"] is True


def test_retention_in_check_mode_removes_nothing(etc, older_archives):
    result = run(args(etc, older_archives, keep_last=1, _ansible_check_mode=True))
    assert result["msg"].startswith("would archive ")
    assert len(result["retention"]["pruned"]) == 1
    assert len(list(older_archives.iterdir())) == 2


def test_a_rule_that_would_delete_everything_is_refused_first(etc, older_archives):
    failed = run_fail(args(etc, older_archives, keep_last=0))
    assert failed["msg"] == (
        "keep_last=0 would delete every backup; use at least 1; nothing was written"
    )
    assert len(list(older_archives.iterdir())) == 2


def test_a_rerun_that_prunes_says_changed(etc, older_archives):
    run(args(etc, older_archives))  # the archive, no rules
    again = run(args(etc, older_archives, keep_last=1))
    assert again["changed"] is True
    assert len(again["retention"]["pruned"]) == 2
