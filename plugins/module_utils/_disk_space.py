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
- A backup's destination holds the new snapshot and, for its trial restore, a restored
  copy with its WAL: ``size + HEADROOM`` plus ``size + WAL_SEGMENT`` (``backup_need``).
- A backup fetched with become is first copied, file by file, into the connection user's
  temporary directory on the master (often on etcd's file system): each copy needs
  ``file size + COPY_MARGIN`` there, and is removed once on the controller
  (``become_copy_problem``).
- A drill's scratch directory holds a restored copy with its WAL and room for etcd to
  start: the data dir's need, ``size + RESTORE_MARGIN``.

When the snapshot directory sits on the data dir's file system (the default: both under
/var/lib), the copy and the staged restore share its free space and the plan asks for
the sum (``shared_need``). The restore plan checks both from the pre-flight's free space
and whether the two share a file system, and the stage step checks the data dir again
just before it restores (the copy is there by then, its room taken already).
docs/restore.md, docs/drill.md and the etcd_snapshot module's documentation state the
same.
"""

from __future__ import annotations

import os

MIB = 1024 * 1024
WAL_SEGMENT = 64 * MIB  # a restore preallocates one WAL segment
HEADROOM = 16 * MIB
RESTORE_MARGIN = WAL_SEGMENT + HEADROOM
COPY_MARGIN = HEADROOM


def data_dir_need(snapshot_size):
    """Bytes the data dir's file system needs free to stage a restore of this snapshot."""
    return int(snapshot_size) + RESTORE_MARGIN


def snapshot_dir_need(snapshot_size):
    """Bytes the snapshot directory needs free for the run's copy of the snapshot."""
    return int(snapshot_size) + COPY_MARGIN


def backup_need(snapshot_size, trial_restore):
    """Bytes a backup's destination needs free: the snapshot, plus the trial restore's
    copy and WAL."""
    need = int(snapshot_size) + HEADROOM
    if trial_restore:
        need += int(snapshot_size) + WAL_SEGMENT
    return need


def shared_need(snapshot_size):
    """Bytes one file system needs free when it holds both the run's copy of the snapshot
    and the staged restore."""
    return data_dir_need(snapshot_size) + snapshot_dir_need(snapshot_size)


def become_copy_need(file_size):
    """Bytes the connection user's temporary directory needs free for one become copy."""
    return int(file_size) + COPY_MARGIN


def become_copy_problem(host, source, tmpdir, file_size, free):
    """None when ``tmpdir`` has room for a copy of ``source`` (``file_size`` bytes, with
    ``free`` bytes free there), else the refusal naming the host, the sizes and the fix."""
    need = become_copy_need(file_size)
    if free >= need:
        return None
    return (
        f"{host}: not enough free space in {tmpdir} to copy {source} there for the transfer"
        f" with become: {size_text(free)} free, {size_text(need)} needed (the file and"
        f" {size_text(COPY_MARGIN)}); nothing was copied. Free space there, or set"
        " remote_tmp (ansible_remote_tmp) to a directory of the connection user on a file"
        " system with room, or connect as a user that can read the backup without become"
    )


def _nearest_existing(path):
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return probe or "/"


def free_space(path):
    """Free bytes for root-owned writes under ``path``, or under its nearest existing
    parent when it does not exist yet."""
    info = os.statvfs(_nearest_existing(path))
    return info.f_bavail * info.f_frsize


def one_file_system(path, other):
    """Whether files under ``path`` and under ``other`` (or under their nearest existing
    parents) take their room from one file system."""
    return os.stat(_nearest_existing(path)).st_dev == os.stat(_nearest_existing(other)).st_dev


def mib(nbytes):
    """1572864 -> '1.5 MiB' (one decimal, always MiB: what the free-space messages say)."""
    return f"{nbytes / MIB:.1f} MiB"


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
