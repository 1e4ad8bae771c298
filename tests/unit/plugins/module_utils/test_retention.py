"""Unit tests of backup scanning and the retention plan."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._retention import plan, scan

UTC = dt.timezone.utc  # noqa: UP017 - the module under test supports Python 3.9
NOW = dt.datetime(2026, 11, 26, 12, tzinfo=UTC).timestamp()
DAY = 86400


def name(days_ago, hour=3):
    when = dt.datetime(2026, 11, 26, hour, tzinfo=UTC) - dt.timedelta(days=days_ago)
    return f"etcd-snapshot-{when.strftime('%Y%m%dT%H%M%SZ')}.db"


def backup(days_ago, complete=True, hour=3):
    when = dt.datetime(2026, 11, 26, hour, tzinfo=UTC) - dt.timedelta(days=days_ago)
    return {
        "name": name(days_ago, hour),
        "path": f"/b/{name(days_ago, hour)}",
        "time": when.timestamp(),
        "size": 100,
        "has_metadata": complete,
    }


# --------------------------------------------------------------------------
# scan
# --------------------------------------------------------------------------


def test_scan(tmp_path):
    for days in (0, 1, 2):
        (tmp_path / name(days)).write_bytes(b"x" * (days + 1))
    (tmp_path / f"{name(0)}.json").write_text("{}")
    (tmp_path / f"{name(2)}.json").write_text("{}")
    # not backups
    (tmp_path / f"{name(3)}.part").write_bytes(b"x")
    (tmp_path / f".{name(4)}").write_bytes(b"x")
    (tmp_path / "etcd-snapshot-.db").write_bytes(b"x")
    (tmp_path / "kubernetes-pki.tar.gz").write_bytes(b"x")
    (tmp_path / name(5)).mkdir()
    os.symlink(tmp_path / name(0), tmp_path / "etcd-snapshot-latest.db")
    # a name without a time: its mtime counts
    manual = tmp_path / "etcd-snapshot-manual.db"
    manual.write_bytes(b"m")
    os.utime(manual, (NOW - 10 * DAY, NOW - 10 * DAY))

    backups = scan(str(tmp_path))
    assert [b["name"] for b in backups] == [name(0), name(1), name(2), manual.name]
    first = backups[0]
    assert first == {
        "name": name(0),
        "path": str(tmp_path / name(0)),
        "files": [str(tmp_path / name(0))],
        "time": dt.datetime(2026, 11, 26, 3, tzinfo=UTC).timestamp(),
        "size": 1,
        "has_metadata": True,
        "metadata_path": str(tmp_path / f"{name(0)}.json"),
    }
    assert [b["has_metadata"] for b in backups] == [True, False, True, False]
    assert backups[3]["time"] == NOW - 10 * DAY


def test_scan_takes_an_encrypted_snapshot_as_the_same_backup(tmp_path):
    (tmp_path / f"{name(0)}.age").write_bytes(b"e")  # encrypted only
    (tmp_path / f"{name(0)}.json").write_text("{}")
    (tmp_path / name(1)).write_bytes(b"p")  # interrupted encryption: both files
    (tmp_path / f"{name(1)}.age").write_bytes(b"e")
    (tmp_path / f".{name(2)}.age.1.tmp").write_bytes(b"e")  # a temporary file: not a backup
    backups = scan(str(tmp_path))
    assert [b["name"] for b in backups] == [name(0), name(1)]
    assert backups[0]["path"] == str(tmp_path / f"{name(0)}.age")
    assert backups[0]["metadata_path"] == str(tmp_path / f"{name(0)}.json")
    assert backups[0]["has_metadata"] is True
    assert backups[1]["path"] == str(tmp_path / name(1))
    assert backups[1]["files"] == [str(tmp_path / name(1)), str(tmp_path / f"{name(1)}.age")]
    assert backups[1]["has_metadata"] is False


def test_scan_missing_directory_and_prefix(tmp_path):
    assert scan(str(tmp_path / "none")) == []
    (tmp_path / "cluster-a-20261126T030000Z.snap").write_bytes(b"x")
    (tmp_path / name(0)).write_bytes(b"x")
    found = scan(str(tmp_path), prefix="cluster-a-", suffix=".snap")
    assert [b["name"] for b in found] == ["cluster-a-20261126T030000Z.snap"]
    assert found[0]["time"] == dt.datetime(2026, 11, 26, 3, tzinfo=UTC).timestamp()


# --------------------------------------------------------------------------
# plan
# --------------------------------------------------------------------------

WEEK = [backup(days) for days in range(7)]  # newest first: 0 .. 6 days old


def test_no_rule_keeps_everything():
    result = plan(WEEK, now=NOW)
    assert result["keep"] == [b["name"] for b in WEEK]
    assert result["prune"] == []
    assert result["reasons"][name(3)] == "kept: no retention rule"


def test_keep_last():
    result = plan(list(reversed(WEEK)), keep_last=3, now=NOW)
    assert result["keep"] == [name(0), name(1), name(2)]
    assert result["prune"] == [name(3), name(4), name(5), name(6)]
    assert result["reasons"][name(0)] == "kept: newest complete backup, among the newest 3"
    assert result["reasons"][name(2)] == "kept: among the newest 3"
    assert result["reasons"][name(6)] == "pruned: not among the newest 3"


def test_keep_days():
    result = plan(WEEK, keep_days=2, now=NOW)
    # now is 11-26 12:00, the cutoff 11-24 12:00: the backup of 11-24 03:00 is older
    assert result["keep"] == [name(0), name(1)]
    assert result["prune"] == [name(d) for d in range(2, 7)]
    assert result["reasons"][name(1)] == "kept: younger than 2 days"
    assert result["reasons"][name(4)] == "pruned: older than 2 days"


def test_any_rule_keeps():
    result = plan(WEEK, keep_last=1, keep_days=3.5, now=NOW)
    assert result["keep"] == [name(0), name(1), name(2), name(3)]
    assert result["reasons"][name(5)] == "pruned: not among the newest 1, older than 3.5 days"
    result = plan(WEEK, keep_last=5, keep_days=1, now=NOW)
    assert result["keep"] == [name(d) for d in range(5)]


def test_newest_is_always_kept():
    old = [backup(days) for days in (30, 40, 50)]
    result = plan(old, keep_days=7, now=NOW)
    assert result["keep"] == [name(30)]
    assert result["prune"] == [name(40), name(50)]
    assert result["reasons"][name(30)] == "kept: newest complete backup"
    assert plan(old, keep_days=0, now=NOW)["keep"] == [name(30)]


def test_incomplete_backups_are_ignored():
    backups = [backup(0, complete=False), backup(1), backup(2), backup(3, complete=False)]
    result = plan(backups, keep_last=1, now=NOW)
    # the newest complete one is kept, not the newest file
    assert result["keep"] == [name(1)]
    assert result["prune"] == [name(2)]
    assert result["ignored"] == [name(0), name(3)]
    assert result["reasons"][name(0)].startswith("no metadata file")
    assert plan([backup(0, complete=False)], keep_last=1, now=NOW) == {
        "keep": [],
        "prune": [],
        "ignored": [name(0)],
        "reasons": {name(0): "no metadata file: incomplete or not made by kubedr.etcd; left alone"},
    }


def test_deterministic_order_with_equal_times():
    a = {**backup(1), "name": "etcd-snapshot-a.db"}
    b = {**backup(1), "name": "etcd-snapshot-b.db"}
    assert plan([a, b], keep_last=1, now=NOW)["keep"] == ["etcd-snapshot-b.db"]
    assert plan([b, a], keep_last=1, now=NOW)["keep"] == ["etcd-snapshot-b.db"]


def test_now_as_datetime_and_default():
    when = dt.datetime.fromtimestamp(NOW, UTC)
    assert plan(WEEK, keep_days=2, now=when)["keep"] == [name(0), name(1)]
    # without now, the real clock decides the rest; the newest backup stays whatever
    assert name(0) in plan(WEEK, keep_days=1)["keep"]
    with pytest.raises(ValueError, match="has no time zone"):
        plan(WEEK, keep_days=1, now=dt.datetime(2026, 11, 26))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"keep_last": 0}, "keep_last=0 would delete every backup; use at least 1"),
        ({"keep_last": -2}, "keep_last=-2 would delete every backup; use at least 1"),
        ({"keep_days": -1}, "keep_days=-1 is negative; use 0 or more days"),
    ],
)
def test_invalid_rules(kwargs, message):
    with pytest.raises(ValueError) as info:
        plan(WEEK, now=NOW, **kwargs)
    assert str(info.value) == message


def test_plan_of_a_scan(tmp_path):
    for days in range(5):
        (tmp_path / name(days)).write_bytes(b"x")
        (tmp_path / f"{name(days)}.json").write_text("{}")
    result = plan(scan(str(tmp_path)), keep_last=2, now=NOW)
    assert result["keep"] == [name(0), name(1)]
    assert result["prune"] == [name(2), name(3), name(4)]
