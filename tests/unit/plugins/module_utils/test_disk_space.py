"""Unit tests of _disk_space: the one place the room a backup, a drill and a restore
need is decided."""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import (
    COPY_MARGIN,
    MIB,
    RESTORE_MARGIN,
    backup_need,
    data_dir_need,
    free_space,
    mib,
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


def test_texts():
    assert mib(1) == "0.0 MiB"
    assert mib(3 * MIB // 2) == "1.5 MiB"
    assert size_text(1536) == "1.5 KiB"
    assert size_text(2 * MIB) == "2 MiB"
    assert size_text(10) == "10 bytes"
