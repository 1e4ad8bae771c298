"""Unit tests of the etcd_backup_metrics module, run through its main()."""

from __future__ import annotations

import os
from pathlib import Path

from ansible_collections.kubedr.etcd.plugins.modules import etcd_backup_metrics
from tests.support.metrics import DAY1, add_backup, add_drill, samples
from tests.unit.plugins.modules.conftest import fail_module, run_module


def run(arguments, check_mode=False):
    if check_mode:
        arguments = {**arguments, "_ansible_check_mode": True}
    return run_module(etcd_backup_metrics.main, arguments)


def test_check_mode_then_write_then_nothing_to_do(tmp_path):
    backups, textfiles = tmp_path / "backups", tmp_path / "textfile"
    backups.mkdir()
    add_drill(add_backup(backups, "20261126T030000Z", DAY1), "pass", DAY1 + 60)
    args = {"dir": str(backups), "textfile_dir": str(textfiles), "labels": {"cluster": "c1"}}

    checked = run(args, check_mode=True)
    assert checked["changed"] is True
    assert not textfiles.exists()

    written = run(args)
    assert written["changed"] is True
    assert written["path"] == checked["path"]
    assert written["values"]["backups_stored"] == 1
    assert written["values"]["drill_last_success"] is True
    text = Path(written["path"]).read_text()
    assert 'cluster="c1",backup_dir' not in text  # labels are sorted
    assert f'{{backup_dir="{backups}",cluster="c1"}}' in text
    assert samples(text)["kubedr_etcd_drill_last_success"] == 1

    again = run(args)
    assert again["changed"] is False
    assert run(args, check_mode=True)["changed"] is False
    assert os.listdir(textfiles) == [Path(written["path"]).name]


def test_reserved_or_bad_label_is_refused(tmp_path):
    for labels in ({"backup_dir": "x"}, {"bad-name": "x"}, {"__name__": "x"}):
        failed = fail_module(
            etcd_backup_metrics.main,
            {"dir": str(tmp_path), "textfile_dir": str(tmp_path / "t"), "labels": labels},
        )
        assert "cannot be a label name" in failed["msg"]
    assert not (tmp_path / "t").exists()
