# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""Restore ONE master's etcd data from a snapshot, deleting nothing of the old data.

``/var/lib/etcd`` is often a mount point of its own disk: renaming the directory
itself fails (EBUSY) and a rename to its parent would be a copy. So everything
happens INSIDE the data dir, and the data dir itself is never renamed:

1. refuse while an etcd process runs on the data dir;
2. restore into a fresh staging dir ``<data_dir>/.kubedr-restore-<stamp>/data``
   (a leftover staging dir of the same stamp is ours, from an interrupted run, and
   is removed first); on failure the staging dir goes, ``member/`` is untouched;
3. rename ``<data_dir>/member`` to ``<data_dir>/member.kubedr-<stamp>`` (when there
   is one), rename the restored ``member`` into its place, remove the staging dir;
4. write the marker ``<data_dir>/.kubedr-restored-<stamp>`` (JSON) last.

etcd 3.4 and 3.5 only warn about the extra entries ("found invalid file under data
dir"). A second run with the same stamp finds the marker and does nothing.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import shutil
import time

from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import (
    RESTORE_MARGIN,
    data_dir_need,
    free_space,
    size_text,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    check,
    snapshot_restore_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._files import fsync_dir as _fsync_dir
from ansible_collections.kubedr.etcd.plugins.module_utils._files import remove
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    SnapshotError,
    check_stamp,
    verify_trailer,
    write_json_atomic,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._static_pods import (
    command_line,
    processes,
)

MARKER_FORMAT = "kubedr.etcd/member-restore/v1"
_UTC = _dt.timezone.utc  # noqa: UP017 - datetime.UTC needs Python 3.11


class RestoreError(Exception):
    """A refusal or failure; ``msg`` names the input or state at fault and the fix."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------


def paths(data_dir, stamp):
    """The names this restore uses inside ``data_dir``."""
    return {
        "data_dir": data_dir,
        "member": os.path.join(data_dir, "member"),
        "aside": os.path.join(data_dir, f"member.kubedr-{stamp}"),
        "failed": os.path.join(data_dir, f"member.failed-{stamp}"),
        "staging": os.path.join(data_dir, f".kubedr-restore-{stamp}"),
        "restored": os.path.join(data_dir, f".kubedr-restore-{stamp}", "data"),
        "marker": os.path.join(data_dir, f".kubedr-restored-{stamp}"),
    }


def rollback_commands(names, moved_aside):
    """Shell commands that undo the restore (etcd stopped first)."""
    q = shlex.quote
    commands = [f"mv -T {q(names['member'])} {q(names['failed'])}"]
    if moved_aside:
        commands.append(f"mv -T {q(moved_aside)} {q(names['member'])}")
    commands.append(f"mv -T {q(names['marker'])} {q(names['marker'] + '.rolled-back')}")
    return commands


# --------------------------------------------------------------------------
# A running etcd
# --------------------------------------------------------------------------


def _flag_values(argv, flag):
    """Values of a Go flag given as --flag=V, -flag=V, --flag V or -flag V."""
    values = []
    names = (f"--{flag}", f"-{flag}")
    for index, arg in enumerate(argv):
        if arg in names and index + 1 < len(argv):
            values.append(argv[index + 1])
        else:
            for name in names:
                if arg.startswith(name + "="):
                    values.append(arg[len(name) + 1 :])
    return values


def _environ_value(proc_root, pid, name):
    try:
        with open(os.path.join(proc_root, str(pid), "environ"), "rb") as handle:
            entries = handle.read().split(b"\0")
    except OSError:
        return None
    prefix = name.encode() + b"="
    for entry in entries:
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode("utf-8", "replace")
    return None


def _is_etcd(proc_root, proc):
    if os.path.basename(proc["argv"][0]) == "etcd":
        return True
    try:
        exe = os.readlink(os.path.join(proc_root, str(proc["pid"]), "exe"))
    except OSError:
        return False
    return os.path.basename(exe.replace(" (deleted)", "")) == "etcd"


def _same_dir(candidate, data_dir, cwd):
    if not os.path.isabs(candidate):
        if not cwd:
            return False
        candidate = os.path.join(cwd, candidate)
    candidate = os.path.normpath(candidate)
    return candidate == data_dir or os.path.realpath(candidate) == os.path.realpath(data_dir)


def _identity(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _names_data_dir(proc_root, pid, candidate, data_dir, wanted, cwd):
    """Whether the process's data dir ``candidate`` is ``data_dir``. The candidate is a
    path in the process's own mount namespace: a containerised etcd names its mountPath
    (``/var/lib/etcd``) where this host has the hostPath (``/data/etcd``). So it is
    looked up through ``/proc/<pid>/root`` (or ``/cwd``) and compared by device and
    inode; only when that cannot be read is the path's text compared."""
    base = "root" if os.path.isabs(candidate) else "cwd"
    seen = _identity(os.path.join(proc_root, str(pid), base, candidate.lstrip(os.sep)))
    if seen is not None and wanted is not None:
        return seen == wanted
    return _same_dir(candidate, data_dir, cwd)


def etcd_processes_on(data_dir, proc_root="/proc"):
    """etcd processes whose data dir (``--data-dir`` or ``ETCD_DATA_DIR``) is
    ``data_dir`` - the same directory, as the process sees it (container or not):
    [{'pid', 'command'}]."""
    data_dir = os.path.normpath(data_dir)
    wanted = _identity(data_dir)
    found = []
    for proc in processes(proc_root):
        if not _is_etcd(proc_root, proc):
            continue
        dirs = _flag_values(proc["argv"][1:], "data-dir")
        if not dirs:
            from_env = _environ_value(proc_root, proc["pid"], "ETCD_DATA_DIR")
            dirs = [from_env] if from_env else []
        try:
            cwd = os.readlink(os.path.join(proc_root, str(proc["pid"]), "cwd"))
        except OSError:
            cwd = None
        if any(_names_data_dir(proc_root, proc["pid"], d, data_dir, wanted, cwd) for d in dirs):
            found.append({"pid": proc["pid"], "command": command_line(proc["argv"])})
    return found


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _read_marker(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise RestoreError(
            f"cannot read the restore marker {path} ({exc}); move it away to restore again"
        ) from None
    if not isinstance(data, dict):
        raise RestoreError(f"the restore marker {path} is not a JSON object; move it away")
    return data


def _chown_tree(top, uid, gid):
    os.lchown(top, uid, gid)
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def _check_space(data_dir, snapshot_size):
    free = free_space(data_dir)
    need = data_dir_need(snapshot_size)
    if free < need:
        raise RestoreError(
            f"not enough free space in {data_dir}: {size_text(free)} free, about"
            f" {size_text(need)} needed (the snapshot plus {size_text(RESTORE_MARGIN)});"
            " free some space there; nothing was changed"
        )


def _unchanged(names, record):
    moved = record.get("moved_aside")
    return {
        "changed": False,
        "moved_aside": moved,
        "data_dir": names["data_dir"],
        "member_dir": names["member"],
        "tool": record.get("tool"),
        "version": record.get("version"),
        "bump_revision": record.get("bump_revision"),
        "argv": record.get("argv"),
        "seconds": 0,
        "rollback": rollback_commands(names, moved),
        "marker": names["marker"],
        "notes": [],
        "msg": f"{names['data_dir']} was already restored with this stamp"
        f" ({record.get('snapshot')}, {record.get('time')}); nothing done",
    }


def _data_dir(data_dir):
    if not data_dir or not os.path.isabs(str(data_dir)):
        raise RestoreError(
            f"data_dir={data_dir!r} is not an absolute path; pass the member's data dir on"
            " the host (kubedr_etcd_member.data_dir_host_path)"
        )
    data_dir = os.path.normpath(str(data_dir))
    if os.path.lexists(data_dir) and not os.path.isdir(data_dir):
        raise RestoreError(f"data_dir={data_dir} exists but is not a directory")
    if not os.path.isdir(os.path.dirname(data_dir)):
        raise RestoreError(
            f"data_dir={data_dir}: its parent directory does not exist; check the path"
        )
    return data_dir


def _stamp(stamp):
    try:
        return check_stamp(stamp)
    except ValueError as exc:
        raise RestoreError(str(exc)) from None


def _refuse_running(data_dir, proc_root):
    running = etcd_processes_on(data_dir, proc_root)
    if running:
        pids = ", ".join(str(p["pid"]) for p in running)
        raise RestoreError(
            f"etcd (pid {pids}) still runs on {data_dir}: stop it first (move its manifest"
            " out of /etc/kubernetes/manifests)",
            running=running,
        )


def _refuse_writers(path, proc_root="/proc"):
    """Refuse while a process (a restore tool a killed run left behind) names ``path``
    or a path under it in its command line."""
    busy = [
        p
        for p in processes(proc_root)
        if any(arg == path or arg.startswith(path + os.sep) for arg in p["argv"][1:])
    ]
    if busy:
        pids = ", ".join(str(p["pid"]) for p in busy)
        raise RestoreError(
            f"{path} is still being written by pid {pids} ({command_line(busy[0]['argv'])}),"
            " a step of an interrupted run: wait until it ends, then run again; nothing was"
            " changed"
        )


def _restored_inode(names, staged_record):
    """The inode of the staged member, as the marker (or else ``staged.json``) records
    it; None when neither records one."""
    for record in (_read_json(names["marker"]), staged_record):
        if record and isinstance(record.get("inode"), int):
            return record["inode"]
    return None


def _is_restored(names, staged_record):
    """Whether ``member/`` is the staged restore: the very directory that was staged
    (same inode: a rename keeps it). The marker alone is no proof: a rollback killed
    after it moved the old member back, before it renamed the marker, leaves the marker
    beside the OLD member. Only a marker that records no inode is taken at its word."""
    try:
        inode = os.stat(names["member"]).st_ino
    except OSError:
        return False
    wanted = _restored_inode(names, staged_record)
    if wanted is None:
        return os.path.isfile(names["marker"])
    return inode == wanted


def _refuse_rollback_left_half_done(names, stamp):
    """A marker beside a member/ that is not the restored one: a rollback was killed
    between its renames. Nothing here may take member/ for the restored member."""
    if os.path.isfile(names["marker"]) and os.path.isdir(names["member"]):
        raise RestoreError(
            f"{names['member']} is not the restored member of {stamp} although its marker"
            f" {names['marker']} is there (the marker names another directory): a rollback"
            " was interrupted after it put the old member back. Finish it with"
            " playbooks/restore-rollback.yml; nothing was changed"
        )


def _failed_kept(names):
    """The ``member.failed-<stamp>[.N]`` that is the restored member (by the marker's
    inode), when a killed rollback moved it there already; else None."""
    wanted = _restored_inode(names, None)
    if wanted is None:
        return None
    parent = names["data_dir"]
    prefix = os.path.basename(names["failed"])
    for entry in sorted(os.listdir(parent)):
        if entry == prefix or entry.startswith(prefix + "."):
            path = os.path.join(parent, entry)
            try:
                if os.stat(path).st_ino == wanted:
                    return path
            except OSError:
                continue
    return None


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------
# Stage: restore beside the live member (etcd may run)
# --------------------------------------------------------------------------


def stage(
    *,
    snapshot,
    data_dir,
    name,
    initial_cluster,
    initial_advertise_peer_urls,
    initial_cluster_token,
    stamp,
    tools=None,
    tool=None,
    bump_revision=None,
    etcd_version=None,
    expected_sha256=None,
    timeout=600,
    check_mode=False,
):
    """Restore ``snapshot`` into ``<data_dir>/.kubedr-restore-<stamp>/data/member`` with
    this member's identity, leaving ``member/`` (and a running etcd) alone.

    The snapshot is checked first in one streaming pass: its sha256 trailer, and its
    whole-file sha256 against ``expected_sha256`` (the one the controller verified).
    ``tool`` is the plan's restore tool for this master. A staged restore of the same
    snapshot, member and token (``staged.json`` beside it) is kept: nothing done.

    Returns {'changed', 'staged', 'sha256', 'size', 'tool', 'version', 'bump_revision',
    'argv', 'seconds', 'notes', 'msg'}. Raises RestoreError; ``member/`` is never touched.
    """
    t0 = time.monotonic()
    stamp = _stamp(stamp)
    data_dir = _data_dir(data_dir)
    names = paths(data_dir, stamp)
    staged = os.path.join(names["restored"], "member")
    record_path = os.path.join(names["staging"], "staged.json")

    try:
        trailer = verify_trailer(snapshot)
    except SnapshotError as exc:
        raise RestoreError(f"{exc}; nothing was changed") from None
    if expected_sha256 and trailer["sha256"] != expected_sha256:
        raise RestoreError(
            f"the copy {snapshot} has sha256 {trailer['sha256']}, not {expected_sha256} (the"
            " snapshot the controller verified): the copy is damaged or is another file;"
            " nothing was changed. Run again: the copy is made anew"
        )
    try:
        cmd = snapshot_restore_argv(
            tools,
            snapshot,
            names["restored"],
            name,
            initial_cluster,
            initial_advertise_peer_urls,
            initial_cluster_token,
            bump_revision=bump_revision,
            etcd_version=etcd_version,
            tool=tool,
        )
    except EtcdctlError as exc:
        raise RestoreError(f"{exc.msg}; nothing was changed") from None
    wanted = {
        "sha256": trailer["sha256"],
        "name": name,
        "initial_cluster_token": initial_cluster_token,
        "argv": cmd["argv"],
    }
    base = {
        "staged": staged,
        "sha256": trailer["sha256"],
        "size": trailer["size"],
        "tool": cmd["tool"],
        "version": cmd["version"],
        "bump_revision": cmd["bump_revision"],
        "argv": cmd["argv"],
        "notes": list(cmd["notes"]),
    }
    done = _read_json(record_path)
    if done and {k: done.get(k) for k in wanted} == wanted and os.path.isdir(staged):
        return {
            **base,
            "changed": False,
            "seconds": 0,
            "msg": f"{staged} already holds this snapshot, restored for member {name}",
        }
    if check_mode:
        return {
            **base,
            "changed": True,
            "seconds": 0,
            "msg": f"would restore {snapshot} into {staged} with {cmd['tool']} {cmd['version']}",
        }
    notes = base["notes"]
    try:
        if not os.path.isdir(data_dir):
            os.mkdir(data_dir, 0o700)
            notes.append(f"created {data_dir} (mode 0700)")
        owner = os.stat(data_dir)
        if os.path.lexists(names["staging"]):
            _refuse_writers(names["staging"])
            # the record first: a kill in the middle of the removal must not leave a
            # record without the member it describes
            remove(record_path)
            shutil.rmtree(names["staging"])
            notes.append(f"removed {names['staging']} left by an interrupted run")
        _check_space(data_dir, trailer["size"])
        os.mkdir(names["staging"], 0o700)
    except OSError as exc:
        raise RestoreError(
            f"cannot prepare {names['staging']}: {exc.strerror or exc} (run as root / with"
            f" become); {names['member']} was not touched"
        ) from None
    try:
        check(cmd["argv"], cmd["env"], timeout, what=f"{cmd['tool']} snapshot restore")
        if not os.path.isfile(os.path.join(staged, "snap", "db")):
            raise RestoreError(f"{cmd['tool']} snapshot restore wrote no member/snap/db")
        if os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
            _chown_tree(staged, owner.st_uid, owner.st_gid)
        _fsync_tree(staged)
        write_json_atomic(
            record_path,
            {**wanted, "snapshot": str(snapshot), "stamp": stamp, "inode": os.stat(staged).st_ino},
        )
    except (EtcdctlError, OSError, RestoreError) as exc:
        shutil.rmtree(names["staging"], ignore_errors=True)
        why = exc.msg if isinstance(exc, (EtcdctlError, RestoreError)) else str(exc)
        raise RestoreError(
            f"restoring {snapshot} failed: {why}; {names['member']} was not touched",
            argv=cmd["argv"],
        ) from None
    seconds = round(time.monotonic() - t0, 3)
    return {
        **base,
        "changed": True,
        "seconds": seconds,
        "msg": f"restored {snapshot} into {staged} as member {name} ({seconds} s)",
    }


def _fsync_tree(top):
    """Flush every file and directory the restore wrote: the cut-over renames it in and
    a crash right after must not find it half on disk."""
    for root, _dirs, files in os.walk(top):
        for file_name in files:
            fd = os.open(os.path.join(root, file_name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(root)


# --------------------------------------------------------------------------
# Swap: the staged member in, the old one aside (etcd stopped); and back
# --------------------------------------------------------------------------


def swapped(data_dir, stamp):
    """Whether the staged member of ``stamp`` is in place (its marker is written)."""
    names = paths(_data_dir(data_dir), _stamp(stamp))
    return os.path.isfile(names["marker"]) and _is_restored(names, None)


def swap_in(data_dir, stamp, record=None, check_mode=False, proc_root="/proc"):
    """Rename ``member/`` to ``member.kubedr-<stamp>`` and the staged member into its
    place, then write the marker ``.kubedr-restored-<stamp>`` (``record`` merged in).

    Renames only, inside the data dir. Every state a kill can leave is finished:
    member/ aside but the staged one not yet in (between the renames), the staged one in
    but no marker. Returns {'changed', 'moved_aside', 'marker', 'rollback', 'msg'}.
    """
    stamp = _stamp(stamp)
    data_dir = _data_dir(data_dir)
    names = paths(data_dir, stamp)
    staged = os.path.join(names["restored"], "member")
    if os.path.isfile(names["marker"]) and _is_restored(names, None):
        marker = _read_marker(names["marker"])
        return {
            "changed": False,
            "moved_aside": marker.get("moved_aside"),
            "marker": names["marker"],
            "rollback": rollback_commands(names, marker.get("moved_aside")),
            "msg": f"{names['member']} already holds the restored member of {stamp}",
        }
    _refuse_rollback_left_half_done(names, stamp)
    staged_record = _read_json(os.path.join(names["staging"], "staged.json"))
    if not staged_record:
        raise RestoreError(
            f"{data_dir} has no staged restore of {stamp} ({names['staging']}/staged.json):"
            " stage it first; nothing was changed"
        )
    _refuse_running(data_dir, proc_root)
    member_there = os.path.lexists(names["member"])
    aside_there = os.path.lexists(names["aside"])
    staged_there = os.path.isdir(staged)
    if member_there and not os.path.isdir(names["member"]):
        raise RestoreError(f"{names['member']} is not a directory; look at it and move it away")
    if staged_there and member_there and aside_there:
        raise RestoreError(
            f"{names['aside']} already exists and so does {names['member']}: look at both;"
            " nothing was changed"
        )
    if not staged_there and not (member_there and _is_restored(names, staged_record)):
        raise RestoreError(
            f"the staged restore {staged} is gone (and {names['member']} is not it): stage"
            " it again; nothing was changed"
        )
    moved_aside = names["aside"] if (aside_there or (member_there and staged_there)) else None
    if check_mode:
        return {
            "changed": True,
            "moved_aside": moved_aside,
            "marker": names["marker"],
            "rollback": rollback_commands(names, moved_aside),
            "msg": f"would move {names['member']} aside and {staged} into its place",
        }
    try:
        if staged_there and member_there:
            os.rename(names["member"], names["aside"])
            _fsync_dir(data_dir)
        if staged_there:
            os.rename(staged, names["member"])
            _fsync_dir(data_dir)
    except OSError as exc:
        raise RestoreError(
            f"cannot rename in {data_dir}: {exc.strerror or exc}; run again to finish, or roll back"
        ) from None
    marker = {
        "format": MARKER_FORMAT,
        **{k: v for k, v in staged_record.items() if k != "argv"},
        **(record or {}),
        "argv": staged_record.get("argv"),
        "moved_aside": moved_aside,
        "time": _dt.datetime.now(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_json_atomic(names["marker"], marker)
    shutil.rmtree(names["staging"], ignore_errors=True)
    return {
        "changed": True,
        "moved_aside": moved_aside,
        "marker": names["marker"],
        "rollback": rollback_commands(names, moved_aside),
        "msg": f"the restored member is in {names['member']}"
        + (f"; the old one is in {moved_aside}" if moved_aside else ""),
    }


def swap_out(data_dir, stamp, check_mode=False, proc_root="/proc"):
    """Undo swap_in, whatever part of it happened: the restored member to
    ``member.failed-<stamp>`` (kept), the old member back to ``member/``, the marker to
    ``<marker>.rolled-back``, the staging dir (the run's own) removed.

    Returns {'changed', 'restored', 'failed_kept', 'msg'}.
    """
    stamp = _stamp(stamp)
    data_dir = _data_dir(data_dir)
    names = paths(data_dir, stamp)
    member_there = os.path.lexists(names["member"])
    aside_there = os.path.isdir(names["aside"])
    marker_there = os.path.isfile(names["marker"])
    # the restored member is in member/ when the marker says so, or when member/ is the
    # very directory that was staged (a kill between the rename and the marker)
    restored_in = member_there and _is_restored(
        names, _read_json(os.path.join(names["staging"], "staged.json"))
    )
    steps = []
    if restored_in:
        steps.append(("rename", names["member"], _free_name(names["failed"])))
    if aside_there and (restored_in or not member_there):
        steps.append(("rename", names["aside"], names["member"]))
    if marker_there:
        steps.append(("rename", names["marker"], names["marker"] + ".rolled-back"))
    cleanup = os.path.lexists(names["staging"])
    if not steps and not cleanup:
        return {
            "changed": False,
            "restored": names["member"] if member_there else None,
            "failed_kept": None,
            "msg": f"{data_dir} holds no part of restore {stamp}: nothing to put back",
        }
    kept_before = None if restored_in else _failed_kept(names)
    if check_mode:
        return {
            "changed": True,
            "restored": names["member"] if (aside_there or member_there) else None,
            "failed_kept": steps[0][2] if restored_in else kept_before,
            "msg": "would " + ", ".join(f"move {a} to {b}" for _kind, a, b in steps),
        }
    if steps:
        _refuse_running(data_dir, proc_root)
    for _kind, source, target in steps:
        try:
            os.rename(source, target)
        except OSError as exc:
            raise RestoreError(
                f"cannot move {source} to {target}: {exc.strerror or exc}; run the rollback again"
            ) from None
        _fsync_dir(data_dir)
    if cleanup:
        shutil.rmtree(names["staging"], ignore_errors=True)
    failed = steps[0][2] if restored_in else kept_before
    return {
        "changed": True,
        "restored": names["member"] if os.path.isdir(names["member"]) else None,
        "failed_kept": failed,
        "msg": ", ".join(f"moved {a} to {b}" for _kind, a, b in steps)
        or f"removed the staged restore {names['staging']}",
    }


def _free_name(path):
    """``path``, or ``path.2``, ``path.3``... when it is taken: never overwrite."""
    candidate, number = path, 1
    while os.path.lexists(candidate):
        number += 1
        candidate = f"{path}.{number}"
    return candidate


# --------------------------------------------------------------------------
# The whole restore of one stopped member (module etcd_member_restore)
# --------------------------------------------------------------------------


def restore_member(
    *,
    tools,
    snapshot,
    data_dir,
    name,
    initial_cluster,
    initial_advertise_peer_urls,
    initial_cluster_token,
    stamp,
    bump_revision=None,
    etcd_version=None,
    tool=None,
    timeout=600,
    check_mode=False,
    proc_root="/proc",
):
    """Restore ``snapshot`` into ``data_dir`` as member ``name``: stage, then swap in.

    Returns {'changed', 'moved_aside', 'data_dir', 'member_dir', 'tool', 'version',
    'bump_revision', 'argv', 'seconds', 'rollback', 'marker', 'notes', 'msg'}. Raises
    RestoreError, before anything changed unless the message says otherwise.
    """
    t0 = time.monotonic()
    stamp = _stamp(stamp)
    data_dir = _data_dir(data_dir)
    names = paths(data_dir, stamp)
    if os.path.isfile(names["marker"]) and _is_restored(names, None):
        return _unchanged(names, _read_marker(names["marker"]))
    _refuse_rollback_left_half_done(names, stamp)
    _refuse_running(data_dir, proc_root)
    if (
        os.path.lexists(names["member"])
        and os.path.lexists(names["aside"])
        and not os.path.isfile(os.path.join(names["staging"], "staged.json"))
    ):
        raise RestoreError(
            f"{names['aside']} already exists and so does {names['member']}: a run with"
            f" stamp {stamp} may have been interrupted after it moved the old data aside."
            " Look at both; restore with a new stamp (the current member/ is then moved"
            " aside under that stamp); nothing was changed"
        )
    staged = stage(
        snapshot=snapshot,
        data_dir=data_dir,
        name=name,
        initial_cluster=initial_cluster,
        initial_advertise_peer_urls=initial_advertise_peer_urls,
        initial_cluster_token=initial_cluster_token,
        stamp=stamp,
        tools=tools,
        tool=tool,
        bump_revision=bump_revision,
        etcd_version=etcd_version,
        timeout=timeout,
        check_mode=check_mode,
    )
    base = {
        "data_dir": data_dir,
        "member_dir": names["member"],
        "tool": staged["tool"],
        "version": staged["version"],
        "bump_revision": staged["bump_revision"],
        "argv": staged["argv"],
        "marker": names["marker"],
        "notes": staged["notes"],
    }
    member_present = os.path.lexists(names["member"])
    if check_mode:
        moved_aside = names["aside"] if member_present or os.path.isdir(names["aside"]) else None
        steps = [f"restore {snapshot} with {staged['tool']} {staged['version']}"]
        if member_present:
            steps.append(f"move {names['member']} to {names['aside']}")
        steps.append(f"put the restored member/ in {names['member']}")
        return {
            **base,
            "changed": True,
            "moved_aside": moved_aside,
            "rollback": rollback_commands(names, moved_aside),
            "seconds": 0,
            "msg": "would " + ", ".join(steps),
        }
    try:
        swap = swap_in(
            data_dir,
            stamp,
            record={"snapshot": str(snapshot), "size": staged["size"], "tool": staged["tool"]}
            | {"version": staged["version"], "bump_revision": staged["bump_revision"]},
            proc_root=proc_root,
        )
    except OSError as exc:
        raise RestoreError(
            f"restored {snapshot} into {names['member']}, but cannot write the marker"
            f" {names['marker']}: {exc.strerror or exc}. The restore itself is complete, but"
            " without the marker a new run with this stamp does not know it: do not run it"
            " again; write the marker or move on",
        ) from None
    seconds = round(time.monotonic() - t0, 3)
    moved_aside = swap["moved_aside"]
    return {
        **base,
        "changed": True,
        "moved_aside": moved_aside,
        "rollback": swap["rollback"],
        "seconds": seconds,
        "msg": f"restored {snapshot} into {names['member']} as member {name}"
        + (f"; the old data is in {moved_aside}" if moved_aside else "")
        + f" ({seconds} s)",
    }
