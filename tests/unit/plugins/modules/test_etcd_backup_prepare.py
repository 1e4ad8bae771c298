"""Unit tests of the etcd_backup_prepare module, run through its main(): the facts are
etcd_member_facts' own, the archive control_plane_archive's, in one run."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _member_facts, _privileges
from ansible_collections.kubedr.etcd.plugins.modules import (
    control_plane_archive,
    etcd_backup_prepare,
    etcd_member_facts,
)
from tests.unit.plugins.modules import test_etcd_member_facts as facts_tests
from tests.unit.plugins.modules.conftest import fail_module, make_backup, run_module, snap

STAMP = "20261126T030000Z"

# the master's tree, no tools, root and the warnings, as the etcd_member_facts tests have them
master = facts_tests.master
no_tools = facts_tests.no_tools
as_root = facts_tests.as_root
warnings = facts_tests.warnings


def backups(master):
    return master.with_name(master.name + "-backups")


def args(master, **extra):
    return {
        "manifest_path": str(master / "manifests" / "etcd.yaml"),
        "src": str(master),
        "dest_dir": str(backups(master)),
        "host": "cp-1",
        "stamp": STAMP,
        **extra,
    }


def test_the_facts_and_the_archive_are_those_of_the_two_modules(master, no_tools):
    prepared = run_module(etcd_backup_prepare.main, args(master, keep_last=3))
    facts = run_module(etcd_member_facts.main, {"manifest_path": args(master)["manifest_path"]})
    assert prepared["ansible_facts"] == facts["ansible_facts"]
    archive = prepared["archive"]
    assert archive["file"] == f"kubernetes-cp-1-{STAMP}.tar.gz"
    assert archive["retention"]["msg"] == "nothing to prune, kept 1"
    assert prepared["changed"] is True
    again = run_module(
        control_plane_archive.main,
        {k: v for k, v in args(master).items() if k not in ("manifest_path",)},
    )
    assert again["changed"] is False  # the same archive, found there
    assert again["sha256"] == archive["sha256"]


def test_without_archive_only_the_facts(master, no_tools):
    prepared = run_module(etcd_backup_prepare.main, args(master, archive=False))
    assert prepared["archive"] == {}
    assert prepared["changed"] is False
    assert not backups(master).exists()


def test_without_archive_the_rules_still_prune(master, no_tools):
    """A master that keeps snapshots from the days it saved them is still pruned when the
    backups take no archive (etcd_backup_control_plane=false)."""
    dest = backups(master)
    dest.mkdir()
    for stamp in ("20261124T030000Z", "20261125T030000Z"):
        make_backup(dest, stamp, hosts=())
    prepared = run_module(etcd_backup_prepare.main, args(master, archive=False, keep_last=1))
    assert prepared["changed"] is True
    assert prepared["archive"]["retention"]["msg"] == "pruned 1 backup(s) (2 files), kept 1"
    assert sorted(p.name for p in dest.iterdir()) == [
        snap("20261125T030000Z"),
        f"{snap('20261125T030000Z')}.json",
    ]


def test_a_member_that_cannot_be_read_writes_nothing(master, no_tools):
    (master / "manifests" / "etcd.yaml").unlink()
    failed = fail_module(etcd_backup_prepare.main, args(master, search_moved_aside=False))
    assert "etcd.yaml" in failed["msg"]
    assert not backups(master).exists()


def test_not_root_is_refused_before_anything_is_written(master, no_tools, monkeypatch):
    monkeypatch.setattr(
        _member_facts, "not_root_reason", lambda: _privileges.not_root_reason(euid=4242)
    )
    failed = fail_module(etcd_backup_prepare.main, args(master))
    assert failed["msg"].startswith("this runs as uid 4242, not root: ")
    assert not backups(master).exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"keep_last": 0}, "keep_last=0 would delete every backup; use at least 1"),
        ({"stamp": "2026-11-26"}, "stamp='2026-11-26' is not a UTC time like 20261126T030000Z"),
    ],
    ids=["rule", "stamp"],
)
def test_a_bad_rule_or_stamp_is_refused_before_the_archive(master, no_tools, extra, message):
    failed = fail_module(etcd_backup_prepare.main, args(master, **extra))
    assert failed["msg"] == f"{message}; nothing was written"
    assert not backups(master).exists()
