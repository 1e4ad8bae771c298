"""Unit tests of _pruning: which files retention removes, on real backup directories
(the module's own behaviour is in tests/unit/plugins/modules/test_etcd_backup_retention.py)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._archive import archive_name
from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import DRILL_SUFFIX
from ansible_collections.kubedr.etcd.plugins.module_utils._pruning import (
    decide,
    listing_diff,
    name_stamp,
    remove_files,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    metadata_path,
    new_stamp,
)
from tests.unit.plugins.modules.conftest import make_three_backups, snap

UTC = dt.timezone.utc  # noqa: UP017 - the code under test supports Python 3.9


@pytest.fixture
def three(tmp_path):
    return make_three_backups(tmp_path)


def test_decide_removes_nothing_and_lists_the_record_first(three):
    directory, (new, mid, old) = three
    (directory / f"{snap(old)}{DRILL_SUFFIX}").write_text("{}")
    before = sorted(os.listdir(directory))
    decision = decide(str(directory), keep_last=2)
    assert sorted(os.listdir(directory)) == before
    assert decision["kept_backups"] == [snap(new), snap(mid)]
    assert decision["pruned_backups"] == [snap(old)]
    assert decision["doomed"][0] == str(directory / metadata_path(snap(old)))
    assert set(decision["doomed"]) == {
        str(directory / name)
        for name in (
            metadata_path(snap(old)),
            snap(old),
            f"{snap(old)}{DRILL_SUFFIX}",
            archive_name("cp-1", old),
            archive_name("cp-2", old),
        )
    }
    assert decision["kept"] == [str(directory / snap(new)), str(directory / snap(mid))]


def test_protect_keeps_a_backup_the_rules_would_prune(three):
    directory, (_new, mid, old) = three
    decision = decide(str(directory), keep_last=1, protect={snap(old)})
    assert decision["pruned_backups"] == [snap(mid)]
    assert snap(old) in decision["kept_backups"]
    assert decision["reasons"][snap(old)] == "kept: the backup this run made"
    assert not any(snap(old) in path for path in decision["doomed"])


def test_extra_counts_as_the_newest_and_has_no_files(three):
    directory, (new, mid, old) = three
    future = new_stamp(dt.datetime.now(UTC) + dt.timedelta(hours=1))
    path = str(directory / snap(future))
    extra = {
        "name": snap(future),
        "path": path,
        "time": dt.datetime.now(UTC).timestamp() + 3600,
        "size": 0,
        "has_metadata": True,
        "metadata_path": metadata_path(path),
    }
    decision = decide(str(directory), keep_last=2, extra=extra)
    assert decision["kept_backups"] == [snap(future), snap(new)]
    assert decision["pruned_backups"] == [snap(mid), snap(old)]
    assert path not in decision["doomed"]


def test_missing_directory_has_nothing(tmp_path):
    decision = decide(str(tmp_path / "none"), keep_last=1)
    assert decision["doomed"] == [] and decision["kept"] == []


def test_refused_rule_raises(three):
    directory, _stamps = three
    with pytest.raises(ValueError, match="keep_last=0"):
        decide(str(directory), keep_last=0)


def test_name_stamp():
    assert name_stamp("kubernetes-cp-1-20261126T030000Z.tar.gz", "kubernetes-", ".tar.gz") == (
        "20261126T030000Z"
    )
    assert name_stamp("kubernetes-cp-1-20261326T030000Z.tar.gz", "kubernetes-", ".tar.gz") is None
    assert name_stamp("other.tar.gz", "kubernetes-", ".tar.gz") is None


def test_remove_files_reports_errors_and_skips_missing(tmp_path):
    there = tmp_path / "there"
    there.write_text("x")
    busy = tmp_path / "busy"
    busy.mkdir()  # unlink of a directory fails
    removed, errors = remove_files([str(there), str(tmp_path / "gone"), str(busy)])
    assert removed == [str(there)]
    assert len(errors) == 1 and errors[0].startswith(f"{busy}: ")


def test_listing_diff(tmp_path):
    for name in ("a.db", "a.db.json", ".lock", "b.db"):
        (tmp_path / name).write_text("")
    diff = listing_diff(str(tmp_path), [str(tmp_path / "a.db.json"), str(tmp_path / "a.db")])
    assert diff["before"] == "a.db\na.db.json\nb.db\n"
    assert diff["after"] == "b.db\n"
    assert listing_diff(str(tmp_path / "none"), [])["before"] == ""
