# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on backup hosts, drill hosts and the
# controller, inside modules and in the scheduled drill script.
"""Which stored backup a run takes: one named, or the newest complete ones.

A backup is complete when its metadata record lies beside its snapshot, plain or
encrypted (backup.yml writes the record last); the newest is the one whose name carries
the latest time (see _retention.scan). restore-ha's ``latest`` (on the controller or on a
backup host), the drill and the scheduled drill all choose here.
"""

from __future__ import annotations

import os

from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure
from ansible_collections.kubedr.etcd.plugins.module_utils._retention import scan
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import ENCRYPTED_SUFFIX

LATEST = "latest"
_LISTED = 10  # complete backups named in an error, newest first


class NoSuchBackup(TaskFailure):
    """The backup asked for is not there, or there is none at all."""


def _names(complete):
    names = [b["name"] for b in complete[:_LISTED]]
    more = len(complete) - len(names)
    return ", ".join(names) + (f" and {more} older" if more > 0 else "") if names else "none"


def choose(backup_dir, snapshot=LATEST, last=1):
    """The complete backups in ``backup_dir`` a run takes, newest first: the one named by
    ``snapshot`` (a file name - also of its record or of its encrypted file; a path counts
    by its last part), or with ``latest`` (or
    nothing) the newest ``last``. Each is a _retention.scan entry. Raises NoSuchBackup
    naming the directory and the complete backups there."""
    try:
        complete = [b for b in scan(backup_dir) if b["has_metadata"]]
    except OSError as exc:  # a missing directory is no error: it holds no backup
        raise NoSuchBackup(
            f"cannot read the backups in {backup_dir}: {exc.strerror or exc}", dir=backup_dir
        ) from None
    if snapshot and snapshot != LATEST:
        name = os.path.basename(snapshot.rstrip("/"))
        for suffix in (".json", ENCRYPTED_SUFFIX):  # the record's or the encrypted file's name
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        named = [b for b in complete if b["name"] == name]
        if not named:
            raise NoSuchBackup(
                f"no complete backup {name} in {backup_dir} (complete there, newest first:"
                f" {_names(complete)})",
                dir=backup_dir,
            )
        return named
    if not complete:
        raise NoSuchBackup(f"no complete backup in {backup_dir}", dir=backup_dir)
    return complete[: max(1, int(last))]


def described(backup):
    """What a module returns of a chosen backup (a _retention.scan entry): its name and
    where its files are. ``snapshot`` is the path by the plain name, as the restore and
    etcd_backup_decrypt take it, also when only the encrypted file is stored."""
    return {
        "name": backup["name"],
        "snapshot": os.path.join(os.path.dirname(backup["path"]), backup["name"]),
        "files": sorted(backup["files"]),
        "metadata_file": backup["metadata_path"],
        "size": backup["size"],
    }


def find(backup_dir, snapshot=LATEST, last=1):
    """etcd_backup_find's result: the chosen backups, described, newest first."""
    backups = [described(b) for b in choose(backup_dir, snapshot, last)]
    return {"changed": False, "backup": backups[0], "backups": backups}
