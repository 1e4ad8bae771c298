"""Unit tests of _code_install: the collection's module_utils read on the controller and
installed into a directory of its own on a host."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _code_install
from ansible_collections.kubedr.etcd.plugins.module_utils._code_install import (
    install,
    is_source_name,
    read_sources,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure

MODULE_UTILS = Path(__file__).resolve().parents[4] / "plugins" / "module_utils"


def source(name, text):
    data = text.encode()
    return {"name": name, "content": text, "sha256": hashlib.sha256(data).hexdigest()}


FILES = [source("_a.py", "A = 1\n"), source("_b.py", "B = 'é'\n")]


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def listing(directory):
    return sorted(os.listdir(directory))


@pytest.fixture
def dest(tmp_path):
    return tmp_path / "root" / "ansible_collections" / "kubedr" / "etcd" / "plugins" / "mu"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("_a.py", True),
        ("_files.py", True),
        ("a.py", False),
        ("_.py", False),
        ("_a.pyc", False),
        ("_a/b.py", False),
        ("__init__.py", True),
        ("", False),
    ],
)
def test_source_names(name, ok):
    assert is_source_name(name) is ok


def test_read_sources_reads_every_underscore_file_of_the_collection():
    sources = read_sources(str(MODULE_UTILS))
    names = [s["name"] for s in sources]
    assert names == sorted(p.name for p in MODULE_UTILS.glob("_*.py"))
    assert "_code_install.py" in names and "_files.py" in names
    for entry in sources:
        data = (MODULE_UTILS / entry["name"]).read_bytes()
        assert entry["content"].encode() == data
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_read_sources_fails_on_an_empty_or_missing_directory(tmp_path):
    (tmp_path / "plain.py").write_text("x\n")
    with pytest.raises(TaskFailure, match=r"no _\*\.py files"):
        read_sources(str(tmp_path))
    with pytest.raises(TaskFailure, match="cannot list"):
        read_sources(str(tmp_path / "missing"))
    (tmp_path / "_bad.py").write_bytes(b"\xff\xfe")
    with pytest.raises(TaskFailure, match="as UTF-8 text"):
        read_sources(str(tmp_path))


def test_first_install_makes_the_directories_and_writes_every_file(dest):
    old = os.umask(0o077)
    try:
        result = install(str(dest), FILES)
    finally:
        os.umask(old)
    assert result["changed"] is True and result["created"] is True
    assert result["written"] == ["_a.py", "_b.py"] and result["removed"] == []
    assert listing(dest) == ["_a.py", "_b.py"]
    assert (dest / "_b.py").read_text(encoding="utf-8") == "B = 'é'\n"
    assert mode(dest / "_a.py") == mode(dest / "_b.py") == 0o644
    for directory in (dest, dest.parent, dest.parents[3]):
        assert mode(directory) == 0o755, directory


def test_a_second_install_changes_nothing(dest):
    install(str(dest), FILES)
    before = {name: os.stat(dest / name).st_ino for name in listing(dest)}
    result = install(str(dest), FILES)
    assert result["changed"] is False
    assert result["written"] == result["removed"] == result["mode_set"] == []
    assert "up to date" in result["msg"]
    assert {name: os.stat(dest / name).st_ino for name in listing(dest)} == before


def test_only_differing_files_are_written_and_stale_ones_removed(dest):
    install(str(dest), FILES)
    untouched = os.stat(dest / "_a.py").st_ino
    (dest / "_b.py").write_text("B = 2\n")
    (dest / "_gone.py").write_text("OLD = 1\n")
    (dest / "notes.txt").write_text("not ours\n")
    (dest / "__pycache__").mkdir()
    result = install(str(dest), FILES)
    assert result["changed"] is True and result["created"] is False
    assert result["written"] == ["_b.py"] and result["removed"] == ["_gone.py"]
    assert listing(dest) == ["__pycache__", "_a.py", "_b.py", "notes.txt"]
    assert os.stat(dest / "_a.py").st_ino == untouched
    assert (dest / "_b.py").read_text(encoding="utf-8") == "B = 'é'\n"


def test_modes_are_put_right_without_rewriting(dest):
    install(str(dest), FILES)
    inode = os.stat(dest / "_a.py").st_ino
    os.chmod(dest / "_a.py", 0o600)
    os.chmod(dest, 0o700)
    result = install(str(dest), FILES)
    assert result["changed"] is True
    assert result["mode_set"] == ["_a.py"] and result["written"] == []
    assert mode(dest / "_a.py") == 0o644 and mode(dest) == 0o755
    assert os.stat(dest / "_a.py").st_ino == inode


def test_a_symlink_in_place_of_a_file_is_replaced_by_the_file(dest, tmp_path):
    install(str(dest), FILES)
    target = tmp_path / "elsewhere.py"
    target.write_text("A = 1\n")
    (dest / "_a.py").unlink()
    (dest / "_a.py").symlink_to(target)
    assert install(str(dest), FILES)["written"] == ["_a.py"]
    assert not (dest / "_a.py").is_symlink() and target.read_text() == "A = 1\n"


def test_check_mode_reports_and_writes_nothing(dest):
    result = install(str(dest), FILES, check_mode=True, want_diff=True)
    assert result["changed"] is True and result["created"] is True
    assert result["written"] == ["_a.py", "_b.py"]
    assert result["msg"].startswith("would install 2 of 2")
    assert not dest.exists()
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"].splitlines() == [
        f"_a.py {FILES[0]['sha256'][:12]} 0644",
        f"_b.py {FILES[1]['sha256'][:12]} 0644",
    ]
    install(str(dest), FILES)
    (dest / "_b.py").write_text("B = 2\n")
    (dest / "_gone.py").write_text("OLD = 1\n")
    snapshot = {name: (dest / name).read_bytes() for name in listing(dest)}
    result = install(str(dest), FILES, check_mode=True, want_diff=True)
    assert result["written"] == ["_b.py"] and result["removed"] == ["_gone.py"]
    assert {name: (dest / name).read_bytes() for name in listing(dest)} == snapshot
    old_b = hashlib.sha256(b"B = 2\n").hexdigest()[:12]
    gone = hashlib.sha256(b"OLD = 1\n").hexdigest()[:12]
    assert result["diff"]["before"].splitlines() == [f"_b.py {old_b} 0644", f"_gone.py {gone} 0644"]
    assert result["diff"]["after"].splitlines() == [f"_b.py {FILES[1]['sha256'][:12]} 0644"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([{"name": "../_x.py", "content": "", "sha256": ""}], r"is not a _\*\.py file name"),
        ([source("plain.py", "x")], r"is not a _\*\.py file name"),
        ([source("_a.py", "x"), source("_a.py", "x")], "given twice"),
        ([{**source("_a.py", "x"), "content": "y"}], "does not match its sha256"),
    ],
)
def test_bad_files_are_refused_before_anything_is_written(dest, files, message):
    with pytest.raises(TaskFailure, match=message):
        install(str(dest), files)
    assert not dest.exists()


def test_dest_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TaskFailure, match="is not a directory"):
        install(str(tmp_path / "file"), FILES)


def test_a_failed_write_says_what_was_done(dest, monkeypatch):
    install(str(dest), FILES)
    (dest / "_a.py").write_text("changed\n")
    (dest / "_b.py").write_text("changed\n")
    real = _code_install.atomic_writer
    calls = []

    def failing(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_code_install, "atomic_writer", failing)
    with pytest.raises(TaskFailure, match="No space left") as caught:
        install(str(dest), FILES)
    assert caught.value.details == {"written": ["_a.py"], "removed": []}
    assert (dest / "_b.py").read_text() == "changed\n"
