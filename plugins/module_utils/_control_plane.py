# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""A master's control-plane archive for one backup, then the retention that follows it.

``archive_control_plane`` is what the control_plane_archive module does, and what
etcd_backup_prepare does besides reading the member: write
``kubernetes-<host>-<stamp>.tar.gz`` of ``/etc/kubernetes`` (``_archive``), or find it
there already, then prune the directory by the retention rules, never that archive.
"""

from __future__ import annotations

import os
import socket

from ansible_collections.kubedr.etcd.plugins.module_utils._archive import (
    ArchiveError,
    archive_directory,
    archive_name,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure
from ansible_collections.kubedr.etcd.plugins.module_utils._pruning import apply_rules, rules_of
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    check_stamp,
    new_stamp,
    sha256_file,
)


class ControlPlaneError(TaskFailure):
    """The archive was not made (or retention failed after it); ``details`` holds the
    fields the module returns with its failure (path, file, host, retention)."""


def archive_control_plane(
    src, dest_dir, host=None, stamp=None, check_mode=False, retention=None, warn=None
):
    """Archive ``src`` into ``dest_dir`` (in check mode: say so), then apply ``retention``
    ({'keep_last', 'keep_days'}; ``warn`` hears of files it could not remove). Returns the
    module's result: path, file, host, changed, and size, sha256 (and entries when
    written), retention (when rules are given), msg in check mode. Raises
    ControlPlaneError, before anything is written for a bad stamp, rule or ``src``."""
    host = host or socket.gethostname()
    try:
        stamp = check_stamp(stamp) if stamp else new_stamp()
        rules = rules_of(retention or {})
    except ValueError as exc:
        raise ControlPlaneError(f"{exc}; nothing was written") from None
    name = archive_name(host, stamp)
    path = os.path.join(dest_dir, name)
    result = {"path": path, "file": name, "host": host}
    if not os.path.isdir(src):
        raise ControlPlaneError(f"src={src} is not a directory: nothing to archive", **result)
    if os.path.exists(path):
        result.update(changed=False, size=os.path.getsize(path), sha256=sha256_file(path))
    elif check_mode:
        result.update(changed=True, msg=f"would archive {src} to {path}")
    else:
        try:
            os.makedirs(dest_dir, mode=0o700, exist_ok=True)
            result.update(archive_directory(src, path), changed=True)
        except (OSError, ArchiveError) as exc:
            raise ControlPlaneError(str(exc), **result) from None
    pruned = apply_rules(dest_dir, rules, name, check_mode=check_mode, warn=warn)
    if pruned is not None:
        result.update(retention=pruned, changed=result["changed"] or pruned["changed"])
    return result


def archive_of(params, check_mode=False, warn=None):
    """archive_control_plane() of a module's parameters (control_plane_argument_spec() and
    retention_argument_spec() in _common_args). With ``archive`` false (etcd_backup_prepare),
    no archive: the retention rules only, so that a master keeps being pruned."""
    if params.get("archive", True):
        return archive_control_plane(
            params["src"],
            params["dest_dir"],
            params["host"],
            params["stamp"],
            check_mode=check_mode,
            retention=params,  # rules_of() reads its keep_last and keep_days
            warn=warn,
        )
    try:
        rules = rules_of(params)
    except ValueError as exc:
        raise ControlPlaneError(f"{exc}; nothing was pruned") from None
    pruned = apply_rules(params["dest_dir"], rules, check_mode=check_mode, warn=warn)
    if pruned is None:
        return {"changed": False}
    return {"changed": pruned["changed"], "retention": pruned}
