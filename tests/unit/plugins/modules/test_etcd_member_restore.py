"""Unit tests of the etcd_member_restore module, run through its main() against real
etcd (3.4 and 3.5): restore, start etcd on the result, run again, refusals."""

from __future__ import annotations

import json

import pytest

from ansible_collections.kubedr.etcd.plugins.modules import etcd_member_restore
from tests.support.etcd_restore import (
    BUMP,
    STAMP,
    offline_args,
    restore_args,
    restore_fixtures,
    seeded_keys,
)
from tests.support.files import corrupt_body_snapshot, listing, tree_digest
from tests.unit.plugins.modules.conftest import fail_module, run_module

pytestmark = pytest.mark.timeout(180)

saved, member = restore_fixtures()


def run(args, check_mode=False):
    if check_mode:
        args = {**args, "_ansible_check_mode": True}
    return run_module(etcd_member_restore.main, args)


def run_fail(args):
    return fail_module(etcd_member_restore.main, args)


def test_restore_start_and_run_again(saved, member):
    bump = BUMP if saved["version"] == "3.5" else None
    args = restore_args(saved, member, bump_revision=bump)

    planned = run(args, check_mode=True)
    assert planned["changed"] is True
    assert planned["msg"].startswith("would restore")
    assert listing(member.data_dir) == ["member"]

    result = run(args)
    aside = member.data_dir / f"member.kubedr-{STAMP}"
    assert result["changed"] is True
    assert result["moved_aside"] == str(aside)
    assert result["bump_revision"] == bump
    assert result["argv"] == planned["argv"]
    assert result["rollback"][1] == f"mv -T {aside} {member.data_dir}/member"
    marker = json.loads((member.data_dir / f".kubedr-restored-{STAMP}").read_text())
    assert marker["tool"] == result["tool"]

    member.start()
    assert member.keys() == seeded_keys()
    if bump:
        assert member.revision() >= BUMP

    again = run(args)
    assert again["changed"] is False
    assert again["moved_aside"] == str(aside)
    assert again["msg"].endswith("nothing done")


def test_running_etcd_is_refused(saved, member):
    member.start()
    failed = run_fail(restore_args(saved, member))
    assert failed["msg"].startswith(f"etcd (pid {member.proc.pid}) still runs on")
    assert failed["running"][0]["pid"] == member.proc.pid
    assert listing(member.data_dir) == ["member"]


def test_restore_tool_failure(saved, member, tmp_path):
    bad = corrupt_body_snapshot(tmp_path / "not-bbolt.db")
    before = tree_digest(member.data_dir)
    failed = run_fail(restore_args(saved, member, snapshot=bad))
    assert failed["msg"].endswith("was not touched")
    assert failed["argv"][3] == bad
    assert listing(member.data_dir) == ["member"]
    assert tree_digest(member.data_dir) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timeout": 0}, "timeout=0: give the seconds"),
        ({"stamp": "yesterday"}, "stamp='yesterday' is not a UTC time"),
        ({"tools": {}}, "cannot choose the restore tool"),
    ],
)
def test_bad_input(tmp_path, change, message):
    assert message in run_fail(offline_args(tmp_path, **change))["msg"]
    assert listing(tmp_path / "etcd") == ["member"]
