"""Unit tests of _find_tools: where the etcd binaries are searched and how their version
is read (real shell scripts standing in for the binaries)."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _find_tools
from ansible_collections.kubedr.etcd.plugins.module_utils._find_tools import (
    ToolError,
    find_tool,
    locate,
    tool_info,
    where,
)


def script(directory, name, body):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    on_path, usual = tmp_path / "on-path", tmp_path / "usual"
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.setattr(_find_tools, "TOOL_DIRS", (str(usual),))
    return on_path, usual


def test_path_first_then_the_usual_dirs(dirs):
    on_path, usual = dirs
    second = script(usual, "etcdctl", "")
    assert locate("etcdctl") == second
    first = script(on_path, "etcdctl", "")
    assert locate("etcdctl") == first
    assert locate("etcdutl") is None
    assert where() == f"PATH, {usual}"


def test_only_dir_looks_nowhere_else(dirs, tmp_path):
    on_path, _usual = dirs
    script(on_path, "etcdctl", "")
    assert locate("etcdctl", only_dir=str(tmp_path / "tools")) is None
    assert where(str(tmp_path / "tools")) == str(tmp_path / "tools")


def test_a_given_path_must_be_executable(dirs, tmp_path):
    plain = tmp_path / "etcdctl"
    plain.write_text("")
    with pytest.raises(ToolError, match=r"etcdctl_path=.*: there is no executable file there"):
        locate("etcdctl", str(plain))
    given = script(tmp_path / "given", "etcdctl", "")
    assert locate("etcdctl", given, only_dir=str(tmp_path)) == given


def test_version_and_errors(dirs, tmp_path):
    on_path, _usual = dirs
    good = script(
        on_path, "etcdctl", '[ "$ETCDCTL_API" = 3 ] || exit 9\necho "etcdctl version: 3.5.16"\n'
    )
    assert find_tool("etcdctl") == {"path": good, "version": "3.5.16", "error": None}
    failing = script(tmp_path / "bad", "etcdutl", "echo boom >&2\nexit 3\n")
    assert tool_info("etcdutl", failing)["error"] == f"'{failing} version' exited with 3: boom"
    garbage = script(tmp_path / "garbage", "etcdutl", "echo hello\n")
    assert "printed no 'etcdutl version: X.Y.Z' line" in tool_info("etcdutl", garbage)["error"]
