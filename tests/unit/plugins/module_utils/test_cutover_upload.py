"""The stage step takes the snapshot the action plugin transferred: moved whole into the
run's own directory (renamed, or copied across file systems), dropped when the master is
already cut over, and a missing copy named with the next step."""

from __future__ import annotations

import os
import tempfile

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _cutover as C
from ansible_collections.kubedr.etcd.plugins.module_utils import _files as F
from ansible_collections.kubedr.etcd.plugins.module_utils import _restore_journal as J

RUN = "20261126T031500Z-4f9a1c"


def locked(state):
    J.ensure_state_dir(state)
    J.begin(
        state,
        {
            "run_id": RUN,
            "stamp": RUN.split("-", maxsplit=1)[0],
            "controller": {"hostname": "ctl"},
            "snapshot": {"name": "/b/etcd-snapshot-x.db", "sha256": "a" * 64},
            "plan": {"token": f"kubedr-restore-{RUN}"},
        },
    )
    return J.read(state)


def test_the_upload_becomes_the_runs_copy(tmp_path):
    state = str(tmp_path / "state")
    journal = locked(state)
    upload = tmp_path / "upload.db"
    upload.write_bytes(b"snapshot bytes")
    C._take_upload(state, journal, str(upload))
    copy = C.snapshot_copy(state, journal)
    assert copy == os.path.join(state, RUN, "etcd-snapshot-x.db")
    with open(copy, "rb") as fh:
        assert fh.read() == b"snapshot bytes"
    assert oct(os.stat(copy).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(copy)).st_mode & 0o777) == "0o700"
    assert not upload.exists()


def test_an_upload_after_the_stop_is_dropped_and_the_copy_left_alone(tmp_path):
    state = str(tmp_path / "state")
    journal = locked(state)
    for phase in ("staged", "stopped"):
        J.record(state, RUN, phase)
    upload = tmp_path / "upload.db"
    upload.write_bytes(b"new")
    C._take_upload(state, J.read(state), str(upload))
    assert not upload.exists()
    assert not os.path.exists(C.snapshot_copy(state, journal))


def test_no_upload_and_no_copy_is_named_with_the_next_step(tmp_path):
    state = str(tmp_path / "state")
    journal = locked(state)
    with pytest.raises(C.CutoverError, match="not on this master; nothing was stopped") as err:
        C._take_upload(state, journal, None)
    assert err.value.details == {"copy_missing": True}


def test_move_file_across_file_systems_streams_a_whole_copy(tmp_path):
    """/dev/shm is a file system of its own where it exists: a real EXDEV."""
    if not os.path.isdir("/dev/shm") or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system here")
    with tempfile.NamedTemporaryFile(dir="/dev/shm", delete=False) as fh:
        fh.write(os.urandom(3 << 20) + b"end")
        src = fh.name
    dest = tmp_path / "copy.db"
    dest.write_bytes(b"old")
    F.move_file(src, str(dest), chunk_size=1 << 20)
    assert dest.read_bytes().endswith(b"end") and dest.stat().st_size == (3 << 20) + 3
    assert not os.path.exists(src)
    assert [p.name for p in tmp_path.iterdir()] == ["copy.db"]  # no temp file left


def test_move_file_keeps_the_source_when_the_copy_fails(tmp_path):
    src = tmp_path / "src.db"
    src.write_bytes(b"data")
    with pytest.raises(OSError):
        F.move_file(str(src), str(tmp_path / "missing-dir" / "copy.db"))
    assert src.read_bytes() == b"data"
