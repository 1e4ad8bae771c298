# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters and drill hosts,
# inside modules and in the standalone scheduled scripts.
"""Where the etcd binaries are and which version they are: the one place that looks.

A path given by the user must be an executable file. Otherwise a binary is searched in
E(PATH), then in ``TOOL_DIRS``; or, with ``only_dir``, in that directory alone (the
scheduled backup's Kubernetes CronJob).
"""

from __future__ import annotations

import os

from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_tools import (
    parse_tool_version,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import EtcdctlError, run

TOOLS = ("etcdctl", "etcdutl")
TOOL_DIRS = ("/usr/local/bin", "/usr/bin")


class ToolError(Exception):
    """A binary the user gave is not there; the message says which."""


def executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def locate(name, configured=None, only_dir=None):
    """The path of binary ``name``, or None when it is not found. Raises ToolError when
    ``configured`` (the user's path) is no executable file."""
    if configured:
        if not executable(configured):
            raise ToolError(f"{name}_path={configured}: there is no executable file there")
        return configured
    if only_dir:
        dirs = [only_dir]
    else:
        dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
        dirs += [d for d in TOOL_DIRS if d not in dirs]
    for directory in dirs:
        path = os.path.join(directory, name)
        if executable(path):
            return path
    return None


def where(only_dir=None):
    """Where ``locate`` looks, for messages: 'PATH, /usr/local/bin, /usr/bin'."""
    return only_dir or ", ".join(["PATH", *TOOL_DIRS])


def tool_info(name, path, timeout=30):
    """{'path', 'version', 'error'} of etcdctl or etcdutl at ``path``: the version from
    ``<path> version``, or why it could not be read."""
    info = {"path": path, "version": None, "error": None}
    try:
        rc, out, err = run([path, "version"], env={"ETCDCTL_API": "3"}, timeout=timeout)
    except EtcdctlError as exc:
        info["error"] = str(exc)
        return info
    if rc != 0:
        info["error"] = f"'{path} version' exited with {rc}: {(err or out).strip()[:500]}"
        return info
    try:
        info["version"] = parse_tool_version(out, name)
    except ValueError as exc:
        info["error"] = str(exc)
    return info


def find_tool(name, configured=None, only_dir=None, timeout=30):
    """``tool_info`` of binary ``name`` (etcdctl or etcdutl), or None when it is not
    found; ToolError as ``locate``."""
    path = locate(name, configured, only_dir)
    return tool_info(name, path, timeout) if path else None
