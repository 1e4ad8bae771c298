# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters, inside the
# etcd_snapshot module and in the standalone scheduled backup script.
"""Take one etcd snapshot that a restore can rely on.

``save_verified_snapshot`` does, in order, and stops with a BackupError that
says what went wrong at the first problem:

1. ask every endpoint for its health (bounded by timeouts: a hanging member is
   skipped, not waited for) and pick the preferred healthy one, else any;
2. read the cluster ID, members and server version from that member;
3. check the destination has room for the snapshot (and the trial restore);
4. ``snapshot save`` from that one member into a hidden temporary name, with a
   time limit;
5. verify it: the sha256 trailer (streaming, in a thread) while ``snapshot status``
   runs, and optionally a trial restore into a scratch directory that is always removed
   (off in backup.yml: drills prove restores off the masters, see docs/backup.md);
6. fingerprint what the member held at the snapshot's revision (``_fingerprint``:
   hashkv and key counts per resource), for drills to compare a restored copy with;
7. rename it to its final name, then write the metadata record beside it.

The metadata file is written last: a snapshot without one is incomplete and is
never offered as a backup. On any failure the temporary files are removed.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import (
    backup_need,
    free_space,
    mib,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    check,
    choose_healthy_endpoint,
    client_env,
    diagnose_tls,
    endpoint_health_argv,
    endpoint_status_argv,
    member_list_argv,
    parse_endpoint_health,
    parse_endpoint_status,
    parse_member_list,
    parse_snapshot_status,
    run,
    snapshot_restore_argv,
    snapshot_save_argv,
    snapshot_status_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._files import fsync_dir, temp_name
from ansible_collections.kubedr.etcd.plugins.module_utils._files import remove as _remove
from ansible_collections.kubedr.etcd.plugins.module_utils._fingerprint import (
    FingerprintError,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._fingerprint import (
    take as take_fingerprint,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._pruning import apply_rules, rules_of
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    SnapshotError,
    build_metadata,
    metadata_path,
    snapshot_file_name,
    verify_trailer,
    write_json_atomic,
)

HEALTH_COMMAND_TIMEOUT = "5s"


class BackupError(Exception):
    """The backup did not produce a verified snapshot; the message says why."""


# Every backup that writes into a backup directory on a master - backup.yml's
# etcd_snapshot and the scheduled script alike - holds an exclusive fcntl.flock on the
# directory itself: nothing is left in it, and the lock ends with the process.


def take_lock(dest_dir):
    """An open descriptor of ``dest_dir`` holding its exclusive lock, or None when
    another backup holds it. The lock lasts until the descriptor is closed (or the
    process ends). Raises BackupError when the directory cannot be made or opened."""
    try:
        os.makedirs(dest_dir, mode=0o700, exist_ok=True)
        fd = os.open(dest_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise BackupError(f"cannot lock the backup directory {dest_dir}: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def lock_is_held(dest_dir):
    """Whether a backup holds the lock of ``dest_dir`` now (creates nothing)."""
    try:
        fd = os.open(dest_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def publish(tmp, final):
    """Give the complete file ``tmp`` its name ``final``, never over a file there: a
    backup of the same second that got there first is kept (BackupError)."""
    appeared = BackupError(
        f"{final} appeared while this backup was taken (another backup of the same"
        " second); a backup is never overwritten: nothing was kept of this one"
    )
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise appeared from None
    except OSError:  # a file system without hard links: a rename, checked first
        if os.path.lexists(final):
            raise appeared from None
        os.rename(tmp, final)
    else:
        os.unlink(tmp)
    fsync_dir(os.path.dirname(final))


def _utcnow():
    return _dt.datetime.now(_dt.timezone.utc)  # noqa: UP017 - Python 3.9 on masters


def check_space(dest_dir, db_size, trial_restore):
    """Raise BackupError unless ``dest_dir`` (or, before it is made, its nearest existing
    parent) has room for the snapshot and its trial restore (``_disk_space.backup_need``)."""
    need, free = backup_need(db_size, trial_restore), free_space(dest_dir)
    if free < need:
        raise BackupError(
            f"not enough free space in {dest_dir}: {mib(free)} free, about {mib(need)} needed"
            f" (etcd database {mib(db_size)}{', plus a trial restore' if trial_restore else ''});"
            " free some space or choose another backup directory; nothing was saved"
        )


def pick_endpoint(etcdctl, endpoints, tls, preferred=None, timeout=30):
    """(endpoint, notes): the preferred healthy endpoint, else the first healthy one."""
    env = client_env(endpoints, *tls, command_timeout=HEALTH_COMMAND_TIMEOUT)
    # endpoint health exits 1 when one endpoint is down, but still prints JSON for all.
    try:
        _rc, out, err = run(endpoint_health_argv(etcdctl), env=env, timeout=timeout)
    except EtcdctlError as exc:
        raise BackupError(f"could not check the health of {', '.join(endpoints)}: {exc}") from None
    try:
        # etcdctl answers in completion order; keep the caller's order.
        order = {url.rstrip("/"): i for i, url in enumerate(endpoints)}
        health = sorted(
            parse_endpoint_health(out), key=lambda h: order.get(h["endpoint"].rstrip("/"), 1 << 30)
        )
    except EtcdctlError:
        raise BackupError(
            f"could not check the health of {', '.join(endpoints)}: {err.strip() or out.strip()}"
        ) from None
    try:
        return choose_healthy_endpoint(health, preferred)
    except EtcdctlError as exc:
        tls_problems = sorted({p for p in (diagnose_tls(e, *tls) for e in endpoints) if p})
        hint = "; " + "; ".join(tls_problems) if tls_problems else ""
        raise BackupError(f"{exc}{hint}; nothing was saved") from None


def cluster_info(etcdctl, endpoint, tls, timeout=30):
    """{'cluster_id', 'members', 'version', 'db_size', 'revision'} from one endpoint."""
    env = client_env([endpoint], *tls)
    members = parse_member_list(check(member_list_argv(etcdctl), env, timeout, "member list"))
    status = parse_endpoint_status(
        check(endpoint_status_argv(etcdctl), env, timeout, "endpoint status")
    )[0]
    return {
        "cluster_id": members["cluster_id"],
        "members": members["members"],
        "version": status["version"],
        "db_size": status["db_size"],
        "revision": status["revision"],
    }


def trial_restore(tools, snapshot, scratch_parent, etcd_version, timeout):
    """Restore the snapshot into a scratch directory that is removed afterwards.

    This is the check `snapshot restore` itself makes (sha256, bbolt readable)
    without touching any real data directory. Returns the seconds it took.
    """
    try:
        scratch = tempfile.mkdtemp(prefix=".kubedr-trial-restore-", dir=scratch_parent)
    except OSError as exc:
        raise BackupError(f"cannot make a scratch directory for the trial restore: {exc}") from None
    t0 = time.monotonic()
    try:
        cmd = snapshot_restore_argv(
            tools,
            snapshot,
            os.path.join(scratch, "data"),
            "kubedr-trial",
            "kubedr-trial=http://127.0.0.1:2380",
            ["http://127.0.0.1:2380"],
            "kubedr-trial-restore",
            etcd_version=etcd_version,
        )
        check(cmd["argv"], cmd["env"], timeout, "trial restore")
        if not os.path.isfile(os.path.join(scratch, "data", "member", "snap", "db")):
            raise BackupError(f"trial restore of {snapshot} produced no member/snap/db")
    except EtcdctlError as exc:
        raise BackupError(f"trial restore of {snapshot} failed: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return round(time.monotonic() - t0, 3)


def verify_saved(tools, path, endpoint):
    """(verified, status) of a snapshot just saved from ``endpoint``: its sha256 trailer
    (read in a thread of its own) and ``snapshot status``, at the same time. When both fail
    the trailer's reason is given: a damaged file is why the status cannot be read."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        trailer = pool.submit(verify_trailer, path)
        try:
            status = parse_snapshot_status(
                check(
                    snapshot_status_argv(tools, path), {"ETCDCTL_API": "3"}, 120, "snapshot status"
                )
            )
            status_error = None
        except (SnapshotError, EtcdctlError) as exc:
            status, status_error = None, exc
        try:
            verified = trailer.result()
        except SnapshotError as exc:
            status_error = exc
    if status_error:
        raise BackupError(
            f"the snapshot saved from {endpoint} failed verification: {status_error}"
        ) from None
    return verified, status


def save_verified_snapshot(*, lock=True, **kwargs):
    """Save, verify and record one snapshot (``save_unlocked``) under the backup
    directory's lock: refused while another backup (backup.yml on another controller, the
    scheduled script) writes there. ``lock=False`` when the caller holds it already (the
    scheduled script, for its whole run)."""
    dest_dir = kwargs.get("dest_dir")
    if not lock or not os.path.isdir(dest_dir):
        # a directory not made yet holds no backup to guard, and a refused backup must not
        # leave one behind; two first backups of one second are kept apart by publish()
        return save_unlocked(**kwargs)
    fd = take_lock(dest_dir)
    if fd is None:
        raise BackupError(
            f"another backup is running on this master (it holds the lock on {dest_dir});"
            " nothing was saved. Wait for it to end, then run again"
        )
    try:
        return save_unlocked(**kwargs)
    finally:
        os.close(fd)


def save_unlocked(
    *,
    tools,
    endpoints,
    tls,
    dest_dir,
    source_host,
    preferred_endpoint=None,
    when=None,
    do_trial_restore=True,
    save_timeout=600,
    kubernetes_version=None,
    collection_version=None,
    control_plane_archives=(),
    fingerprint=True,
    retention=None,
    warn=None,
):
    """Save, verify and record one snapshot. See the module docstring for the steps.

    ``tools``: {'etcdctl': {'path', 'version'}, 'etcdutl': {...} | None} (the
    etcd_member_facts shape); ``tls``: (cacert, cert, key); ``when``: the
    backup's time (names the file); ``control_plane_archives``: listed in the
    metadata; ``fingerprint``: take the fingerprint at the snapshot's revision (when it
    fails, the record holds {'error': why} and a note says so); ``retention``: rules
    ({'keep_last', 'keep_days'}) applied to ``dest_dir`` once the new backup is complete,
    never pruning it (``_pruning.apply_rules``; ``warn`` hears of files it could not remove,
    which do not fail the backup). Returns {'snapshot', 'metadata_file',
    'metadata', 'endpoint', 'notes', 'timings', 'peak_rss_kib'}, and 'retention' (what
    it pruned and kept) when rules are given.
    """
    etcdctl = tools.get("etcdctl") if tools else None
    if not etcdctl or not etcdctl.get("path"):
        raise BackupError("etcdctl is not installed on this master; it is needed to save")
    if not endpoints:
        raise BackupError("no etcd endpoints to save from")
    try:
        rules = rules_of(retention or {})
    except ValueError as exc:
        raise BackupError(f"{exc}; nothing was saved") from None
    timings = {}
    t0 = time.monotonic()
    endpoint, notes = pick_endpoint(etcdctl, endpoints, tls, preferred_endpoint)
    try:
        info = cluster_info(etcdctl, endpoint, tls)
    except EtcdctlError as exc:
        raise BackupError(f"could not read the cluster from {endpoint}: {exc}") from None
    timings["choose_member"] = round(time.monotonic() - t0, 3)

    try:
        os.makedirs(dest_dir, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the backup directory {dest_dir}: {exc}") from None
    check_space(dest_dir, info["db_size"], do_trial_restore)

    when = when or _utcnow()
    final = os.path.join(dest_dir, snapshot_file_name(when))
    if os.path.exists(final) or os.path.exists(metadata_path(final)):
        raise BackupError(f"{final} exists already; a backup is never overwritten")
    # a name of this save's own: two backups in the same second never share one
    tmp = temp_name(final)
    leftovers = (tmp, tmp + ".part")
    env = client_env([endpoint], *tls)
    try:
        t1 = time.monotonic()
        try:
            check(
                snapshot_save_argv(etcdctl, tmp),
                env,
                save_timeout,
                f"snapshot save from {endpoint}",
            )
        except EtcdctlError as exc:
            hint = ""
            if "no space left" in str(exc).lower():
                hint = f"; the disk holding {dest_dir} is full"
            raise BackupError(f"{exc}{hint}; nothing was kept") from None
        timings["save"] = round(time.monotonic() - t1, 3)

        t2 = time.monotonic()
        verified, status = verify_saved(tools, tmp, endpoint)
        timings["verify"] = round(time.monotonic() - t2, 3)
        if status["revision"] < 1:
            notes.append(f"the cluster at {endpoint} holds no keys yet (revision 0)")
        recorded_fingerprint = None
        if fingerprint:
            t3 = time.monotonic()
            try:
                recorded_fingerprint = take_fingerprint(
                    etcdctl, env, status["revision"], timeout=save_timeout
                )
            except FingerprintError as exc:
                recorded_fingerprint = {"error": str(exc)}
                notes.append(f"no fingerprint for drills: {exc}")
            timings["fingerprint"] = round(time.monotonic() - t3, 3)
        tried = None
        if do_trial_restore:
            timings["trial_restore"] = trial_restore(
                tools, tmp, dest_dir, info["version"], save_timeout
            )
            tried = True
        metadata = build_metadata(
            final,
            verified,
            status,
            created=when,
            etcd_version=info["version"],
            cluster_id=info["cluster_id"],
            members=info["members"],
            source_host=source_host,
            kubernetes_version=kubernetes_version,
            collection_version=collection_version,
            control_plane_archives=control_plane_archives,
            trial_restore=tried,
            fingerprint=recorded_fingerprint,
        )
        os.chmod(tmp, 0o600)
        publish(tmp, final)
        try:
            write_json_atomic(metadata_path(final), metadata)
        except OSError as exc:
            _remove(final)
            raise BackupError(f"could not write the metadata of {final}: {exc}") from None
        except BaseException:  # interrupted between the two: no snapshot without its record
            _remove(final)
            raise
    finally:
        _remove(*leftovers)
    t4 = time.monotonic()
    pruned = apply_rules(dest_dir, rules, os.path.basename(final), warn=warn)
    if pruned is not None:
        timings["retention"] = round(time.monotonic() - t4, 3)
    timings["total"] = round(time.monotonic() - t0, 3)
    extra = {"retention": pruned} if pruned is not None else {}
    return {
        **extra,
        "snapshot": final,
        "metadata_file": metadata_path(final),
        "metadata": metadata,
        "endpoint": endpoint,
        "notes": notes,
        "timings": timings,
        "peak_rss_kib": {
            "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "tools": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        },
    }
