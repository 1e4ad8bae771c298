"""Unit tests of the etcd version helpers."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_tools import (
    compare_versions,
    parse_api_version,
    parse_etcdctl_version,
    parse_etcdutl_version,
    parse_tool_version,
    restore_tool,
    supports_bump_revision,
    version_at_least,
    version_tuple,
)

ETCDCTL_34 = "etcdctl version: 3.4.23\nAPI version: 3.4\n"
ETCDCTL_35 = "etcdctl version: 3.5.16\nAPI version: 3.5\n"
ETCDUTL_35 = "etcdutl version: 3.5.16\nAPI version: 3.5\n"

REAL_TOOLS = [
    ("/usr/bin/etcdctl", "etcdctl", None),
    ("/tmp/trixie/x/usr/bin/etcdctl", "etcdctl", "3.5.16"),
    ("/tmp/trixie/x/usr/bin/etcdutl", "etcdutl", "3.5.16"),
]


def test_parse_version_outputs():
    assert parse_etcdctl_version(ETCDCTL_34) == "3.4.23"
    assert parse_etcdctl_version(ETCDCTL_35) == "3.5.16"
    assert parse_etcdutl_version(ETCDUTL_35) == "3.5.16"
    assert parse_tool_version("\n  etcdctl version: v3.6.0-rc.2\n", "etcdctl") == "3.6.0-rc.2"
    assert parse_api_version(ETCDCTL_34) == "3.4"
    assert parse_api_version("nothing") is None


@pytest.mark.parametrize(
    ("output", "tool"),
    [
        (ETCDUTL_35, "etcdctl"),  # the other tool's output
        ("", "etcdctl"),
        (None, "etcdutl"),
        ('Error: unknown command "version"', "etcdutl"),
        ("etcdctl version: unknown", "etcdctl"),
    ],
)
def test_parse_version_rejects(output, tool):
    with pytest.raises(
        ValueError, match=f"'{tool} version' printed no '{tool} version: X.Y.Z' line"
    ):
        parse_tool_version(output, tool)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.5.16", (3, 5, 16)),
        ("v3.4.3", (3, 4, 3)),
        ("3.5.16-0", (3, 5, 16)),
        ("3.6", (3, 6, 0)),
        (" 3.10.2 ", (3, 10, 2)),
    ],
)
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


def test_version_tuple_rejects():
    with pytest.raises(ValueError, match="'latest' is not an etcd version"):
        version_tuple("latest")


def test_compare_versions():
    assert compare_versions("3.4.27", "3.4.3") == 1
    assert compare_versions("3.5.9", "3.5.10") == -1
    assert compare_versions("v3.5.10", "3.5.10-0") == 0
    assert version_at_least("3.10.0", "3.9.99")
    assert not version_at_least("3.4.26", "3.4.27")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.3.27", False),
        ("3.4.13", False),
        ("3.4.26", False),
        ("3.4.27", True),
        ("3.4.35", True),
        ("3.5.9", False),
        ("3.5.10", True),
        ("3.5.16", True),
        ("3.6.0", True),
        ("3.7.1", True),
        ("4.0.0", True),
    ],
)
def test_supports_bump_revision(version, expected):
    assert supports_bump_revision(version) is expected


@pytest.mark.parametrize(
    ("version", "tool", "environment", "bump", "fallback"),
    [
        ("3.3.10", "etcdctl", {"ETCDCTL_API": "3"}, False, False),
        ("3.4.13", "etcdctl", {"ETCDCTL_API": "3"}, False, False),
        ("3.4.27", "etcdctl", {"ETCDCTL_API": "3"}, True, False),
        ("3.5.7", "etcdutl", {}, False, True),
        ("3.5.16", "etcdutl", {}, True, True),
        ("3.6.4", "etcdutl", {}, True, False),
    ],
)
def test_restore_tool(version, tool, environment, bump, fallback):
    assert restore_tool(version) == {
        "tool": tool,
        "environment": environment,
        "bump_revision": bump,
        "etcdctl_fallback": fallback,
    }


def test_restore_tool_refuses_old_etcd():
    with pytest.raises(ValueError, match=r"etcd 3\.2\.24 is older than 3\.3"):
        restore_tool("3.2.24")


@pytest.mark.parametrize(("path", "tool", "expected"), REAL_TOOLS)
def test_real_tool_output(path, tool, expected):
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not installed here")
    result = subprocess.run(
        [path, "version"],
        env={**os.environ, "ETCDCTL_API": "3"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    version = parse_tool_version(result.stdout, tool)
    if expected is not None:
        assert version == expected
    assert version_tuple(version) >= (3, 3, 0)
    assert parse_api_version(result.stdout) == ".".join(version.split(".")[:2])
