# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters (the journal and its
# lock) and on the controller (who holds a run, and whether to resume it).
"""The restore journal: what a restore-ha run did on one master, kept on that master.

Every master keeps ``<state_dir>/journal.json`` (default state dir
``/var/lib/kubedr-etcd/restore``, root only, mode 0700). A run writes it before it
changes anything, atomically (temp file, fsync, rename), and records each phase the
master reaches, with its time. The journal is the truth a later run reads: it holds
the run id, the stamp, the controller that runs it, the snapshot's sha256, the token
and the whole plan, so that a resumed run or a rollback needs nothing from the
controller's memory.

The run's lock is the journal itself: a journal whose phase is not terminal (``done``
or ``rolled-back``) holds the master for its run. Next to it, ``.flock`` is locked
(``fcntl.flock``) by every step that changes the master, so that a step left running
by a killed controller finishes before the next run's step begins on that master.

Phases, in order: ``locked`` (nothing changed yet), ``staged`` (the snapshot is
restored beside the live member), ``stopped`` (static pods gone), ``swapped`` (old
member moved aside, staged member in its place), ``started`` (manifests back, peer
port listens), ``verified`` (etcd verified), ``done``. A rollback records
``rolling-back`` then ``rolled-back``. A journal of an earlier run is kept as
``runs/<run id>.json`` when a new run begins: nothing is ever deleted.

This file also holds the controller's decision (``decide``): start a new run, resume
the run the journals hold, or refuse - with the holder, its phase and its age.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import os
import pwd
import re
import secrets
import socket
import time

from ansible_collections.kubedr.etcd.plugins.module_utils._files import fsync_dir
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import write_json_atomic

FORMAT = "kubedr.etcd/restore-journal/v1"
DEFAULT_STATE_DIR = "/var/lib/kubedr-etcd/restore"
JOURNAL = "journal.json"
FLOCK = ".flock"
RUNS = "runs"

PHASES = ("locked", "staged", "stopped", "swapped", "started", "verified", "done")
ROLLBACK_PHASES = ("rolling-back", "rolled-back")
TERMINAL = ("done", "rolled-back")
# How a failed cut-over ends: put the old member back, keep the journal for a later
# resume or rollback, or roll back only when the old cluster had quorum at pre-flight.
FAILURE_POLICIES = ("auto", "rollback", "keep")

_RUN_ID = re.compile(r"\A[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\Z")
_UTC = _dt.timezone.utc  # noqa: UP017 - datetime.UTC needs Python 3.11


class JournalError(Exception):
    """A journal that cannot be read or written, or a run that may not go on here."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


# --------------------------------------------------------------------------
# Names and times
# --------------------------------------------------------------------------


def now_iso(when=None):
    when = when if when is not None else _dt.datetime.now(_UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_iso(text):
    """An ISO time as written by now_iso (or without fraction) -> aware datetime, or None."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return _dt.datetime.strptime(str(text), fmt).replace(tzinfo=_UTC)
        except ValueError:
            continue
    return None


def new_run_id(stamp, random_hex=None):
    """``<stamp>-<6 hex>``: names one run on every master, in the token and the journal."""
    return f"{stamp}-{random_hex or secrets.token_hex(3)}"


def machine_id(path="/etc/machine-id"):
    """This host's machine id (systemd's ``/etc/machine-id``), or None when it has none."""
    return _read_text(path) or None


def dir_identity(path, proc_root="/proc"):
    """Which directory ``path`` is, as far as this kernel can tell: the boot id, and the
    device and inode of ``path`` or of its nearest existing parent with the rest of the
    path. Two hosts on one kernel (containers, namespaces) that report the same identity
    see one directory: a state dir made there would be shared. None when unknown."""
    boot_id = _read_text(os.path.join(proc_root, "sys/kernel/random/boot_id"))
    if not boot_id or not os.path.isabs(str(path)):
        return None
    probe, rest = os.path.normpath(str(path)), []
    while True:
        try:
            info = os.stat(probe)
            break
        except OSError:
            parent = os.path.dirname(probe)
            if parent == probe:
                return None
            rest.insert(0, os.path.basename(probe))
            probe = parent
    return {"boot_id": boot_id, "dev": info.st_dev, "ino": info.st_ino, "rest": "/".join(rest)}


def _member_of(journal):
    member = (journal or {}).get("member") or {}
    return member.get("host"), member.get("name")


def check_run_id(run_id):
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise JournalError(
            f"run id {run_id!r} is not a restore run id (such as 20261126T031500Z-4f9a1c);"
            " copy it from the refusal message or from <state_dir>/journal.json on a master"
        )
    return run_id


def journal_path(state_dir):
    return os.path.join(state_dir, JOURNAL)


def run_dir(state_dir, run_id):
    """Where the run keeps its copy of the snapshot on a master (root only)."""
    return os.path.join(state_dir, check_run_id(run_id))


def age_text(since, now=None):
    """'3 min 12 s' since an ISO time; 'unknown' when it cannot be read."""
    start = parse_iso(since)
    if start is None:
        return "unknown"
    seconds = max(0, int(((now or _dt.datetime.now(_UTC)) - start).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


# --------------------------------------------------------------------------
# On a master: read, lock, record
# --------------------------------------------------------------------------


def ensure_state_dir(state_dir):
    """Create the state dir (0700, root's); refuse one others can write to."""
    if not os.path.isabs(str(state_dir)):
        raise JournalError(f"state_dir={state_dir!r} is not an absolute path")
    try:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        info = os.stat(state_dir)
    except OSError as exc:
        raise JournalError(
            f"cannot create {state_dir}: {exc.strerror or exc} (run as root / with become)"
        ) from None
    if info.st_mode & 0o022 or (os.geteuid() == 0 and info.st_uid != 0):
        raise JournalError(
            f"{state_dir} can be written by other users (mode {oct(info.st_mode & 0o777)},"
            f" owner uid {info.st_uid}): the journal and the snapshot copies need a directory"
            " only root can write; fix its owner and mode (chown root: ; chmod 0700) or set"
            " etcd_restore_state_dir"
        )


def read(state_dir):
    """The journal on this master, or None when there is none."""
    path = journal_path(state_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise JournalError(
            f"cannot read the restore journal {path} ({exc}); look at it, move it away if it"
            " is not a restore's, and run again"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise JournalError(
            f"{path} is not a kubedr.etcd restore journal (format {FORMAT}); move it away"
        )
    return data


def is_held(journal):
    return bool(journal) and journal.get("phase") not in TERMINAL


def reached(journal, phase):
    """Whether the journal records ``phase`` (in its history)."""
    return any(entry.get("phase") == phase for entry in (journal or {}).get("phases") or [])


def phase_time(journal, phase):
    for entry in (journal or {}).get("phases") or []:
        if entry.get("phase") == phase:
            return entry.get("time")
    return None


@contextlib.contextmanager
def step_lock(state_dir, timeout=600, poll=0.2):
    """Hold ``<state_dir>/.flock`` while a step changes this master. A step of a killed
    run that still runs here holds it until it ends; waits up to ``timeout`` seconds."""
    ensure_state_dir(state_dir)
    path = os.path.join(state_dir, FLOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise JournalError(
                        f"another restore step still runs on this master (it holds {path}"
                        f" after {timeout} s); wait for it to end, then run again"
                    ) from None
                time.sleep(poll)
        yield
    finally:
        os.close(fd)


def _check_owner(journal, run_id, path):
    if journal.get("run_id") != run_id:
        raise JournalError(
            f"{path} belongs to run {journal.get('run_id')} (phase {journal.get('phase')}),"
            f" not to run {run_id}",
            journal=summary(journal),
        )


def write(state_dir, journal):
    journal["updated"] = now_iso()
    write_json_atomic(journal_path(state_dir), journal, mode=0o600)


def begin(state_dir, header, when=None):
    """Lock this master for the run in ``header`` (run_id, stamp, controller, snapshot,
    plan, member, ...): write its journal with phase ``locked``. Returns (changed,
    journal). The same run again changes nothing; another run's live journal refuses;
    a finished journal of an earlier run is kept under ``runs/``. A resumed run's header
    names in ``takes_over`` the controller its journals named: the journal passes to the
    new controller only while it still names that one."""
    run_id = check_run_id(header.get("run_id"))
    current = read(state_dir)
    if current is not None:
        if current.get("run_id") == run_id:
            if header.get("member") and _member_of(current) != _member_of(header):
                host, name = _member_of(current)
                raise JournalError(
                    f"{journal_path(state_dir)} is the journal of master {host} (member"
                    f" {name}), not of this one: {state_dir} is shared with that master"
                    " (one directory seen by two hosts); nothing was changed. Give every"
                    " master a state dir of its own (etcd_restore_state_dir on a local disk)",
                    journal=summary(current),
                )
            controller = header.get("controller")
            if controller and controller != current.get("controller") and is_held(current):
                # a resumed run: this controller holds the run from now on - if the
                # journal still names the controller it decided to take over from
                # (compare-and-set under the step lock: two controllers that both decided
                # to resume cannot both drive the run)
                if header.get("takes_over") != current.get("controller"):
                    raise JournalError(
                        f"restore run {run_id} on this master is now held by controller"
                        f" {holder_text(current)}, not by"
                        f" {holder_text({'controller': header.get('takes_over') or {}})},"
                        " which this run read from the journals and meant to take over:"
                        " another controller took the run over in between; nothing was"
                        " changed. Let that one finish (or stop it), then run again",
                        journal=summary(current),
                    )
                current.setdefault("takeovers", []).append(
                    {"from": current.get("controller"), "time": now_iso(when)}
                )
                current["controller"] = controller
                write(state_dir, current)
                return True, current
            return False, current
        if is_held(current):
            raise JournalError(
                f"this master is held by restore run {current.get('run_id')} (phase"
                f" {current.get('phase')}, controller {holder_text(current)}); nothing was"
                " changed",
                journal=summary(current),
            )
        runs = os.path.join(state_dir, RUNS)
        os.makedirs(runs, mode=0o700, exist_ok=True)
        os.replace(journal_path(state_dir), os.path.join(runs, f"{current.get('run_id')}.json"))
        fsync_dir(state_dir)
    journal = {key: value for key, value in header.items() if key != "takes_over"}
    journal.update(
        format=FORMAT,
        machine_id=machine_id(),
        run_id=run_id,
        phase="locked",
        phases=[{"phase": "locked", "time": now_iso(when)}],
        outcome=None,
        details={},
    )
    write(state_dir, journal)
    return True, journal


def record(state_dir, run_id, phase, details=None, outcome=None, when=None, started=None):
    """Record that this master reached ``phase`` (once), with optional details merged in
    and the time the step that reached it ``started``. Returns (changed, journal)."""
    if phase not in PHASES + ROLLBACK_PHASES:
        raise JournalError(f"phase {phase!r} is not one of {', '.join(PHASES + ROLLBACK_PHASES)}")
    journal = read(state_dir)
    path = journal_path(state_dir)
    if journal is None:
        raise JournalError(f"{path} does not exist: run {run_id} never locked this master")
    _check_owner(journal, run_id, path)
    if phase in PHASES and journal.get("phase") in ROLLBACK_PHASES:
        raise JournalError(
            f"run {run_id} is {journal.get('phase')} on this master: it does not go on;"
            " start a new restore instead"
        )
    changed = False
    if not reached(journal, phase):
        entry = {"phase": phase, "time": now_iso(when)}
        if started:
            entry["started"] = started
        journal.setdefault("phases", []).append(entry)
        journal["phase"] = phase
        changed = True
    elif journal.get("phase") != phase and phase in TERMINAL:
        journal["phase"] = phase
        changed = True
    if details:
        merged = dict(journal.get("details") or {})
        merged.update(details)
        if merged != journal.get("details"):
            journal["details"] = merged
            changed = True
    if outcome is not None and journal.get("outcome") != outcome:
        journal["outcome"] = outcome
        changed = True
    if changed:
        write(state_dir, journal)
    return changed, journal


# --------------------------------------------------------------------------
# Who runs a restore: the controller
# --------------------------------------------------------------------------


def _read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return None


def process_start(pid, proc_root="/proc"):
    """A process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    text = _read_text(os.path.join(proc_root, str(pid), "stat"))
    if not text:
        return None
    try:
        return int(text.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def user_name():
    """Who runs this process: $USER or $LOGNAME, else the password database's name for the
    effective uid, else ``uid N`` (a job container may run under a uid it has no name for)."""
    name = os.environ.get("USER") or os.environ.get("LOGNAME")
    if name:
        return name
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def controller_identity(pid, user=None, proc_root="/proc"):
    """Who and where this controller is: enough to tell later whether ``pid`` (the
    ansible-playbook process) still runs, when asked on the same machine and boot."""
    try:
        pid_ns = os.readlink(os.path.join(proc_root, "self", "ns", "pid"))
    except OSError:
        pid_ns = ""
    return {
        "hostname": socket.gethostname(),
        "user": user or user_name(),
        "machine_id": _read_text("/etc/machine-id") or "",
        "boot_id": _read_text(os.path.join(proc_root, "sys/kernel/random/boot_id")) or "",
        # two job containers on one node share the boot id (and may share a machine id):
        # the pid namespace tells them apart
        "pid_ns": pid_ns,
        "pid": int(pid),
        "pid_start": process_start(pid, proc_root),
    }


def same_machine(left, right):
    return bool(
        left
        and right
        and left.get("machine_id")
        and left.get("machine_id") == right.get("machine_id")
        and left.get("boot_id") == right.get("boot_id")
        and left.get("pid_ns") == right.get("pid_ns")
    )


def holder_alive(holder, here, proc_root="/proc"):
    """True/False when ``holder`` (a journal's controller) ran on this machine since its
    last boot; None when it ran elsewhere and its life cannot be proven here."""
    if not same_machine(holder, here):
        return None
    start = holder.get("pid_start")
    if start is None:
        return None  # no start time was recorded: its life cannot be proven either way
    return process_start(holder.get("pid"), proc_root) == start


def holder_text(journal):
    c = (journal or {}).get("controller") or {}
    return f"{c.get('user', '?')}@{c.get('hostname', '?')} pid {c.get('pid', '?')}"


def summary(journal):
    """The few fields a refusal or a report shows of a journal."""
    if not journal:
        return None
    return {
        "run_id": journal.get("run_id"),
        "phase": journal.get("phase"),
        "outcome": journal.get("outcome"),
        "controller": journal.get("controller"),
        "snapshot": journal.get("snapshot"),
        "started": phase_time(journal, "locked"),
        "updated": journal.get("updated"),
    }


# --------------------------------------------------------------------------
# The controller's decision
# --------------------------------------------------------------------------


def shared_state_problems(masters):
    """Refusals for state dirs that are not each master's own, from every master's
    pre-flight: {host: {'machine_id', 'member_name', 'journal', 'state_dir',
    'state_dir_identity'}}. Two hosts that see one directory (dir_identity), or with one
    machine id are one machine (or one cloned image) and would share the journal; a
    journal still held that names another master, member or machine is another master's.
    Each problem names the hosts, the path and the fix."""
    problems = []
    by_machine = {}
    for host, facts in masters.items():
        if (facts or {}).get("machine_id"):
            by_machine.setdefault(facts["machine_id"], []).append(host)
    for mid, hosts in sorted(by_machine.items()):
        if len(hosts) > 1:
            problems.append(
                f"{', '.join(sorted(hosts))}: report one machine id ({mid}): they are one"
                " machine, or clones of one image, and their restore journals cannot be told"
                " apart; nothing was changed. Give each master its own /etc/machine-id"
                " (systemd-machine-id-setup on a clone), or list each master once"
            )
    by_dir = {}
    for host, facts in masters.items():
        ident = (facts or {}).get("state_dir_identity")
        if isinstance(ident, dict) and ident.get("boot_id"):
            key = (ident["boot_id"], ident.get("dev"), ident.get("ino"), ident.get("rest"))
            by_dir.setdefault(key, []).append(host)
    for hosts in by_dir.values():
        if len(hosts) > 1:
            where = (masters[hosts[0]] or {}).get("state_dir") or "the state dir"
            problems.append(
                f"{', '.join(sorted(hosts))}: {where} is one directory seen by all of them"
                " (same kernel, same device and inode): their restore journals would"
                " overwrite each other; nothing was changed. Give every master a state dir"
                " of its own (etcd_restore_state_dir on a local disk)"
            )
    for host, facts in sorted(masters.items()):
        journal = (facts or {}).get("journal")
        if not is_held(journal) or journal.get("error"):
            continue
        owner, name = _member_of(journal)
        theirs = journal.get("machine_id")
        wrong = []
        if owner and owner != host:
            wrong.append(f"master {owner}")
        if name and facts.get("member_name") and name != facts["member_name"]:
            wrong.append(f"member {name}, not {facts['member_name']}")
        if theirs and facts.get("machine_id") and theirs != facts["machine_id"]:
            wrong.append(f"machine id {theirs}, not {facts['machine_id']}")
        if wrong:
            problems.append(
                f"{host}: its restore journal ({facts.get('state_dir') or 'the state dir'}"
                f"/{JOURNAL}, run {journal.get('run_id')}) is another master's ("
                + "; ".join(wrong)
                + "): the state dir is shared with another host; nothing was changed. Give"
                " every master a state dir of its own (etcd_restore_state_dir on a local"
                " disk), then roll the run back from the master it belongs to"
            )
    return problems


def _phases_text(held):
    return ", ".join(f"{host} {journal.get('phase')}" for host, journal in sorted(held.items()))


def decide(
    journals, here, *, snapshot_sha256=None, takeover=None, alive=None, now=None, purpose="restore"
):
    """What this run does, from every master's journal.

    ``journals``: {host: journal or None}. ``here``: controller_identity() of this run.
    ``snapshot_sha256``: the snapshot this run was asked to restore (None: any).
    ``takeover``: the run id the user allows this run to take over. ``alive``: a
    function(holder) -> True/False/None (default holder_alive). ``purpose``: ``restore``
    (go on with the run) or ``rollback`` (put its masters back).

    A master whose journal of the run is ``done`` is no longer held, but it is part of
    the run: its restored member serves, verified. Rolling back the masters still held
    would leave two etcd clusters, so a rollback is refused then, and a resumed run keeps
    the journals on a failure instead of rolling back (``on_failure`` ``keep``).

    Returns {'mode': 'new' | 'resume' | 'done' | 'refuse', 'journal' (the run's, for
    resume and done), 'finished' (hosts where the run is done, for resume), 'msg'}.
    """
    alive = alive or (lambda holder: holder_alive(holder, here))
    held = {host: j for host, j in journals.items() if is_held(j)}
    if not held:
        finished = [j for j in journals.values() if j and j.get("phase") == "done"]
        runs = {j.get("run_id") for j in finished}
        if (
            finished
            and len(finished) == len(journals)
            and len(runs) == 1
            and snapshot_sha256
            and all((j.get("snapshot") or {}).get("sha256") == snapshot_sha256 for j in finished)
        ):
            journal = finished[0]
            return {
                "mode": "done",
                "journal": journal,
                "msg": f"every master was restored from this snapshot by run"
                f" {journal.get('run_id')} (finished {journal.get('updated')},"
                f" controller {holder_text(journal)})",
            }
        return {"mode": "new", "journal": None, "msg": "no restore run holds a master"}

    run_ids = sorted({j.get("run_id") for j in held.values()})
    if len(run_ids) > 1 and takeover in run_ids:
        # the user names the run to go on with (or to roll back); the others are left
        held = {host: j for host, j in held.items() if j.get("run_id") == takeover}
        run_ids = [takeover]
    if len(run_ids) > 1:
        return {
            "mode": "refuse",
            "journal": None,
            "msg": f"the masters are held by different restore runs ({_phases_text(held)}:"
            f" runs {', '.join(run_ids)}); nothing was changed. Roll back each run with"
            " playbooks/restore-rollback.yml -e etcd_restore_takeover=<run id>",
        }
    journal = next(iter(held.values()))
    run_id = journal.get("run_id")
    where = (
        f"restore run {run_id} (controller {holder_text(journal)}, started"
        f" {age_text(phase_time(journal, 'locked'), now)} ago; {_phases_text(held)})"
    )
    state = alive(journal.get("controller") or {})
    if state is True:
        return {
            "mode": "refuse",
            "journal": journal,
            "msg": f"{where} is still running; a second run at the same time is refused and"
            " changed nothing. Wait for it to end (or stop it), then run again",
        }
    if state is None and takeover != run_id:
        return {
            "mode": "refuse",
            "journal": journal,
            "msg": f"{where} did not finish, and from this controller it cannot be proven"
            " dead; nothing was changed. Make sure it no longer runs, then resume it with"
            f" -e etcd_restore_takeover={run_id}, or roll it back with"
            f" playbooks/restore-rollback.yml -e etcd_restore_takeover={run_id}",
        }
    wanted = (journal.get("snapshot") or {}).get("sha256")
    if snapshot_sha256 and wanted and snapshot_sha256 != wanted:
        name = (journal.get("snapshot") or {}).get("name")
        return {
            "mode": "refuse",
            "journal": journal,
            "msg": f"{where} restores snapshot {name} (sha256 {wanted[:12]}...), not the one"
            " given now; nothing was changed. Resume it with"
            f" {snapshot_args(name)}, or roll it back with playbooks/restore-rollback.yml",
        }
    finished = finished_hosts(journals, run_id)
    if finished and purpose == "rollback":
        name = (journal.get("snapshot") or {}).get("name")
        return {
            "mode": "refuse",
            "journal": journal,
            "msg": f"{where} is done on {', '.join(finished)}: the restored member runs"
            " there, verified, and cannot be rolled back; rolling back only the other"
            " masters would leave two etcd clusters, so nothing was changed. Finish the run"
            f" instead: playbooks/restore-ha.yml -e etcd_restore_confirm=true"
            f" {snapshot_args(name)}"
            + ("" if state is False else f" -e etcd_restore_takeover={run_id}"),
        }
    return {
        "mode": "resume",
        "journal": journal,
        "finished": finished,
        "msg": f"resuming {where}"
        + (f"; done already on {', '.join(finished)}" if finished else ""),
    }


def finished_hosts(journals, run_id):
    """The masters whose journal of ``run_id`` is ``done``."""
    return sorted(
        host
        for host, journal in journals.items()
        if journal and journal.get("run_id") == run_id and journal.get("phase") == "done"
    )


def snapshot_args(name):
    """The extra vars that name a run's snapshot again, from the name a journal gives it:
    a path on the controller, or ``<backup host>:<path>`` for one taken from a backup host."""
    host, sep, path = (name or "").partition(":")
    if sep and path.startswith("/") and "/" not in host:
        return (
            f"-e etcd_restore_backup_host={host} -e etcd_restore_snapshot={path.rsplit('/', 1)[-1]}"
        )
    return f"-e etcd_restore_snapshot={name}"


# --------------------------------------------------------------------------
# A new run's header, from the plan
# --------------------------------------------------------------------------


def old_cluster(masters):
    """What the cluster was before the run, from each master's pre-flight facts
    (``masters`` as build_plan takes them): {'had_quorum', 'running': [hosts],
    'member_ids': {host: id}, 'cluster_id'}. A rollback checks the old cluster against it."""
    running = [
        m["host"] for m in masters if ((m.get("preflight") or {}).get("etcd_running") is True)
    ]
    member_ids = {
        m["host"]: (m.get("preflight") or {}).get("member_id")
        for m in masters
        if (m.get("preflight") or {}).get("member_id")
    }
    cluster_ids = sorted(
        {str((m.get("preflight") or {}).get("cluster_id")) for m in masters} - {"None", ""}
    )
    return {
        "had_quorum": bool(masters) and len(running) > len(masters) // 2,
        "running": running,
        "member_ids": member_ids,
        "cluster_id": cluster_ids[0] if len(cluster_ids) == 1 else None,
    }


def failure_action(policy, old):
    """What a cut-over that fails before etcd is verified does: 'rollback' or 'keep'.
    ``auto`` rolls back only when the old cluster had quorum at pre-flight: rolling back
    onto data that was already lost or corrupt helps nobody."""
    if policy not in FAILURE_POLICIES:
        raise JournalError(
            f"etcd_restore_on_failure={policy!r}: use one of {', '.join(FAILURE_POLICIES)}"
        )
    if policy == "auto":
        return "rollback" if (old or {}).get("had_quorum") else "keep"
    return policy


def run_header(*, run_id, controller, snapshot, plan, manifests_dir, policy, old, when=None):
    """The part of the journal every master shares (each adds its own ``member``)."""
    return {
        "format": FORMAT,
        "run_id": check_run_id(run_id),
        "stamp": plan["stamp"],
        "controller": controller,
        "snapshot": snapshot,
        "plan": plan,
        "manifests_dir": manifests_dir,
        "policy": policy,
        "on_failure": failure_action(policy, old),
        "old_cluster": old,
        "created": now_iso(when),
    }
