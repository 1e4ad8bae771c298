"""Unit tests of _files: the one atomic writer every record, archive and copy goes through."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._files import (
    atomic_writer,
    temp_name,
    write_text_atomic,
)


def test_write_text_atomic_replaces_whole_with_mode(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("old")
    write_text_atomic(str(path), "new\n", mode=0o640)
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["record.json"]


def test_a_failed_block_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(str(path), binary=True) as handle:
        handle.write(b"half")
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["archive.tar.gz"]


def test_temp_is_hidden_beside_the_file(tmp_path):
    with atomic_writer(str(tmp_path / "x.db"), binary=True) as handle:
        (temp,) = os.listdir(tmp_path)
        assert temp.startswith(".x.db.") and temp.endswith(".tmp")
        handle.write(b"data")
    assert os.listdir(tmp_path) == ["x.db"]
    name = temp_name(str(tmp_path / "x.db.age"))
    assert os.path.dirname(name) == str(tmp_path)
    assert os.path.basename(name).startswith(".x.db.age.") and name.endswith(".tmp")
    assert name != temp_name(str(tmp_path / "x.db.age"))
