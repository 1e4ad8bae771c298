"""_metrics: the textfile of a backup directory, checked by promtool, and the example
alert rules evaluated by promtool against the values it holds."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import (
    PREFIX,
    MetricsError,
    collect,
    drill_path,
    render,
    textfile_name,
    write_textfile,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import metadata_path
from tests.support.metrics import DAY1, DAY2, add_backup, add_drill, samples

RULES = Path(__file__).parents[4] / "extensions" / "prometheus" / "kubedr-etcd-rules.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is missing: run tests/lab/install-deps.sh"
)
EVAL_AT = 1800
ALERTS = (
    "KubedrEtcdBackupTooOld",
    "KubedrEtcdDrillFailing",
    "KubedrEtcdDrillTooOld",
    "KubedrEtcdBackupRecordsUnreadable",
)


def test_empty_directory_says_no_backup_and_never_drilled(tmp_path):
    assert collect(tmp_path / "missing")["values"] == {
        "backups_stored": 0,
        "backup_last_success_timestamp_seconds": 0,
        "drill_last_timestamp_seconds": 0,
        "metrics_errors": 0,
    }


def test_newest_complete_backup_and_newest_drill(tmp_path):
    old = add_backup(tmp_path, "20261126T030000Z", DAY1, size=2080, revision=10)
    add_backup(tmp_path, "20261127T030000Z", DAY2, size=3104, revision=20)
    (tmp_path / "etcd-snapshot-20261128T030000Z.db").write_bytes(b"incomplete: no record")
    add_drill(old, "pass", DAY1 + 600)
    add_drill(tmp_path / "etcd-snapshot-20261127T030000Z.db", "fail", DAY2 + 600, 9.25, DAY2)
    values = collect(tmp_path)["values"]
    assert values == {
        "backups_stored": 2,
        "backup_last_success_timestamp_seconds": DAY2,
        "backup_last_size_bytes": 3104,
        "backup_last_revision": 20,
        "drill_last_timestamp_seconds": DAY2 + 600,
        "drill_last_success": False,
        "drill_last_duration_seconds": 9.25,
        "drill_last_backup_timestamp_seconds": DAY2,
        "metrics_errors": 0,
    }


def test_unreadable_records_are_counted(tmp_path):
    snapshot = add_backup(tmp_path, "20261127T030000Z", DAY2)
    add_backup(tmp_path, "20261126T030000Z", DAY1, revision=5)
    Path(metadata_path(str(snapshot))).write_text("{not json")
    Path(drill_path(str(snapshot))).write_text("[]")
    found = collect(tmp_path)
    # the newest readable record counts; both broken files are reported
    assert found["values"]["backup_last_success_timestamp_seconds"] == DAY1
    assert found["values"]["backup_last_revision"] == 5
    assert found["values"]["metrics_errors"] == 2
    assert len(found["errors"]) == 2


def test_label_values_are_escaped():
    text = render({"backups_stored": 1}, {"backup_dir": 'a"b\\c\nd'})
    assert 'kubedr_etcd_backups_stored{backup_dir="a\\"b\\\\c\\nd"} 1\n' in text


def test_written_atomically_one_file_per_directory(tmp_path):
    backups, textfiles = tmp_path / "backups", tmp_path / "textfile"
    backups.mkdir()
    add_backup(backups, "20261126T030000Z", DAY1)
    result = write_textfile(str(backups), str(textfiles))
    path = Path(result["path"])
    assert (
        path.name
        == textfile_name(str(backups))
        == f"kubedr_etcd{str(backups).replace('/', '_')}.prom"
    )
    assert sorted(os.listdir(textfiles)) == [path.name]  # no temporary file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert samples(path.read_text())["kubedr_etcd_backups_stored"] == 1
    assert textfile_name("/var/backups/a") != textfile_name("/var/backups/b")


def test_unwritable_textfile_dir_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(MetricsError, match="cannot write metrics"):
        write_textfile(str(tmp_path), str(tmp_path / "file" / "sub"))


@needs_promtool
def test_promtool_accepts_the_metrics(tmp_path):
    snapshot = add_backup(tmp_path, "20261126T030000Z", DAY1)
    add_drill(snapshot, "fail", DAY1 + 60)
    result = write_textfile(str(tmp_path), str(tmp_path / "textfile"))
    text = Path(result["path"]).read_text()
    assert len(samples(text)) == 9
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == ""


@needs_promtool
def test_promtool_accepts_the_rules():
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert b"SUCCESS: 4 rules found" in checked.stdout


def alerts_for(tmp_path, values, at_seconds):
    """The alerts the example rules raise at ``at_seconds`` (epoch) when the metrics
    file of a directory held ``values`` ({metric: value}) all along (promtool test
    rules: its clock starts at 0 and the rules are evaluated at 30 minutes, so every time
    stamp, 0 included, is shifted by ``at_seconds`` - 1800)."""
    shift = at_seconds - EVAL_AT

    def shown(name, value):
        return value - shift if name.endswith("timestamp_seconds") else value

    series = [
        {
            "series": f'{PREFIX}{name}{{backup_dir="/b",instance="h"}}',
            "values": f"{shown(name, float(value))}x40",
        }
        for name, value in values.items()
        if value is not None
    ]
    found = set()
    for alert in ALERTS:
        test = {
            "rule_files": [str(RULES)],
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": series,
                    "alert_rule_test": [
                        {"eval_time": f"{EVAL_AT}s", "alertname": alert, "exp_alerts": []}
                    ],
                }
            ],
        }
        path = tmp_path / f"{alert}.test.yml"
        path.write_text(json.dumps(test))  # JSON is YAML
        run = subprocess.run(
            [PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, check=False
        )
        # expecting no alert: promtool fails exactly when the alert fires
        if run.returncode != 0:
            assert "exp:" in run.stdout + run.stderr, run.stdout + run.stderr
            found.add(alert)
    return found


@needs_promtool
def test_alerts_catch_what_the_metrics_say(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    snapshot = add_backup(backups, "20261126T030000Z", DAY1)
    add_drill(snapshot, "pass", DAY1 + 600)
    values = collect(backups)["values"]
    # an hour after the backup and its drill: all is well
    assert alerts_for(tmp_path, values, DAY1 + 3600) == set()
    # ten days later, nothing new: backup and drill both too old
    assert alerts_for(tmp_path, values, DAY1 + 10 * 86400) == {
        "KubedrEtcdBackupTooOld",
        "KubedrEtcdDrillTooOld",
    }
    # the drill failed; a record is unreadable
    add_drill(snapshot, "fail", DAY1 + 700)
    Path(drill_path(str(backups / "etcd-snapshot-20261125T030000Z.db"))).write_text("{")
    values = collect(backups)["values"]
    assert alerts_for(tmp_path, values, DAY1 + 3600) == {
        "KubedrEtcdDrillFailing",
        "KubedrEtcdBackupRecordsUnreadable",
    }
    # never drilled, no backup at all
    assert alerts_for(tmp_path, collect(tmp_path / "none")["values"], DAY1) == {
        "KubedrEtcdBackupTooOld",
        "KubedrEtcdDrillTooOld",
    }
