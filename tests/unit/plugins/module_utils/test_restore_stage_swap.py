"""Stage (restore beside the live member) and swap (renames only) against real etcd
3.4 and 3.5, and every state a kill can leave between them.

The journaled restore stages while etcd runs, then, once etcd is stopped, only renames.
Each test here builds one state a killed run can leave in the data dir and proves that
swap_in finishes the restore from it and swap_out puts the old member back from it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._restore import (
    RestoreError,
    stage,
    swap_in,
    swap_out,
    swapped,
)
from tests.support.etcd_restore import STAMP, restore_args, restore_fixtures, seeded_keys
from tests.support.fake_processes import wait_for_cmdline
from tests.support.files import listing, tree_digest

pytestmark = pytest.mark.timeout(180)

saved, member = restore_fixtures()
STAGING = f".kubedr-restore-{STAMP}"
ASIDE = f"member.kubedr-{STAMP}"
MARKER = f".kubedr-restored-{STAMP}"


def stage_args(saved, member, **kwargs):
    args = restore_args(saved, member)
    args.pop("timeout")
    args["expected_sha256"] = hashlib.sha256(saved["snapshot"].read_bytes()).hexdigest()
    args.update(kwargs)
    return args


def test_stage_while_etcd_runs_leaves_the_member_alone(saved, member):
    member.start()
    keys_before = member.keys()
    first = stage(**stage_args(saved, member))
    assert first["changed"] is True
    assert (member.data_dir / STAGING / "data" / "member" / "snap" / "db").is_file()
    assert member.keys() == keys_before  # the live member still answers, unchanged
    again = stage(**stage_args(saved, member))
    assert again["changed"] is False and again["argv"] == first["argv"]
    member.stop()


def test_stage_refuses_a_copy_that_is_not_the_verified_snapshot(saved, member):
    before = tree_digest(member.data_dir)
    with pytest.raises(RestoreError, match=r"not 0{64} \(the snapshot the controller verified\)"):
        stage(**stage_args(saved, member, expected_sha256="0" * 64))
    assert tree_digest(member.data_dir) == before


def test_stage_then_swap_brings_the_snapshot_back_and_keeps_the_old_member(saved, member):
    old = tree_digest(member.data_dir / "member")
    stage(**stage_args(saved, member))
    result = swap_in(str(member.data_dir), STAMP)
    assert result["changed"] is True
    assert result["moved_aside"] == str(member.data_dir / ASIDE)
    assert listing(member.data_dir) == [MARKER, "member", ASIDE]
    assert tree_digest(member.data_dir / ASIDE) == old
    assert swap_in(str(member.data_dir), STAMP)["changed"] is False
    member.start()
    assert member.keys() == seeded_keys()
    member.stop()


def test_swap_refuses_while_etcd_runs(saved, member):
    stage(**stage_args(saved, member))
    member.start()
    with pytest.raises(RestoreError, match="still runs on"):
        swap_in(str(member.data_dir), STAMP)
    member.stop()
    assert ASIDE not in listing(member.data_dir)


def test_swap_without_a_staged_restore_is_refused(saved, member):
    with pytest.raises(RestoreError, match="has no staged restore"):
        swap_in(str(member.data_dir), STAMP)
    assert listing(member.data_dir) == ["member"]


def killed_between_the_renames(member):
    (member.data_dir / "member").rename(member.data_dir / ASIDE)


def killed_before_the_marker(member):
    killed_between_the_renames(member)
    (member.data_dir / STAGING / "data" / "member").rename(member.data_dir / "member")


@pytest.mark.parametrize("kill", [killed_between_the_renames, killed_before_the_marker])
def test_a_swap_killed_midway_is_finished(saved, member, kill):
    old = tree_digest(member.data_dir / "member")
    stage(**stage_args(saved, member))
    kill(member)
    result = swap_in(str(member.data_dir), STAMP)
    assert result["moved_aside"] == str(member.data_dir / ASIDE)
    assert listing(member.data_dir) == [MARKER, "member", ASIDE]
    assert tree_digest(member.data_dir / ASIDE) == old
    member.start()
    assert member.keys() == seeded_keys()
    member.stop()


@pytest.mark.parametrize(
    "kill", [None, killed_between_the_renames, killed_before_the_marker, "swapped"]
)
def test_swap_out_puts_the_old_member_back_from_any_state(saved, member, kill):
    old = tree_digest(member.data_dir / "member")
    stage(**stage_args(saved, member))
    if kill == "swapped":
        swap_in(str(member.data_dir), STAMP)
    elif kill is not None:
        kill(member)
    result = swap_out(str(member.data_dir), STAMP)
    assert result["changed"] is True
    assert tree_digest(member.data_dir / "member") == old
    names = listing(member.data_dir)
    assert STAGING not in names and ASIDE not in names
    if kill in ("swapped", killed_before_the_marker):
        # the restored member is kept, never deleted
        assert f"member.failed-{STAMP}" in names
    assert swap_out(str(member.data_dir), STAMP)["changed"] is False
    member.start()
    assert "/registry/after-the-snapshot" in member.keys()  # the old data, not the snapshot
    member.stop()


def test_a_restage_killed_midway_never_takes_the_old_member_for_the_restored_one(saved, member):
    """Killed while a re-stage removes the old staging dir: staged.json may outlive the
    staged member. member/ is still the old one: the swap refuses, the rollback keeps it."""
    old = tree_digest(member.data_dir / "member")
    stage(**stage_args(saved, member))
    staging = member.data_dir / STAGING
    shutil.rmtree(staging / "data")  # the part of the removal that happened
    with pytest.raises(RestoreError, match="is gone"):
        swap_in(str(member.data_dir), STAMP)
    swap_out(str(member.data_dir), STAMP)
    assert tree_digest(member.data_dir / "member") == old
    assert not any(n.startswith("member.failed") for n in listing(member.data_dir))


def test_stage_waits_for_a_restore_a_killed_run_left_writing(saved, member, tmp_path):
    stage(**stage_args(saved, member))
    staging = member.data_dir / STAGING
    writer = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "--data-dir", str(staging / "data")]
    )
    try:
        wait_for_cmdline(writer.pid, sys.executable)
        with pytest.raises(RestoreError, match=f"is still being written by pid {writer.pid}"):
            stage(**stage_args(saved, member, initial_cluster_token="another-token"))
    finally:
        writer.kill()
        writer.wait()
    assert (staging / "data" / "member").is_dir()  # left as it was


def rollback_killed_before_the_marker(member):
    """A rollback (swap_out) killed after its second rename: the restored member is
    member.failed-<stamp>, the old one is back in member/, the marker not yet renamed."""
    (member.data_dir / "member").rename(member.data_dir / f"member.failed-{STAMP}")
    (member.data_dir / ASIDE).rename(member.data_dir / "member")


def test_a_rollback_killed_before_its_marker_rename_keeps_the_old_member(saved, member):
    """The marker alone is not proof that member/ is the restored member: it names the
    staged member's inode, and a member/ with another inode is the old one."""
    old = tree_digest(member.data_dir / "member")
    stage(**stage_args(saved, member))
    swap_in(str(member.data_dir), STAMP)
    rollback_killed_before_the_marker(member)
    assert not swapped(str(member.data_dir), STAMP)
    with pytest.raises(RestoreError, match="is not the restored member"):
        swap_in(str(member.data_dir), STAMP)
    assert tree_digest(member.data_dir / "member") == old
    result = swap_out(str(member.data_dir), STAMP)
    assert tree_digest(member.data_dir / "member") == old
    assert result["failed_kept"] == str(member.data_dir / f"member.failed-{STAMP}")
    names = listing(member.data_dir)
    assert f"member.failed-{STAMP}.2" not in names and f"{MARKER}.rolled-back" in names
    assert swap_out(str(member.data_dir), STAMP)["changed"] is False
    member.start()
    assert "/registry/after-the-snapshot" in member.keys()  # the old data, not the snapshot
    member.stop()
