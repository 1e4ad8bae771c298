"""Unit tests of the etcd_backup_retention module, run through its main()."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._archive import archive_name
from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import DRILL_SUFFIX
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    metadata_path,
)
from ansible_collections.kubedr.etcd.plugins.modules import (
    etcd_backup_encrypt,
    etcd_backup_retention,
)
from tests.unit.plugins.modules.conftest import (
    HOSTS,
    fail_module,
    make_backup,
    make_three_backups,
    run_module,
    snap,
    stamp_days_ago,
)

UTC = dt.timezone.utc  # noqa: UP017 - the module under test supports Python 3.9


def run(arguments):
    return run_module(etcd_backup_retention.main, arguments)


def run_fail(arguments):
    return fail_module(etcd_backup_retention.main, arguments)


stamp = stamp_days_ago


def files(when, hosts=HOSTS):
    """A backup's files in the order a prune removes them."""
    return [metadata_path(snap(when)), snap(when), *(archive_name(h, when) for h in hosts)]


def listing(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def three(tmp_path):
    """Three complete backups, 0, 1 and 2 days old, plus a file that is no backup."""
    return make_three_backups(tmp_path)


# --------------------------------------------------------------------------


def test_keep_last_one_of_three(three):
    directory, (new, mid, old) = three
    result = run({"dir": str(directory), "keep_last": 1})
    assert result["changed"] is True
    assert result["kept"] == [str(directory / snap(new))]
    assert result["pruned"] == [str(directory / name) for name in files(mid) + files(old)]
    assert result["ignored"] == []
    assert result["reasons"] == {
        snap(new): "kept: newest complete backup, among the newest 1",
        snap(mid): "pruned: not among the newest 1",
        snap(old): "pruned: not among the newest 1",
    }
    assert result["msg"] == "pruned 2 backup(s) (8 files), kept 1"
    assert listing(directory) == sorted([*files(new), "notes.txt"])

    again = run({"dir": str(directory), "keep_last": 1})
    assert again["changed"] is False
    assert again["pruned"] == []
    assert again["kept"] == [str(directory / snap(new))]
    assert again["msg"] == "nothing to prune, kept 1"


def test_drill_records_go_with_their_backup(three):
    directory, (new, mid, _old) = three
    for when in (new, mid):
        (directory / f"{snap(when)}{DRILL_SUFFIX}").write_text("{}")
    result = run({"dir": str(directory), "keep_last": 1})
    assert str(directory / f"{snap(mid)}{DRILL_SUFFIX}") in result["pruned"]
    assert listing(directory) == sorted([*files(new), f"{snap(new)}{DRILL_SUFFIX}", "notes.txt"])


def test_keep_days(three):
    directory, (new, mid, old) = three
    result = run({"dir": str(directory), "keep_days": 1.5})
    assert result["kept"] == [str(directory / snap(new)), str(directory / snap(mid))]
    assert result["pruned"] == [str(directory / name) for name in files(old)]
    assert result["reasons"][snap(old)] == "pruned: older than 1.5 days"
    assert listing(directory) == sorted([*files(new), *files(mid), "notes.txt"])


def test_either_rule_keeps(three):
    directory, (new, mid, old) = three
    result = run({"dir": str(directory), "keep_last": 1, "keep_days": 1.5})
    assert result["kept"] == [str(directory / snap(new)), str(directory / snap(mid))]
    assert result["reasons"][snap(mid)] == "kept: younger than 1.5 days"
    assert result["reasons"][snap(old)] == "pruned: not among the newest 1, older than 1.5 days"


def test_no_rule_keeps_all(three):
    directory, stamps = three
    before = listing(directory)
    result = run({"dir": str(directory)})
    assert result["changed"] is False
    assert result["kept"] == [str(directory / snap(when)) for when in stamps]
    assert listing(directory) == before


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("keep_last", 0, "keep_last=0 would delete every backup; use at least 1"),
        ("keep_last", -3, "keep_last=-3 would delete every backup; use at least 1"),
        ("keep_days", -1, "keep_days=-1.0 is negative; use 0 or more days"),
    ],
)
def test_refused_rules_remove_nothing(three, option, value, message):
    directory, _unused = three
    before = listing(directory)
    failed = run_fail({"dir": str(directory), option: value})
    assert failed["msg"] == f"{message}; nothing was removed"
    assert listing(directory) == before


def test_only_backup_is_never_pruned(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    when = stamp(40)
    make_backup(directory, when)
    result = run({"dir": str(directory), "keep_days": 0, "keep_last": 1})
    assert result["changed"] is False
    assert result["kept"] == [str(directory / snap(when))]
    assert result["reasons"] == {snap(when): "kept: newest complete backup, among the newest 1"}
    assert listing(directory) == sorted(files(when))


def test_incomplete_and_unreadable_are_left_alone(three):
    directory, (new, mid, old) = three
    ancient, half = stamp(9), stamp(0.5)
    make_backup(directory, ancient, complete=False)  # interrupted long ago
    make_backup(directory, half, hosts=())  # metadata record damaged
    (directory / f"{snap(half)}.json").write_text("{")
    (directory / f".{snap(new)}.tmp").write_bytes(b"x")  # a save in progress
    result = run({"dir": str(directory), "keep_last": 1})
    assert result["kept"] == [str(directory / snap(new))]
    assert result["ignored"] == [str(directory / snap(half)), str(directory / snap(ancient))]
    assert result["reasons"][snap(ancient)] == (
        "no metadata file: incomplete or not made by kubedr.etcd; left alone"
    )
    assert result["reasons"][snap(half)].startswith(
        "metadata unreadable, left alone: metadata file"
    )
    assert result["pruned"] == [str(directory / name) for name in files(mid) + files(old)]
    assert listing(directory) == sorted(
        [
            *files(new),
            f".{snap(new)}.tmp",
            snap(half),
            f"{snap(half)}.json",
            snap(ancient),
            *(archive_name(h, ancient) for h in HOSTS),
            "notes.txt",
        ]
    )


def test_only_listed_archives_go_and_shared_ones_stay(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    new, old = stamp(0), stamp(3)
    shared = archive_name("cp-3", "shared")
    (directory / shared).write_bytes(b"listed by both")
    shared_entry = {"host": "cp-3", "file": shared, "size": 14, "sha256": "0" * 64}
    gone_elsewhere = {"host": "cp-9", "file": "kubernetes-cp-9-x.tar.gz", "size": 1, "sha256": "1"}
    outside = {"host": "cp-8", "file": "../outside.tar.gz", "size": 1, "sha256": "2"}
    (tmp_path / "outside.tar.gz").write_bytes(b"not ours")
    make_backup(directory, new, extra_archives=[shared_entry])
    make_backup(directory, old, extra_archives=[shared_entry, gone_elsewhere, outside])
    unrelated = archive_name("cp-1", "20200101T000000Z")
    (directory / unrelated).write_bytes(b"not listed")

    result = run({"dir": str(directory), "keep_last": 1})
    assert result["pruned"] == [str(directory / name) for name in files(old)]
    assert listing(directory) == sorted([*files(new), shared, unrelated])
    assert (tmp_path / "outside.tar.gz").exists()


@pytest.mark.parametrize("rules", [{"keep_last": 1}, {"keep_days": 0.5}])
def test_check_mode_changes_nothing(three, rules):
    directory, (_new, mid, old) = three
    before = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    result = run({"dir": str(directory), **rules, "_ansible_check_mode": True})
    assert result["changed"] is True
    assert result["msg"] == "would prune 2 backup(s) (8 files), kept 1"
    assert result["pruned"] == [str(directory / name) for name in files(mid) + files(old)]
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == before

    real = run({"dir": str(directory), **rules})
    assert real["pruned"] == result["pruned"]


def test_missing_dir_has_nothing_to_prune_but_a_file_is_refused(tmp_path):
    result = run({"dir": str(tmp_path / "nope"), "keep_last": 3})
    assert result["changed"] is False
    assert result["msg"] == f"no backups in {tmp_path / 'nope'}: nothing to prune"
    (tmp_path / "file").write_text("x")
    failed = run_fail({"dir": str(tmp_path / "file"), "keep_last": 3})
    assert (
        failed["msg"] == f"dir {tmp_path / 'file'} is not a directory: check the backup directory"
    )


def test_removal_error_is_reported(three, monkeypatch):
    directory, (_new, _mid, old) = three
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if str(path).endswith(snap(old)):
            raise PermissionError(13, "Permission denied")
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    failed = run_fail({"dir": str(directory), "keep_last": 1})
    assert failed["msg"] == f"could not remove {directory / snap(old)}: Permission denied"
    assert str(directory / snap(old)) not in failed["pruned"]
    assert str(directory / f"{snap(old)}.json") in failed["pruned"]
    assert failed["changed"] is True


def test_archives_of_masters_that_did_not_save_follow_the_same_rules(tmp_path):
    """A master that did not save the snapshot keeps only its archives: they are pruned by
    the same rules, among themselves, and the newest always stays."""
    directory = tmp_path / "backups"
    directory.mkdir()
    stamps = [stamp(d) for d in (0, 1, 2)]
    for s in stamps:
        (directory / archive_name("cp-2", s)).write_bytes(b"archive")
    (directory / "notes.txt").write_text("not ours")
    result = run({"dir": str(directory), "keep_last": 2})
    assert result["pruned"] == [str(directory / archive_name("cp-2", stamps[2]))]
    assert listing(directory) == sorted(
        [archive_name("cp-2", s) for s in stamps[:2]] + ["notes.txt"]
    )
    again = run({"dir": str(directory), "keep_last": 1})
    assert again["pruned"] == [str(directory / archive_name("cp-2", stamps[1]))]
    assert run({"dir": str(directory), "keep_last": 1})["changed"] is False
    assert listing(directory) == sorted([archive_name("cp-2", stamps[0]), "notes.txt"])


def test_encrypted_backups_are_pruned_whole(three, age_key):
    """Encrypted backups (<name>.age, record in the clear) count and go like plain ones;
    a plain backup among them is one backup too."""
    directory, (new, mid, old) = three
    for when in (new, old):
        run_module(
            etcd_backup_encrypt.main,
            {"dir": str(directory), "snapshot": snap(when), "recipients": [age_key.recipient]},
        )
    result = run({"dir": str(directory), "keep_last": 2})
    assert result["kept"] == [str(directory / f"{snap(new)}.age"), str(directory / snap(mid))]
    old_files = [metadata_path(snap(old)), f"{snap(old)}.age"]
    old_files += [f"{archive_name(h, old)}.age" for h in HOSTS]
    assert result["pruned"] == [str(directory / name) for name in old_files]
    assert result["pruned"][0] == str(directory / metadata_path(snap(old)))  # the record first
    encrypted_new = [metadata_path(snap(new)), f"{snap(new)}.age"]
    encrypted_new += [f"{archive_name(h, new)}.age" for h in HOSTS]
    assert listing(directory) == sorted([*encrypted_new, *files(mid), "notes.txt"])


def test_diff_shows_the_files_before_and_after(three):
    directory, (new, mid, _old) = three
    before = "".join(f"{name}\n" for name in listing(directory))
    checked = run(
        {"dir": str(directory), "keep_last": 2, "_ansible_check_mode": True, "_ansible_diff": True}
    )
    assert checked["diff"]["before"] == before
    assert checked["diff"]["after"] == "".join(
        f"{name}\n" for name in sorted([*files(new), *files(mid), "notes.txt"])
    )
    assert checked["diff"]["before_header"] == str(directory)
    done = run({"dir": str(directory), "keep_last": 2, "_ansible_diff": True})
    assert done["diff"] == checked["diff"]
    again = run({"dir": str(directory), "keep_last": 2, "_ansible_diff": True})
    assert again["diff"]["before"] == again["diff"]["after"]
    assert "diff" not in run({"dir": str(directory), "keep_last": 2})
