"""Unit tests of the etcd_backup_find module, run through its main(); the choice itself
is tested in tests/unit/plugins/module_utils/test_backup_choice.py."""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.modules import etcd_backup_find
from tests.unit.plugins.modules.conftest import fail_module, make_three_backups, run_module, snap


def test_latest_and_last(tmp_path):
    directory, stamps = make_three_backups(tmp_path)
    result = run_module(etcd_backup_find.main, {"dir": str(directory), "last": 2})
    assert result["changed"] is False
    assert result["backup"]["snapshot"] == str(directory / snap(stamps[0]))
    assert [b["name"] for b in result["backups"]] == [snap(stamps[0]), snap(stamps[1])]


def test_a_name_that_is_not_there_is_refused_naming_the_directory(tmp_path):
    directory, stamps = make_three_backups(tmp_path)
    failed = fail_module(etcd_backup_find.main, {"dir": str(directory), "snapshot": "x.db"})
    assert failed["msg"].startswith(f"no complete backup x.db in {directory} (complete there")
    assert snap(stamps[0]) in failed["msg"]
    assert failed["dir"] == str(directory)
