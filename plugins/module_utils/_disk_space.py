# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters and on the controller.
"""How much room a restore needs on a master: the one place the margins are decided.

- The data dir's file system holds the staged restore beside the live member until the
  cut-over renames them: the restored ``db`` (about the snapshot's size) plus the WAL
  the restore writes (etcd preallocates 64 MiB) and some room for etcd to start:
  ``snapshot size + RESTORE_MARGIN``. The old member is moved aside by a rename, so it
  takes no new room.
- The snapshot directory holds the run's copy of the snapshot:
  ``snapshot size + COPY_MARGIN``.

The restore plan checks both from the pre-flight's free space, and the stage step
checks the data dir again just before it restores. docs/restore.md states the same.
"""

from __future__ import annotations

import os

MIB = 1024 * 1024
RESTORE_MARGIN = 80 * MIB
COPY_MARGIN = 16 * MIB


def data_dir_need(snapshot_size):
    """Bytes the data dir's file system needs free to stage a restore of this snapshot."""
    return int(snapshot_size) + RESTORE_MARGIN


def snapshot_dir_need(snapshot_size):
    """Bytes the snapshot directory needs free for the run's copy of the snapshot."""
    return int(snapshot_size) + COPY_MARGIN


def free_space(path):
    """Free bytes for root-owned writes under ``path``, or under its nearest existing
    parent when it does not exist yet."""
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    info = os.statvfs(probe or "/")
    return info.f_bavail * info.f_frsize


def size_text(nbytes):
    """1536 -> '1.5 KiB'; whole numbers without decimals."""
    value = float(nbytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            break
        value /= 1024
    if unit == "bytes":
        return f"{int(nbytes)} bytes"
    return f"{value:.1f} {unit}".replace(".0 ", " ")
