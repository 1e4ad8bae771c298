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

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    check,
    snapshot_restore_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._files import fsync_dir as _fsync_dir
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    SnapshotError,
    check_stamp,
    verify_trailer,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._static_pods import (
    command_line,
    processes,
)

MARKER_FORMAT = "kubedr.etcd/member-restore/v1"
# beyond the snapshot: the WAL etcd preallocates (64 MiB) and some room
SPACE_MARGIN = 80 * 1024 * 1024
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


def etcd_processes_on(data_dir, proc_root="/proc"):
    """etcd processes whose data dir (``--data-dir`` or ``ETCD_DATA_DIR``) is
    ``data_dir``: [{'pid', 'command'}]."""
    data_dir = os.path.normpath(data_dir)
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
        if any(_same_dir(d, data_dir, cwd) for d in dirs):
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


def _write_marker(path, record):
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(os.path.dirname(path))


def _chown_tree(top, uid, gid):
    os.lchown(top, uid, gid)
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def _mib(size):
    return f"{size / (1024 * 1024):.1f} MiB"


def _check_space(data_dir, snapshot_size):
    info = os.statvfs(data_dir)
    free = info.f_bavail * info.f_frsize
    need = snapshot_size + SPACE_MARGIN
    if free < need:
        raise RestoreError(
            f"not enough free space in {data_dir}: {_mib(free)} free, about {_mib(need)}"
            " needed (the snapshot plus 80 MiB); free some space there; nothing was changed"
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


# --------------------------------------------------------------------------
# The restore
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
    timeout=600,
    check_mode=False,
    proc_root="/proc",
):
    """Restore ``snapshot`` into ``data_dir`` as member ``name``; see the module docstring.

    Returns {'changed', 'moved_aside', 'data_dir', 'member_dir', 'tool', 'version',
    'bump_revision', 'argv', 'seconds', 'rollback', 'marker', 'notes', 'msg'}. Raises
    RestoreError, before anything changed unless the message says otherwise.
    """
    t0 = time.monotonic()
    try:
        stamp = check_stamp(stamp)
    except ValueError as exc:
        raise RestoreError(str(exc)) from None
    if not data_dir or not os.path.isabs(str(data_dir)):
        raise RestoreError(
            f"data_dir={data_dir!r} is not an absolute path; pass the member's data dir on"
            " the host (kubedr_etcd_member.data_dir_host_path)"
        )
    data_dir = os.path.normpath(str(data_dir))
    names = paths(data_dir, stamp)
    notes = []

    if os.path.lexists(data_dir) and not os.path.isdir(data_dir):
        raise RestoreError(f"data_dir={data_dir} exists but is not a directory")
    if not os.path.isdir(os.path.dirname(data_dir)):
        raise RestoreError(
            f"data_dir={data_dir}: its parent directory does not exist; check the path"
        )
    if os.path.isdir(names["member"]) and os.path.isfile(names["marker"]):
        return _unchanged(names, _read_marker(names["marker"]))

    running = etcd_processes_on(data_dir, proc_root)
    if running:
        pids = ", ".join(str(p["pid"]) for p in running)
        raise RestoreError(
            f"etcd (pid {pids}) still runs on {data_dir}: stop it first (move its manifest"
            " out of /etc/kubernetes/manifests)",
            running=running,
        )

    try:
        trailer = verify_trailer(snapshot)
    except SnapshotError as exc:
        raise RestoreError(f"{exc}; nothing was changed") from None

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
        )
    except EtcdctlError as exc:
        raise RestoreError(f"{exc.msg}; nothing was changed") from None
    notes += cmd["notes"]

    member_present = os.path.lexists(names["member"])
    if member_present and not os.path.isdir(names["member"]):
        raise RestoreError(f"{names['member']} is not a directory; look at it and move it away")
    if member_present and os.path.lexists(names["aside"]):
        raise RestoreError(
            f"{names['aside']} already exists and so does {names['member']}: a run with"
            f" stamp {stamp} may have been interrupted after it moved the old data aside."
            " Look at both; restore with a new stamp (the current member/ is then moved"
            " aside under that stamp); nothing was changed"
        )
    if os.path.isdir(data_dir):
        _check_space(data_dir, trailer["size"])

    moved_aside = names["aside"] if member_present else None
    if not member_present and os.path.isdir(names["aside"]):
        moved_aside = names["aside"]  # moved aside by an interrupted run of this stamp
    base = {
        "data_dir": data_dir,
        "member_dir": names["member"],
        "tool": cmd["tool"],
        "version": cmd["version"],
        "bump_revision": cmd["bump_revision"],
        "argv": cmd["argv"],
        "marker": names["marker"],
        "rollback": rollback_commands(names, moved_aside),
    }
    if check_mode:
        steps = [f"restore {snapshot} with {cmd['tool']} {cmd['version']}"]
        if member_present:
            steps.append(f"move {names['member']} to {names['aside']}")
        steps.append(f"put the restored member/ in {names['member']}")
        return {
            **base,
            "changed": True,
            "moved_aside": moved_aside,
            "seconds": 0,
            "notes": notes,
            "msg": "would " + ", ".join(steps),
        }

    try:
        if not os.path.isdir(data_dir):
            os.mkdir(data_dir, 0o700)
            notes.append(f"created {data_dir} (mode 0700)")
            _check_space(data_dir, trailer["size"])
        owner = os.stat(data_dir)
        if os.path.lexists(names["staging"]):
            shutil.rmtree(names["staging"])
            notes.append(f"removed {names['staging']} left by an interrupted run")
        os.mkdir(names["staging"], 0o700)
    except OSError as exc:
        raise RestoreError(
            f"cannot prepare {names['staging']}: {exc.strerror or exc} (run as root / with"
            f" become); {names['member']} was not touched"
        ) from None
    try:
        check(cmd["argv"], cmd["env"], timeout, what=f"{cmd['tool']} snapshot restore")
        if not os.path.isfile(os.path.join(names["restored"], "member", "snap", "db")):
            raise RestoreError(f"{cmd['tool']} snapshot restore wrote no member/snap/db")
        if os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
            _chown_tree(os.path.join(names["restored"], "member"), owner.st_uid, owner.st_gid)
    except (EtcdctlError, OSError, RestoreError) as exc:
        shutil.rmtree(names["staging"], ignore_errors=True)
        why = exc.msg if isinstance(exc, (EtcdctlError, RestoreError)) else str(exc)
        raise RestoreError(
            f"restoring {snapshot} failed: {why}; {names['member']} was not touched",
            argv=cmd["argv"],
        ) from None

    if member_present:
        try:
            os.rename(names["member"], names["aside"])
        except OSError as exc:
            shutil.rmtree(names["staging"], ignore_errors=True)
            raise RestoreError(
                f"cannot move {names['member']} to {names['aside']}: {exc.strerror or exc};"
                " nothing was changed"
            ) from None
    try:
        os.rename(os.path.join(names["restored"], "member"), names["member"])
    except OSError as exc:
        if member_present:
            os.rename(names["aside"], names["member"])
        raise RestoreError(
            f"cannot move the restored member/ into {data_dir}: {exc.strerror or exc};"
            f" {names['member']} is as before, the restore is in {names['restored']}"
        ) from None
    _fsync_dir(data_dir)
    shutil.rmtree(names["staging"], ignore_errors=True)

    record = {
        "format": MARKER_FORMAT,
        "stamp": stamp,
        "snapshot": str(snapshot),
        "sha256": trailer["sha256"],
        "size": trailer["size"],
        "name": name,
        "initial_cluster": cmd["argv"][cmd["argv"].index("--initial-cluster") + 1],
        "initial_cluster_token": initial_cluster_token,
        "tool": cmd["tool"],
        "version": cmd["version"],
        "bump_revision": cmd["bump_revision"],
        "argv": cmd["argv"],
        "moved_aside": moved_aside,
        "time": _dt.datetime.now(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    try:
        _write_marker(names["marker"], record)
    except OSError as exc:
        raise RestoreError(
            f"restored {snapshot} into {names['member']}"
            + (f" (the old data is in {moved_aside})" if moved_aside else "")
            + f", but cannot write the marker {names['marker']}: {exc.strerror or exc}."
            " The restore itself is complete, but without the marker a new run with this"
            " stamp does not know it: do not run it again; write the marker or move on",
            moved_aside=moved_aside,
            rollback=base["rollback"],
        ) from None
    seconds = round(time.monotonic() - t0, 3)
    return {
        **base,
        "changed": True,
        "moved_aside": moved_aside,
        "seconds": seconds,
        "notes": notes,
        "msg": f"restored {snapshot} into {names['member']} as member {name}"
        + (f"; the old data is in {moved_aside}" if moved_aside else "")
        + f" ({seconds} s)",
    }
