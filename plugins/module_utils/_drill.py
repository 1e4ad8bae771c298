# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on drill hosts, inside the etcd_drill
# module.
"""A restore drill: prove that a stored backup restores into the data it recorded.

``drill`` takes one backup from a backup directory and, on this host only:

1. cleans up what an earlier drill that was killed left behind (its scratch directory
   and the etcd it started, recognised by the marker file in the scratch directory
   and the scratch path on that etcd's command line; nothing else);
2. makes a scratch directory (mode 0700) beside the others, with a marker;
3. decrypts an encrypted backup into the scratch directory;
4. restores it WITHOUT --bump-revision (so revisions, and hashkv, stay comparable)
   into a data directory in the scratch directory, as a one-member cluster, while a
   thread checks the stored copy against its record (sha256 trailer, size, sha256);
5. starts that etcd on unix sockets in the scratch directory (no TCP port: every Secret
   of the backup is in it), and waits until it answers;
6. takes the fingerprint (``_fingerprint``) at the recorded revision and compares it
   with the one recorded at backup time;
7. stops that etcd and removes the scratch directory.

Whatever happens, the result - pass or fail, with the reason - is written beside the
backup as ``<snapshot>.drill.json`` (``_metrics.drill_path``) and returned; the
stored backup files are only read. The live cluster is never contacted.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.etcd.plugins.module_utils._age import (
    AgeError,
    decrypt_file,
    find_age,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._backup_choice import (
    LATEST,
    NoSuchBackup,
    choose,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import (
    data_dir_need,
    free_space,
    mib,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_tools import (
    parse_tool_version,
    version_tuple,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    check,
    client_env,
    run,
    snapshot_restore_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._files import write_text_atomic
from ansible_collections.kubedr.etcd.plugins.module_utils._find_tools import (
    ToolError,
    locate,
    where,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._fingerprint import (
    FingerprintError,
    compare,
    count_keys,
    take_like,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import (
    DRILL_FORMAT,
    drill_path,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    SnapshotError,
    backup_files,
    compare_with_metadata,
    load_metadata,
    write_json_atomic,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    verify_trailer as _verify_trailer,
)

SCRATCH_PREFIX = ".kubedr-drill-"
MARKER = "kubedr-drill.json"  # in every scratch directory a drill makes
MEMBER = "kubedr-drill"
_ETCD_VERSION = re.compile(r"^etcd Version:\s*(\S+)", re.M)
_UTC = _dt.timezone.utc  # noqa: UP017 - Python 3.9 on drill hosts


class DrillFailed(Exception):
    """The drill failed; the message is the reason recorded."""


# --------------------------------------------------------------------------
# Choosing the backup
# --------------------------------------------------------------------------


def choose_backups(backup_dir, snapshot=None, last=1):
    """The complete backups to drill, newest first (_backup_choice.choose). Raises
    DrillFailed."""
    try:
        return choose(backup_dir, snapshot or LATEST, last)
    except NoSuchBackup as exc:
        raise DrillFailed(f"{exc}: nothing to drill") from None


# --------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------


def _find(name, configured):
    try:
        return locate(name, configured)
    except ToolError:
        raise DrillFailed(f"{name} {configured} does not exist or is not executable") from None


def find_tools(etcd=None, etcdctl=None, etcdutl=None, timeout=30):
    """{'etcd', 'etcdctl', 'etcdutl' (or None): {'path', 'version'}} on this host.
    Raises DrillFailed naming what is missing."""
    found = {}
    for name, configured in (("etcd", etcd), ("etcdctl", etcdctl), ("etcdutl", etcdutl)):
        path = _find(name, configured)
        if not path:
            found[name] = None
            continue
        argv = [path, "--version"] if name == "etcd" else [path, "version"]
        try:
            rc, out, err = run(argv, env={"ETCDCTL_API": "3"}, timeout=timeout)
        except EtcdctlError as exc:
            raise DrillFailed(f"{name} at {path} does not run: {exc}") from None
        if name == "etcd":
            match = _ETCD_VERSION.search(out)
            version = match.group(1) if match and rc == 0 else None
        else:
            try:
                version = parse_tool_version(out, name) if rc == 0 else None
            except ValueError:
                version = None
        if not version:
            raise DrillFailed(f"{name} at {path} printed no version: {(err or out).strip()[:200]}")
        found[name] = {"path": path, "version": version}
    missing = [name for name in ("etcd", "etcdctl") if not found[name]]
    if missing:
        raise DrillFailed(
            f"{' and '.join(missing)} not found on this drill host (looked in {where()}):"
            " install the etcd release of the backup, or give their paths"
        )
    return found


def check_tools_fit(tools, backup_version):
    """The etcd server must be as new as the backup's etcd (same or later minor)."""
    if not backup_version:
        return
    have, need = version_tuple(tools["etcd"]["version"]), version_tuple(backup_version)
    if have[:2] < need[:2]:
        raise DrillFailed(
            f"etcd {tools['etcd']['version']} on this drill host is older than the backup's"
            f" etcd {backup_version}: a drill needs etcd {need[0]}.{need[1]} or newer"
        )
    if need[:2] >= (3, 5) and not tools.get("etcdutl") and have[:2] >= (3, 6):
        raise DrillFailed("etcdutl is needed to restore with etcd 3.6+, and was not found")


# --------------------------------------------------------------------------
# Scratch directories and what an earlier, killed drill left
# --------------------------------------------------------------------------


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def _ours(pid, scratch):
    """Whether process ``pid`` runs with the scratch directory on its command line."""
    needle = os.fsencode(scratch)
    return any(needle in arg for arg in _cmdline(pid))


def clean_leftovers(scratch_parent):
    """Remove what killed drills left in ``scratch_parent``: each scratch directory with a
    drill marker whose drill process is gone, after stopping the etcd it started (only
    when that process still has the scratch directory on its command line). Returns the
    paths removed."""
    removed = []
    try:
        entries = list(os.scandir(scratch_parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            with open(os.path.join(entry.path, MARKER), encoding="utf-8") as handle:
                marker = json.load(handle)
        except (OSError, ValueError):
            continue  # not made by a drill: not ours to remove
        drill_pid = marker.get("pid")
        if (
            isinstance(drill_pid, int)
            and drill_pid != os.getpid()
            and marker.get("boot_id") == _boot_id()
            and _alive(drill_pid)
        ):
            continue  # that drill still runs: its directory is not a leftover
        etcd_pid = marker.get("etcd_pid")
        if isinstance(etcd_pid, int) and _alive(etcd_pid) and _ours(etcd_pid, entry.path):
            _stop(etcd_pid)
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    return removed


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _write_marker(scratch, **fields):
    data = {"pid": os.getpid(), "boot_id": _boot_id(), **fields}
    write_text_atomic(os.path.join(scratch, MARKER), json.dumps(data))


def _stop(pid, grace=10):
    """SIGTERM the process group of ``pid`` (a session leader we started), SIGKILL after
    ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


# --------------------------------------------------------------------------
# Where the drill's etcd listens: unix sockets in the 0700 scratch directory
# --------------------------------------------------------------------------

# etcd takes a unix listen URL's host as a path relative to its working directory (the
# scratch directory); the client reaches it by its absolute path.
SOCKETS = {"client": "localhost:2379", "peer": "localhost:2380"}
_SUN_PATH_MAX = 107  # bytes of a unix socket path, without its terminating NUL


def socket_urls(scratch):
    """{'client': 'unix:///<scratch>/localhost:2379' (for etcdctl and the gateway),
    'listen_client', 'peer': 'unix://localhost:N' (for etcd, run in ``scratch``)}. Raises
    DrillFailed when the socket path is longer than a unix socket path can be."""
    longest = max(os.path.join(scratch, name) for name in SOCKETS.values())
    if len(os.fsencode(longest)) > _SUN_PATH_MAX:
        raise DrillFailed(
            f"the scratch directory {scratch} is too long a path for the drill's unix"
            f" sockets ({len(os.fsencode(longest))} bytes, at most {_SUN_PATH_MAX}): choose a"
            " shorter etcd_drill_scratch_dir"
        )
    return {
        "client": "unix://" + os.path.join(scratch, SOCKETS["client"]),
        "listen_client": "unix://" + SOCKETS["client"],
        "peer": "unix://" + SOCKETS["peer"],
    }


def check_scratch_parent(path):
    """Refuse a scratch parent another user could change under the drill: it must be a
    real directory (not a symlink), owned by this user or root, and not writable by
    others unless sticky (as /tmp). Raises DrillFailed naming the fix."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise DrillFailed(
            f"cannot read the scratch directory {path}: {exc.strerror or exc}"
        ) from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise DrillFailed(
            f"the scratch directory {path} is not a directory (a symlink or a file): remove it"
            " or choose another etcd_drill_scratch_dir"
        )
    if st.st_uid not in (os.geteuid(), 0):
        raise DrillFailed(
            f"the scratch directory {path} is owned by uid {st.st_uid}, not by uid"
            f" {os.geteuid()} that runs the drill or root: chown {os.geteuid()} {path}"
            " (after checking what is in it) or choose another etcd_drill_scratch_dir"
        )
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise DrillFailed(
            f"the scratch directory {path} is writable by other users (mode"
            f" {stat.S_IMODE(st.st_mode):04o}) without the sticky bit: chmod 0700 {path}"
        )


# --------------------------------------------------------------------------
# The drill
# --------------------------------------------------------------------------


def _iso(epoch):
    return _dt.datetime.fromtimestamp(epoch, _UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created_epoch(record):
    try:
        return (
            _dt.datetime.strptime(record["created"], "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=_UTC)
            .timestamp()
        )
    except (KeyError, TypeError, ValueError):
        return None


def _plain_snapshot(backup_dir, record, scratch, age, identity_files, steps):
    """The plain snapshot to restore: the stored file, or its decrypted copy in the
    scratch directory. Checked by ``_check_stored`` while it is restored."""
    part = next(p for p in backup_files(record) if p["kind"] == "snapshot")
    stored = os.path.join(backup_dir, part["stored"]["file"])
    if not part["encrypted"]:
        return stored
    if not identity_files:
        raise DrillFailed(
            f"{part['stored']['file']} is encrypted: give the drill an age identity file"
        )
    t0 = time.monotonic()
    plain = os.path.join(scratch, part["plain"]["file"])
    try:
        decrypt_file(find_age(age), stored, identity_files, plain)
    except AgeError as exc:
        raise DrillFailed(f"cannot decrypt {stored}: {exc}") from None
    steps["decrypt"] = round(time.monotonic() - t0, 3)
    return plain


def _check_stored(plain, record, steps):
    """Check the plain snapshot against its record (sha256 trailer, size, sha256)."""
    t0 = time.monotonic()
    try:
        verified = _verify_trailer(plain)
    except SnapshotError as exc:
        raise DrillFailed(f"the stored copy is damaged: {exc}") from None
    problems = compare_with_metadata(verified, record)
    if problems:
        raise DrillFailed(
            f"the stored copy {plain} does not match its record: {'; '.join(problems)}"
        )
    steps["verify"] = round(time.monotonic() - t0, 3)


def _start_etcd(tools, data_dir, client, peer, log_path, cwd):
    argv = [
        tools["etcd"]["path"],
        f"--name={MEMBER}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={MEMBER}={peer}",
        "--initial-cluster-state=new",
    ]
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            cwd=cwd,
        )


def _log_tail(path, limit=600):
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if '"level":"info"' not in line]
    return " | ".join(lines)[-limit:]


def _wait_ready(tools, env, proc, timeout, log_path):
    deadline = time.monotonic() + timeout
    argv = [tools["etcdctl"]["path"], "endpoint", "health"]
    while True:
        if proc.poll() is not None:
            raise DrillFailed(
                f"the drill's etcd exited (rc={proc.returncode}) before it answered:"
                f" {_log_tail(log_path)}"
            )
        try:
            rc, _out, _err = run(argv, env=env, timeout=10)
        except EtcdctlError:
            rc = 1
        if rc == 0:
            return
        if time.monotonic() > deadline:
            raise DrillFailed(
                f"the drill's etcd did not answer within {timeout} s: {_log_tail(log_path)}"
            )
        time.sleep(0.2)


def _restore_and_compare(backup, record, scratch, tools, timeout, plain, steps):
    fingerprint = record.get("fingerprint")
    if not isinstance(fingerprint, dict) or "hashkv" not in fingerprint:
        why = (fingerprint or {}).get("error") if isinstance(fingerprint, dict) else None
        raise DrillFailed(
            f"{backup['name']} has no fingerprint to compare with"
            + (f" ({why})" if why else " (made before kubedr.etcd 0.2)")
        )
    size = record["snapshot"]["size"]
    need = data_dir_need(size)
    free = free_space(scratch)
    if free < need:
        raise DrillFailed(
            f"not enough free space for the drill in {os.path.dirname(scratch)}:"
            f" {mib(free)} free, about {mib(need)} needed (snapshot {mib(size)} and a WAL)"
        )
    urls = socket_urls(scratch)
    client, peer = urls["client"], urls["peer"]
    data_dir = os.path.join(scratch, "data")
    # The stored copy is checked against its record in a thread while it is restored
    # (both read the same file); a damaged copy is the reason given, whatever the restore
    # said about it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        checking = pool.submit(_check_stored, plain, record, steps)
        t0 = time.monotonic()
        cmd = snapshot_restore_argv(
            {"etcdctl": tools["etcdctl"], "etcdutl": tools.get("etcdutl")},
            plain,
            data_dir,
            MEMBER,
            f"{MEMBER}={peer}",
            [peer],
            f"{MEMBER}-{os.getpid()}",
            etcd_version=record.get("etcd", {}).get("version") or tools["etcd"]["version"],
        )
        try:
            check(cmd["argv"], cmd["env"], timeout, "restore into the drill's scratch directory")
            restore_error = None
        except EtcdctlError as exc:
            restore_error = exc
        restored_in = round(time.monotonic() - t0, 3)
        checking.result()
    if restore_error:
        hint = "; the scratch disk is full" if "no space left" in str(restore_error).lower() else ""
        raise DrillFailed(f"{restore_error}{hint}")
    steps["restore"] = restored_in
    if plain.startswith(scratch + os.sep):
        os.unlink(plain)  # the decrypted copy is not needed any more
    log_path = os.path.join(scratch, "etcd.log")
    t0 = time.monotonic()
    proc = _start_etcd(tools, data_dir, urls["listen_client"], peer, log_path, scratch)
    try:
        _write_marker(scratch, etcd_pid=proc.pid)
        env = client_env([client], None, None, None, dial_timeout="2s", command_timeout="30s")
        _wait_ready(tools, env, proc, timeout, log_path)
        steps["start"] = round(time.monotonic() - t0, 3)
        t0 = time.monotonic()
        try:
            found = take_like(tools["etcdctl"], env, client, fingerprint, timeout)
            if found["revision"] == 0:  # an empty store: the restored copy must hold no key
                found["keys"] = count_keys(tools["etcdctl"], env, 0, timeout)
                found["total_keys"] = sum(found["keys"].values())
        except EtcdctlError as exc:
            raise DrillFailed(f"the restored copy: {exc}") from None
        except FingerprintError as exc:
            raise DrillFailed(f"the restored copy: {exc}") from None
        steps["fingerprint"] = round(time.monotonic() - t0, 3)
    finally:
        t0 = time.monotonic()
        _stop(proc.pid)
        proc.wait()
        steps["stop"] = round(time.monotonic() - t0, 3)
    return found, compare(fingerprint, found), client


def drill(
    backup_dir,
    *,
    snapshot=None,
    scratch_parent=None,
    tools=None,
    timeout=300,
    age="age",
    identity_files=(),
    host=None,
    write_record=True,
):
    """Drill one backup (``snapshot``: a file name, else the newest). Never raises for a
    failed drill: returns the record, {'format', 'backup', 'backup_created_epoch',
    'drill_host', 'started', 'finished', 'finished_epoch', 'duration_seconds', 'result'
    ('pass' or 'fail'), 'reason', 'recorded', 'found', 'etcd_version', 'steps',
    'cleaned'}, also written beside the backup (``write_record``). ``tools``: paths as
    {'etcd', 'etcdctl', 'etcdutl'} (None: searched). Raises DrillFailed only when there is
    no backup to drill (nothing to write a record beside)."""
    (backup,) = choose_backups(backup_dir, snapshot, 1)
    started = time.time()
    t_start = time.monotonic()
    steps = {}
    record_path = drill_path(os.path.join(backup_dir, backup["name"]))
    result = {
        "format": DRILL_FORMAT,
        "backup": backup["name"],
        "backup_created_epoch": None,
        "drill_host": host or socket.gethostname(),
        "started": _iso(started),
        "result": "fail",
        "reason": None,
        "recorded": None,
        "found": None,
        "etcd_version": None,
        "steps": steps,
        "cleaned": [],
    }
    scratch_parent = scratch_parent or tempfile.gettempdir()
    scratch = None
    try:
        try:
            record = load_metadata(backup["metadata_path"])
        except SnapshotError as exc:
            raise DrillFailed(str(exc)) from None
        result["backup_created_epoch"] = _created_epoch(record)
        result["recorded"] = record.get("fingerprint")
        found_tools = find_tools(**(tools or {}))
        result["etcd_version"] = found_tools["etcd"]["version"]
        check_tools_fit(found_tools, (record.get("etcd") or {}).get("version"))
        try:
            os.makedirs(scratch_parent, mode=0o700, exist_ok=True)
            check_scratch_parent(scratch_parent)
            result["cleaned"] = clean_leftovers(scratch_parent)
            scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch_parent)
            _write_marker(scratch)
        except OSError as exc:
            raise DrillFailed(
                f"cannot make a scratch directory in {scratch_parent}: {exc}"
            ) from None
        plain = _plain_snapshot(backup_dir, record, scratch, age, identity_files, steps)
        found, problems, _client = _restore_and_compare(
            backup, record, scratch, found_tools, timeout, plain, steps
        )
        result["found"] = found
        if problems:
            raise DrillFailed(
                "the restored copy differs from what was recorded at backup time: "
                + "; ".join(problems)
            )
        result["result"] = "pass"
    except DrillFailed as exc:
        result["reason"] = str(exc)
    except OSError as exc:
        reason = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        if getattr(exc, "errno", None) == 28:
            reason += " (the scratch disk is full)"
        result["reason"] = reason
    except (EtcdctlError, AgeError, ValueError) as exc:
        result["reason"] = f"unexpected error: {type(exc).__name__}: {exc}"
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    finished = time.time()
    result["finished"] = _iso(finished)
    result["finished_epoch"] = round(finished, 3)
    result["duration_seconds"] = round(time.monotonic() - t_start, 3)
    if write_record:
        try:
            write_json_atomic(record_path, result, mode=0o600)
        except OSError as exc:  # the drill itself may have passed; without a record it fails
            note = f"its record {record_path} could not be written: {exc.strerror or exc}"
            result["result"] = "fail"
            result["reason"] = f"{result['reason']}; {note}" if result["reason"] else note
    return result
