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
    MANIFEST,
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
LISTED_AB = hashlib.sha256(b"_a.py\n_b.py\n").hexdigest()[:12]


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def listing(directory):
    return sorted(os.listdir(directory))


@pytest.fixture
def dest(tmp_path):
    return (
        tmp_path / "root" / "ansible_collections" / "kubedr" / "etcd" / "plugins" / "module_utils"
    )


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("_a.py", True),
        ("_files.py", True),
        ("a.py", False),
        ("_.py", False),
        ("_a.pyc", False),
        ("_a/b.py", False),
        ("__init__.py", False),
        ("__main__.py", False),
        ("__x.py", True),
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
    assert listing(dest) == [MANIFEST, "_a.py", "_b.py"]
    assert (dest / MANIFEST).read_text() == "_a.py\n_b.py\n"
    assert (dest / "_b.py").read_text(encoding="utf-8") == "B = 'é'\n"
    assert mode(dest / "_a.py") == mode(dest / "_b.py") == mode(dest / MANIFEST) == 0o644
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
    install(str(dest), [*FILES, source("_gone.py", "OLD = 1\n")])
    untouched = os.stat(dest / "_a.py").st_ino
    (dest / "_b.py").write_text("B = 2\n")
    (dest / "notes.txt").write_text("not ours\n")
    (dest / "__pycache__").mkdir()
    result = install(str(dest), FILES)
    assert result["changed"] is True and result["created"] is False
    assert result["written"] == ["_b.py"] and result["removed"] == ["_gone.py"]
    assert listing(dest) == [MANIFEST, "__pycache__", "_a.py", "_b.py", "notes.txt"]
    assert (dest / MANIFEST).read_text() == "_a.py\n_b.py\n"
    assert os.stat(dest / "_a.py").st_ino == untouched
    assert (dest / "_b.py").read_text(encoding="utf-8") == "B = 'é'\n"


def test_files_it_did_not_install_are_left_alone(dest, tmp_path):
    install(str(dest), [*FILES, source("_linked.py", "L = 1\n")])
    target = tmp_path / "target.py"
    target.write_text("T = 1\n")
    (dest / "_linked.py").unlink()
    (dest / "_linked.py").symlink_to(target)
    (dest / "__init__.py").write_text("# the user's\n")
    (dest / "_mine.py").write_text("MINE = 1\n")
    # even listed, a dunder name is never the module's own
    with open(dest / MANIFEST, "a") as handle:
        handle.write("__init__.py\n")
    result = install(str(dest), FILES[:1])
    assert result["removed"] == ["_b.py"]
    assert listing(dest) == [MANIFEST, "__init__.py", "_a.py", "_linked.py", "_mine.py"]
    assert (dest / "_linked.py").is_symlink() and target.read_text() == "T = 1\n"
    assert (dest / MANIFEST).read_text() == "_a.py\n"


def test_a_directory_without_a_manifest_loses_nothing(dest):
    dest.mkdir(parents=True)
    (dest / "_other.py").write_text("O = 1\n")
    result = install(str(dest), FILES)
    assert result["removed"] == [] and (dest / "_other.py").exists()
    assert install(str(dest), FILES)["changed"] is False


@pytest.mark.parametrize(
    "where",
    [
        "usr/lib/python3.11",
        "root/module_utils",
        "root/ansible_collections/kubedr/etcd/plugins/module_utils/sub",
        "root/ansible_collections/other/etcd/plugins/module_utils",
    ],
)
def test_a_dest_outside_the_collections_path_is_refused(tmp_path, where):
    dest = tmp_path / where
    dest.mkdir(parents=True)
    (dest / "_stale.py").write_text("S = 1\n")
    (dest / MANIFEST).write_text("_stale.py\n")
    with pytest.raises(
        TaskFailure, match=r"must end in ansible_collections/kubedr/etcd/plugins/module_utils"
    ) as caught:
        install(str(dest), FILES)
    assert str(dest) in caught.value.msg
    assert listing(dest) == [MANIFEST, "_stale.py"]


def test_a_trailing_slash_on_dest_is_fine(dest):
    assert install(f"{dest}/", FILES)["written"] == ["_a.py", "_b.py"]


def test_modes_are_put_right_without_rewriting(dest):
    install(str(dest), FILES)
    inode = os.stat(dest / "_a.py").st_ino
    os.chmod(dest / "_a.py", 0o600)
    os.chmod(dest, 0o700)
    result = install(str(dest), FILES)
    assert "set the mode of 1 to 0644" in result["msg"]
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
        f"{MANIFEST} {LISTED_AB} 0644",
        f"_a.py {FILES[0]['sha256'][:12]} 0644",
        f"_b.py {FILES[1]['sha256'][:12]} 0644",
    ]
    install(str(dest), FILES)
    (dest / "_b.py").write_text("B = 2\n")
    (dest / "_gone.py").write_text("OLD = 1\n")
    (dest / MANIFEST).write_text("_a.py\n_b.py\n_gone.py\n")
    snapshot = {name: (dest / name).read_bytes() for name in listing(dest)}
    result = install(str(dest), FILES, check_mode=True, want_diff=True)
    assert result["written"] == ["_b.py"] and result["removed"] == ["_gone.py"]
    assert {name: (dest / name).read_bytes() for name in listing(dest)} == snapshot
    old_b = hashlib.sha256(b"B = 2\n").hexdigest()[:12]
    gone = hashlib.sha256(b"OLD = 1\n").hexdigest()[:12]
    listed = hashlib.sha256(b"_a.py\n_b.py\n_gone.py\n").hexdigest()[:12]
    assert result["diff"]["before"].splitlines() == [
        f"{MANIFEST} {listed} 0644",
        f"_b.py {old_b} 0644",
        f"_gone.py {gone} 0644",
    ]
    assert result["diff"]["after"].splitlines() == [
        f"{MANIFEST} {LISTED_AB} 0644",
        f"_b.py {FILES[1]['sha256'][:12]} 0644",
    ]


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


def test_dest_that_is_a_file_is_refused(dest):
    dest.parent.mkdir(parents=True)
    dest.write_text("x")
    with pytest.raises(TaskFailure, match="is not a directory"):
        install(str(dest), FILES)


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_dest_under_a_file_fails_with_the_path_and_the_fix(dest, check_mode):
    dest.parents[1].mkdir(parents=True)
    dest.parent.write_text("x")
    with pytest.raises(TaskFailure) as caught:
        install(str(dest), FILES, check_mode=check_mode)
    assert str(dest) in caught.value.msg and "Not a directory" in caught.value.msg
    assert "choose another dest" in caught.value.msg
    assert caught.value.details["changed"] is False


@pytest.mark.parametrize("check_mode", [False, True])
def test_an_unreadable_file_fails_with_the_path_and_the_fix(dest, monkeypatch, check_mode):
    install(str(dest), FILES)

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_code_install, "open", denied, raising=False)
    with pytest.raises(TaskFailure) as caught:
        install(str(dest), FILES, check_mode=check_mode)
    message = caught.value.msg
    assert f"{dest}/_a.py: Permission denied" in message and "become: true" in message


def test_the_directory_mode_alone_is_said_and_diffed(dest):
    install(str(dest), FILES)
    os.chmod(dest, 0o700)
    result = install(str(dest), FILES, check_mode=True, want_diff=True)
    assert result["changed"] is True and result["written"] == []
    assert "would set the directory's mode to 0755 (was 0700)" in result["msg"]
    assert result["diff"]["before"] == ". - 0700\n"
    assert result["diff"]["after"] == ". - 0755\n"
    result = install(str(dest), FILES)
    assert "set the directory's mode to 0755 (was 0700)" in result["msg"]
    assert mode(dest) == 0o755


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
    assert caught.value.details == {
        "changed": True,
        "dest": str(dest),
        "written": ["_a.py"],
        "removed": [],
    }
    assert (dest / "_b.py").read_text() == "changed\n"


def test_names_are_listed_before_their_files_are_written(dest, monkeypatch):
    install(str(dest), [*FILES, source("_old.py", "O = 1\n")])
    real = _code_install.atomic_writer

    def failing(path, *args, **kwargs):
        if path.endswith("_c.py"):
            raise OSError(28, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_code_install, "atomic_writer", failing)
    with pytest.raises(TaskFailure):
        install(str(dest), [*FILES, source("_c.py", "C = 1\n")])
    # _old.py was not removed yet, and _c.py, had it been written, may be removed later
    assert (dest / MANIFEST).read_text() == "_a.py\n_b.py\n_c.py\n_old.py\n"
    monkeypatch.setattr(_code_install, "atomic_writer", real)
    assert install(str(dest), FILES)["removed"] == ["_old.py"]
    assert (dest / MANIFEST).read_text() == "_a.py\n_b.py\n"
