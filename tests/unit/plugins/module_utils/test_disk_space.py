"""Unit tests of _disk_space: the one place the room a backup, a drill and a restore
need is decided."""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import (
    COPY_MARGIN,
    MIB,
    RESTORE_MARGIN,
    backup_need,
    become_copy_need,
    become_copy_problem,
    data_dir_need,
    free_space,
    mib,
    one_file_system,
    shared_need,
    size_text,
    snapshot_dir_need,
)


def test_margins():
    assert RESTORE_MARGIN == 80 * MIB
    assert COPY_MARGIN == 16 * MIB
    assert data_dir_need(10 * MIB) == 90 * MIB
    assert snapshot_dir_need(10 * MIB) == 26 * MIB


def test_backup_needs_a_second_copy_and_a_wal_for_its_trial_restore():
    assert backup_need(10 * MIB, trial_restore=False) == 26 * MIB
    assert backup_need(10 * MIB, trial_restore=True) == (10 + 16 + 10 + 64) * MIB


def test_free_space_of_a_path_not_made_yet(tmp_path):
    assert free_space(str(tmp_path / "a" / "b")) == free_space(str(tmp_path)) > 0


def test_a_shared_file_system_holds_the_copy_and_the_staged_restore():
    assert shared_need(10 * MIB) == (10 + 80 + 10 + 16) * MIB


def test_one_file_system_of_paths_not_made_yet(tmp_path):
    assert one_file_system(str(tmp_path / "a" / "b"), str(tmp_path / "c"))
    # /proc is a file system of its own on every Linux
    assert not one_file_system(str(tmp_path / "a"), "/proc/self")


def test_texts():
    assert mib(1) == "0.0 MiB"
    assert mib(3 * MIB // 2) == "1.5 MiB"
    assert size_text(1536) == "1.5 KiB"
    assert size_text(2 * MIB) == "2 MiB"
    assert size_text(10) == "10 bytes"


def test_a_become_copy_needs_the_file_and_a_margin_in_the_users_tmp():
    assert become_copy_need(10 * MIB) == 10 * MIB + COPY_MARGIN
    assert (
        become_copy_problem("m1", "/b/s.db", "/home/u/.ansible/tmp/x", 10 * MIB, 26 * MIB) is None
    )
    problem = become_copy_problem("m1", "/b/s.db", "/home/u/.ansible/tmp/x", 10 * MIB, 25 * MIB)
    assert problem.startswith(
        "m1: not enough free space in /home/u/.ansible/tmp/x to copy /b/s.db there for the"
        " transfer with become: 25 MiB free, 26 MiB needed"
    )
    assert "ansible_remote_tmp" in problem and "nothing was copied" in problem
