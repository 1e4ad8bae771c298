# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, and pure: the modules run etcdctl / etcdutl themselves.
"""etcd versions: read the tools' version output, compare, choose the restore tool.

Which tool restores a snapshot:

=========  ==========================================  =============================
etcd       restore with                                --bump-revision/--mark-compacted
=========  ==========================================  =============================
3.3, 3.4   ``ETCDCTL_API=3 etcdctl snapshot restore``  from 3.4.27
3.5        ``etcdutl snapshot restore``                from 3.5.10
           (etcdctl's restore still works, deprecated)
3.6+       ``etcdutl`` only (etcdctl's restore gone)   yes
=========  ==========================================  =============================
"""

from __future__ import annotations

import re

_VERSION_LINE = re.compile(r"^\s*(etcdctl|etcdutl|etcd)\s+version:\s*v?(\S+)\s*$", re.M | re.I)
_API_LINE = re.compile(r"^\s*API version:\s*(\S+)\s*$", re.M | re.I)
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")

# First release of each minor line with --bump-revision / --mark-compacted.
_BUMP_REVISION_SINCE = {(3, 4): (3, 4, 27), (3, 5): (3, 5, 10)}


def parse_tool_version(output, tool):
    """'etcdctl version: 3.4.23\\nAPI version: 3.4' -> '3.4.23' (tool: etcdctl or etcdutl).

    Raises ValueError naming the tool when the output has no such line.
    """
    for match in _VERSION_LINE.finditer(output or ""):
        if match.group(1).lower() == tool and _VERSION.match(match.group(2)):
            return match.group(2)
    shown = (output or "").strip()[:200] or "nothing"
    raise ValueError(f"'{tool} version' printed no '{tool} version: X.Y.Z' line, but: {shown}")


def parse_etcdctl_version(output):
    return parse_tool_version(output, "etcdctl")


def parse_etcdutl_version(output):
    return parse_tool_version(output, "etcdutl")


def parse_api_version(output):
    """'API version: 3.5' -> '3.5', or None."""
    match = _API_LINE.search(output or "")
    return match.group(1) if match else None


def version_tuple(version):
    """'3.5.16', 'v3.5.16', '3.5.16-0', '3.5' -> tuple of ints (3, 5, 16) / (3, 5, 0)."""
    match = _VERSION.match(str(version).strip())
    if match is None:
        raise ValueError(f"'{version}' is not an etcd version (expected X.Y.Z)")
    return tuple(int(part or 0) for part in match.groups())


def compare_versions(left, right):
    """-1, 0 or 1 as left is older than, equal to or newer than right."""
    a, b = version_tuple(left), version_tuple(right)
    return (a > b) - (a < b)


def version_at_least(version, minimum):
    return version_tuple(version) >= version_tuple(minimum)


def supports_bump_revision(etcd_version):
    """Whether `snapshot restore` has --bump-revision and --mark-compacted."""
    version = version_tuple(etcd_version)
    minor = version[:2]
    if minor in _BUMP_REVISION_SINCE:
        return version >= _BUMP_REVISION_SINCE[minor]
    return minor >= (3, 6)


def restore_tool(etcd_version):
    """How to restore a snapshot for an etcd version.

    Returns {'tool': 'etcdctl' | 'etcdutl', 'environment': {...},
    'bump_revision': bool, 'etcdctl_fallback': bool}; etcdctl_fallback says
    whether `etcdctl snapshot restore` still works (deprecated on 3.5).
    Raises ValueError for etcd older than 3.3.
    """
    version = version_tuple(etcd_version)
    minor = version[:2]
    if minor < (3, 3):
        raise ValueError(
            f"etcd {etcd_version} is older than 3.3; kubedr.etcd restores etcd 3.3 and newer"
        )
    if minor < (3, 5):
        tool, environment, fallback = "etcdctl", {"ETCDCTL_API": "3"}, False
    else:
        tool, environment, fallback = "etcdutl", {}, minor == (3, 5)
    return {
        "tool": tool,
        "environment": environment,
        "bump_revision": supports_bump_revision(etcd_version),
        "etcdctl_fallback": fallback,
    }


def _found(tools, name):
    tool = (tools or {}).get(name)
    return tool if isinstance(tool, dict) and tool.get("path") and tool.get("version") else None


def _missing_reason(tools, name):
    tool = (tools or {}).get(name)
    if isinstance(tool, dict) and tool.get("path"):
        return f"{name} at {tool['path']} gave no version ({tool.get('error') or 'no version'})"
    return f"{name} was not found"


def choose_restore_tool(etcd_version, tools):
    """THE choice of the tool that restores a snapshot for ``etcd_version`` on a master
    with ``tools`` (kubedr_etcd_tools: {'etcdctl': {'path', 'version'} | None,
    'etcdutl': ...}). The restore plan makes it once per master; the member restore
    only carries it out.

    Returns {'name', 'path', 'version', 'warnings': [str]}. Raises ValueError naming
    the missing tool and what to install.
    """
    choice = restore_tool(etcd_version)
    etcdutl, etcdctl = _found(tools, "etcdutl"), _found(tools, "etcdctl")
    warnings = []
    if choice["tool"] == "etcdutl":
        if etcdutl:
            name, chosen = "etcdutl", etcdutl
        elif (
            choice["etcdctl_fallback"]
            and etcdctl
            and version_tuple(etcdctl["version"])[:2] == (3, 5)
        ):
            name, chosen = "etcdctl", etcdctl
            warnings.append(
                f"{_missing_reason(tools, 'etcdutl')}: restoring with etcdctl"
                f" {etcdctl['version']}'s deprecated 'snapshot restore'; install etcdutl"
                f" {etcd_version} on it to use the supported tool"
            )
        else:
            raise ValueError(
                f"etcd {etcd_version} restores with etcdutl, but"
                f" {_missing_reason(tools, 'etcdutl')}; install etcdutl from the etcd"
                f" {etcd_version} release on this master (etcdutl_path when it is not on PATH)"
            )
    else:
        if not etcdctl or version_tuple(etcdctl["version"])[:2] >= (3, 6):
            why = (
                f"found etcdctl {etcdctl['version']}, which has no 'snapshot restore'"
                if etcdctl
                else _missing_reason(tools, "etcdctl")
            )
            raise ValueError(
                f"etcd {etcd_version} restores with etcdctl (ETCDCTL_API=3), but {why};"
                f" install etcdctl from the etcd {etcd_version} release on this master"
                " (etcdctl_path when it is not on PATH)"
            )
        name, chosen = "etcdctl", etcdctl
    if version_tuple(chosen["version"])[:2] > version_tuple(etcd_version)[:2]:
        minor = ".".join(str(part) for part in version_tuple(etcd_version)[:2])
        warnings.append(
            f"{name} {chosen['version']} restores for etcd {etcd_version}: a tool from the"
            f" etcd {minor} release is safer"
        )
    return {
        "name": name,
        "path": str(chosen["path"]),
        "version": str(chosen["version"]),
        "warnings": warnings,
    }
