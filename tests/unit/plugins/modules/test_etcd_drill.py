"""Unit tests of the etcd_drill module's argument handling and check mode, run through its
main(); the drills themselves are tested in test_drill.py (real etcd) and on the lab."""

from __future__ import annotations

from ansible.module_utils.common import arg_spec

from ansible_collections.kubedr.etcd.plugins.modules import etcd_drill
from tests.support.etcd_process import binaries, skip_unless_installed
from tests.support.metrics import DAY1, add_backup
from tests.unit.plugins.modules.conftest import fail_module, run_module


def test_the_old_port_range_is_accepted_with_a_deprecation(tmp_path, monkeypatch):
    # what the argument spec's validation says, seen where it says it (ansible-core keeps
    # deprecations in a process-wide set that earlier tests may have filled or drained)
    said = []
    monkeypatch.setattr(arg_spec, "deprecate", lambda msg, *args, **kwargs: said.append(msg))
    failed = fail_module(etcd_drill.main, {"dir": str(tmp_path / "none"), "port_range": "1-2"})
    assert failed["msg"].startswith("no complete backup in")
    assert any("port_range" in str(message) for message in said), said


def test_no_backup_to_drill(tmp_path):
    failed = fail_module(etcd_drill.main, {"dir": str(tmp_path / "none")})
    assert failed["msg"].startswith("no complete backup in")
    assert failed["drills"] == [] and failed["passed"] is False


def test_check_mode_names_the_backups_and_the_etcd_and_writes_nothing(tmp_path):
    skip_unless_installed("3.4")
    add_backup(tmp_path, "20261126T030000Z", DAY1)
    add_backup(tmp_path, "20261127T030000Z", DAY1 + 86400)
    before = sorted(p.name for p in tmp_path.iterdir())
    etcd = binaries("3.4")
    result = run_module(
        etcd_drill.main,
        {
            "dir": str(tmp_path),
            "last": 2,
            "etcd_path": str(etcd["etcd"]),
            "etcdctl_path": str(etcd["etcdctl"]),
            "scratch_dir": str(tmp_path / "scratch"),
            "_ansible_check_mode": True,
        },
    )
    assert result["backups"] == [
        "etcd-snapshot-20261127T030000Z.db",
        "etcd-snapshot-20261126T030000Z.db",
    ]
    assert result["msg"].startswith("would drill etcd-snapshot-20261127T030000Z.db, ")
    assert "with etcd 3.4.23" in result["msg"]
    assert result["passed"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_check_mode_without_etcd_says_it_would_fail(tmp_path):
    add_backup(tmp_path, "20261126T030000Z", DAY1)
    failed = fail_module(
        etcd_drill.main,
        {"dir": str(tmp_path), "etcd_path": "/nonexistent/etcd", "_ansible_check_mode": True},
    )
    assert failed["msg"] == "would fail: etcd /nonexistent/etcd does not exist or is not executable"
