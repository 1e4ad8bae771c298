# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""The steps of a journaled restore on ONE master, each reading that master's journal.

A step takes only the state dir and the run id: what to restore, where, as which
member, with which tool and token, all comes from the journal the run wrote when it
locked the master. Each step checks its own post-condition on the host (the files,
the processes), does what is missing, and records its phase - so any step can run
again after a kill, and a rollback needs nothing but the journal.

=========  ===============================================  ==========================
step       does                                             needs
=========  ===============================================  ==========================
lock       writes the journal (phase ``locked``)            no other live run
stage      checks the copy's sha256, restores it beside     ``locked``
           the live member (``.kubedr-restore-<stamp>``)
stop       manifests dir aside, waits until pods are gone   ``staged``
swap       ``member`` aside, staged member in (renames)     ``stopped``
start      manifests back, waits for the peer port          ``swapped``
finish     records ``verified`` / ``done``; at ``done``     ``started``
           the lock is released, the snapshot copy removed
rollback   stops the pods, puts the old member and the      any phase but ``done``
           manifests back; records ``rolled-back``
=========  ===============================================  ==========================
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import time
from urllib.parse import urlsplit

from ansible_collections.kubedr.etcd.plugins.module_utils import _files as F
from ansible_collections.kubedr.etcd.plugins.module_utils import _restore_journal as J
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (
    CLIENT_PORT,
    PEER_PORT,
    url_ports,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._restore import (
    RestoreError,
    etcd_processes_on,
    paths,
    stage,
    swap_in,
    swap_out,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._static_pods import (
    DEFAULT_PORTS,
    StaticPodsError,
    aside_path,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._static_pods import (
    start as start_pods,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._static_pods import (
    stop as stop_pods,
)

# How often a step waiting for its turn, or for pods to go or ports to listen, looks again.
POLL = 0.1
STEPS = ("stage", "stop", "swap", "start")
_NEEDS = {"stage": "locked", "stop": "staged", "swap": "stopped", "start": "swapped"}
_REACHES = {"stage": "staged", "stop": "stopped", "swap": "swapped", "start": "started"}


class CutoverError(Exception):
    """A step that cannot be done; ``msg`` names the host state at fault and the next step."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def _journal(state_dir, run_id):
    try:
        J.check_run_id(run_id)
        journal = J.read(state_dir)
    except J.JournalError as exc:
        raise CutoverError(exc.msg) from None
    if journal is None:
        raise CutoverError(
            f"{J.journal_path(state_dir)} does not exist: run {run_id} never locked this master"
        )
    here = J.machine_id()
    if journal.get("machine_id") and here and journal["machine_id"] != here:
        raise CutoverError(
            f"{J.journal_path(state_dir)} was written on machine {journal['machine_id']}, not"
            f" on this one ({here}): the state dir is shared with another master; nothing"
            " was done here. Give every master a state dir of its own"
            " (etcd_restore_state_dir on a local disk)",
            journal=J.summary(journal),
        )
    if journal.get("run_id") != run_id:
        raise CutoverError(
            f"this master's journal belongs to run {journal.get('run_id')} (phase"
            f" {journal.get('phase')}), not to run {run_id}",
            journal=J.summary(journal),
        )
    return journal


def _record(state_dir, run_id, phase, **kwargs):
    try:
        return J.record(state_dir, run_id, phase, **kwargs)[1]
    except (J.JournalError, OSError) as exc:
        raise CutoverError(
            f"cannot record phase {phase} in {J.journal_path(state_dir)}:"
            f" {getattr(exc, 'msg', None) or exc}"
        ) from None


def copy_dir(state_dir, journal):
    """The run's own directory for its copy of the snapshot on this master (root only):
    ``<snapshot_dir>/<run id>``, the snapshot dir defaulting to the state dir."""
    return J.run_dir(journal.get("snapshot_dir") or state_dir, journal["run_id"])


def snapshot_copy(state_dir, journal):
    """Where the run's copy of the snapshot lies on this master."""
    name = os.path.basename((journal.get("snapshot") or {}).get("name") or "snapshot.db")
    return os.path.join(copy_dir(state_dir, journal), name)


def _names(journal):
    member = journal.get("member") or {}
    stamp = journal["stamp"]
    manifests_dir = journal.get("manifests_dir") or "/etc/kubernetes/manifests"
    return {
        "stamp": stamp,
        "data_dir": member.get("data_dir"),
        "manifests_dir": manifests_dir,
        "manifests_aside": aside_path(manifests_dir, stamp),
        # the plan's peer_ports (from --listen-peer-urls); a journal written before the plan
        # recorded them gives the ports of the advertised peer URLs
        "peer_ports": member.get("peer_ports") or url_ports(member.get("peer_urls"), PEER_PORT),
        # what a stop waits to see closed besides the peer ports (the plan's, from
        # --listen-client-urls and the apiserver's --secure-port)
        "client_ports": member.get("client_ports")
        or url_ports(member.get("client_urls"), CLIENT_PORT),
        "apiserver_port": member.get("apiserver_port"),
    }


# --------------------------------------------------------------------------
# lock
# --------------------------------------------------------------------------


def lock(state_dir, header, check_mode=False, timeout=600):
    """Write this master's journal for the run in ``header``. Returns {'changed',
    'journal', 'msg'}."""
    try:
        J.ensure_state_dir(state_dir) if not check_mode else None
        if check_mode:
            current = J.read(state_dir)
            if current and J.is_held(current) and current.get("run_id") != header.get("run_id"):
                raise J.JournalError(f"held by restore run {current.get('run_id')}")
            return {"changed": True, "journal": header, "msg": "would lock this master"}
        with J.step_lock(state_dir, timeout):
            changed, journal = J.begin(state_dir, header)
            if journal.get("snapshot_dir"):
                J.ensure_state_dir(journal["snapshot_dir"])
            os.makedirs(copy_dir(state_dir, journal), mode=0o700, exist_ok=True)
    except (J.JournalError, OSError) as exc:
        raise CutoverError(
            getattr(exc, "msg", None) or f"cannot lock: {exc}",
            **getattr(exc, "details", {}),
        ) from None
    return {
        "changed": changed,
        "journal": J.summary(journal),
        "msg": f"locked for run {journal['run_id']}" if changed else "already locked for this run",
    }


# --------------------------------------------------------------------------
# stage / stop / swap / start
# --------------------------------------------------------------------------


def step(state_dir, run_id, name, timeout=180, restore_timeout=600, check_mode=False, upload=None):
    """Run one cut-over step (``stage``, ``stop``, ``swap`` or ``start``) on this master.

    The journal is read, the step done and its phase recorded all under the step lock:
    a step of a killed run still running here finishes (and records) before this one
    looks, and a rollback in between is seen.

    ``upload`` (stage only): a copy of the snapshot just transferred to this master (into
    Ansible's temporary directory); it becomes the run's copy (``snapshot_copy``) before
    the stage, or is removed when the stage is already cut over.

    Returns {'changed', 'phase', 'seconds' (waited), 'detail' (the step's own result),
    'msg'}. Raises CutoverError naming what is wrong and what to do.
    """
    if name not in STEPS:
        raise CutoverError(f"step {name!r} is not one of {', '.join(STEPS)}")
    context = J.step_lock(state_dir, timeout=restore_timeout) if not check_mode else _nothing()
    try:
        with context:
            return _step(state_dir, run_id, name, timeout, restore_timeout, check_mode, upload)
    except (RestoreError, StaticPodsError) as exc:
        raise CutoverError(exc.msg, **exc.details) from None
    except J.JournalError as exc:
        raise CutoverError(exc.msg) from None


def _step(state_dir, run_id, name, timeout, restore_timeout, check_mode, upload=None):
    journal = _journal(state_dir, run_id)
    if name == "stage" and not check_mode:
        _take_upload(state_dir, journal, upload)
    if journal.get("phase") in J.ROLLBACK_PHASES:
        raise CutoverError(
            f"run {run_id} was rolled back on this master (phase {journal.get('phase')});"
            " start a new restore instead"
        )
    if not J.reached(journal, _NEEDS[name]):
        raise CutoverError(
            f"step {name} needs phase {_NEEDS[name]}, but this master is at"
            f" {journal.get('phase')}: run the steps in order (re-run the playbook)"
        )
    if J.reached(journal, _REACHES[name]) and not (
        name == "stage" and not J.reached(journal, "stopped")
    ):
        # done before (a resumed run): never stop a started member again, never stage
        # over a swapped one. A staged restore not yet cut over is checked again below.
        # Where this master is still at the state the step left it in, that state is
        # proved again before the next master's turn: a member stopped is still gone, a
        # member started still serves (it may have died while the run was away).
        waited = 0
        if not check_mode:
            waited = _prove_again(name, journal, timeout)
        return {
            "changed": False,
            "phase": _REACHES[name],
            "seconds": waited,
            "detail": {},
            "msg": f"{name}: already done ({_REACHES[name]} at"
            f" {J.phase_time(journal, _REACHES[name])})",
        }
    names = _names(journal)
    began = J.now_iso()
    detail = _do(name, state_dir, journal, names, timeout, restore_timeout, check_mode)
    changed = bool(detail.get("changed"))
    if not check_mode:
        extra = {}
        if name == "swap":
            extra = {"moved_aside": detail.get("moved_aside")}
        journal_before = J.reached(journal, _REACHES[name])
        _record(state_dir, run_id, _REACHES[name], details=extra, started=began)
        changed = changed or not journal_before
    return {
        "changed": changed,
        "phase": _REACHES[name],
        "seconds": detail.get("waited", detail.get("seconds", 0)),
        "detail": detail,
        "msg": detail.get("msg", ""),
    }


def _take_upload(state_dir, journal, upload):
    """Make ``upload`` the run's copy of the snapshot (a stage not yet cut over), or drop
    it; without one, the run's copy must be there already (a resumed stage)."""
    copy = snapshot_copy(state_dir, journal)
    if upload:
        try:
            if J.reached(journal, "stopped") or journal.get("phase") in J.ROLLBACK_PHASES:
                F.remove(upload)
                return
            os.makedirs(os.path.dirname(copy), mode=0o700, exist_ok=True)
            F.move_file(upload, copy, mode=0o600)
        except OSError as exc:
            raise CutoverError(
                f"cannot move the transferred snapshot {upload} to {copy}: {exc}; nothing"
                " was stopped. Free space or fix the directory, then re-run the playbook"
            ) from None
        return
    if not J.reached(journal, "stopped") and not os.path.isfile(copy):
        raise CutoverError(
            f"the run's copy of the snapshot {copy} is not on this master; nothing was"
            " stopped. Re-run the playbook: it transfers the snapshot again",
            copy_missing=True,
        )


# --------------------------------------------------------------------------
# turns: the controller runs stop and start one master at a time, in the plan's order
# (roles/etcd_restore/tasks/cutover.yml); each step returns only once this master has
# proved, about itself, what the next master's turn needs
# --------------------------------------------------------------------------


def _prove_again(name, journal, timeout):
    """Seconds waited until this master again shows what ``name`` left it in, when its
    journal says it is still there: no etcd on its data dir (stopped, swapped), its own
    etcd serving its peers (started). Other phases: nothing to prove (0)."""
    phase = journal.get("phase")
    if name == "stop" and phase in ("stopped", "swapped"):
        return wait_own_etcd_gone(_names(journal)["data_dir"], timeout)
    if name == "start" and phase == "started":
        return wait_own_peer_serves(journal.get("member") or {}, timeout)
    return 0


def stopped_ports(names):
    """The ports this master's static pods listen on (etcd's client and peer ports, the
    apiserver's secure port, from the plan): a stop waits until none is open. A journal
    from before the plan recorded them: the ports kubeadm uses."""
    ports = list(names["client_ports"] or []) + list(names["peer_ports"] or [])
    if names["apiserver_port"]:
        ports.append(int(names["apiserver_port"]))
    return sorted(set(ports)) or list(DEFAULT_PORTS)


def wait_own_etcd_gone(data_dir, timeout, poll=POLL, proc_root="/proc"):
    """Seconds waited until no process runs etcd on ``data_dir`` (by the directory's
    identity as each process sees it: container or not, hostPath or mountPath); a
    CutoverError naming the processes after ``timeout``."""
    start = time.monotonic()
    while True:
        running = etcd_processes_on(data_dir, proc_root)
        if not running:
            return round(time.monotonic() - start, 3)
        if time.monotonic() - start >= timeout:
            listed = "; ".join(f"pid {p['pid']}: {p['command']}" for p in running)
            raise CutoverError(
                f"stop: the static pods are gone but etcd still runs on {data_dir} after"
                f" {timeout} s ({listed}): stop it (it is not a static pod of"
                " this kubelet), then re-run the playbook",
                running=running,
            )
        time.sleep(poll)


def wait_own_peer_serves(member, timeout, poll=POLL, probe=None):
    """Seconds waited until this master's etcd answers on its own peer URLs (``serves``,
    with its own peer certificate): the next master starts only then. A CutoverError
    after ``timeout``."""
    probe = probe or serves
    targets = []
    for url in member.get("peer_urls") or []:
        parts = urlsplit(url)
        if parts.hostname:
            targets.append((parts.hostname, parts.port or PEER_PORT, parts.scheme == "https"))
    if not targets:
        raise CutoverError(
            "start: this master's journal names no peer URL to wait on; its plan is"
            " incomplete. Roll back with playbooks/restore-rollback.yml and plan again"
        )
    start = time.monotonic()
    while True:
        if all(probe(*target, client=member.get("peer_tls")) for target in targets):
            return round(time.monotonic() - start, 3)
        if time.monotonic() - start >= timeout:
            raise CutoverError(
                f"start: this master's etcd does not serve its peer URLs"
                f" ({', '.join(member.get('peer_urls') or [])}) after {timeout} s; the"
                " manifests are back: see the etcd pod's log (crictl ps -a; crictl logs <id>),"
                " then re-run the playbook",
                not_serving=member.get("peer_urls"),
            )
        time.sleep(poll)


def serves(address, port, tls=True, client=None, timeout=0.5):
    """True when etcd answers HTTP on its peer port, not only listens there.

    etcd binds its peer port (and does TLS handshakes on it) first, then reads its data
    and runs its initial corrupt check, asking every peer for its hash, and only then
    answers HTTP. A member started while the one before it is still in that check waits
    for an answer that cannot come yet, up to etcd's request timeout (7 s) per peer.

    ``client`` is this master's own peer certificate {'cert_file', 'key_file'}
    (the peer port asks for one): with it, a GET /version that gets any answer means the
    member serves. Without it, or when the handshake is refused, an answer to the
    handshake is the best sign there is, and counts."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError:
        return False
    try:
        sock.settimeout(timeout)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # a probe: nothing is read from it
            if not client:
                return _handshake_answered(context, sock)
            try:
                context.load_cert_chain(client["cert_file"], client["key_file"])
                sock = context.wrap_socket(sock)
            except (ssl.SSLError, OSError) as exc:
                if isinstance(exc, (ssl.SSLError, ConnectionResetError)):
                    return True  # it answered the handshake, though not to us
                raise
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n")
        try:
            sock.recv(1)
        except ssl.SSLError:
            pass  # refused after the handshake (TLS 1.3): an answer all the same
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _handshake_answered(context, sock):
    try:
        with context.wrap_socket(sock, do_handshake_on_connect=False) as tls_sock:
            tls_sock.do_handshake()
    except ssl.SSLError:
        return True
    return True


# strategies that run a task on every host before the next task: the cut-over's turns
# (one include per master, in the plan's order) follow one another only with them
IN_STEP_STRATEGIES = ("linear", "ansible.builtin.linear", "debug", "ansible.builtin.debug")


def concurrency_problem(masters, forks=None, batch=None, strategy=None):
    """Why this play cannot run the restore, or None: the plan, the lock and the cut-over
    need every master in one batch (a play's ``serial`` that splits them would lock and
    stop some masters while the others wait for a later batch), and a strategy that keeps
    the hosts in step (with ``free`` or ``host_pinned`` each master would run its turns
    on its own, not one after the other, and a failed stop would not hold the others).
    ``forks`` fewer than the masters only makes the stage slower: the cut-over runs one
    master at a time."""
    del forks
    count = len(masters)
    if batch is not None and len(batch) < count:
        left = sorted(set(masters) - set(batch))
        return (
            f"this batch holds {len(batch)} of the {count} masters (left for a later batch:"
            f" {', '.join(left)}): one run locks, stops and starts every master, in the"
            " plan's order. Run the role in a play without serial (or with"
            f" serial: {count} or more)"
        )
    if strategy and strategy not in IN_STEP_STRATEGIES:
        return (
            f"the play's strategy is {strategy}: the cut-over stops and starts the masters"
            " one after the other, which needs the hosts kept in step (the linear"
            " strategy). Set strategy: linear in the play, or unset ANSIBLE_STRATEGY"
            " (strategy in ansible.cfg)"
        )
    return None


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _do(name, state_dir, journal, names, timeout, restore_timeout, check_mode):
    plan, member = journal.get("plan") or {}, journal.get("member") or {}
    if name == "stage":
        return stage(
            snapshot=snapshot_copy(state_dir, journal),
            data_dir=names["data_dir"],
            name=member.get("name"),
            initial_cluster=plan.get("initial_cluster"),
            initial_advertise_peer_urls=member.get("peer_urls"),
            initial_cluster_token=plan.get("token"),
            stamp=names["stamp"],
            tool=member.get("tool"),
            bump_revision=plan.get("bump_revision"),
            expected_sha256=(journal.get("snapshot") or {}).get("sha256"),
            timeout=restore_timeout,
            check_mode=check_mode,
        )
    if name == "stop":
        restored = paths(names["data_dir"], names["stamp"])
        if not os.path.isdir(os.path.join(restored["restored"], "member")) and not os.path.isfile(
            restored["marker"]
        ):
            raise CutoverError(
                f"the staged restore {restored['staging']} is gone: nothing was stopped;"
                " re-run the playbook (it stages again)"
            )
        started = time.monotonic()
        result = stop_pods(
            names["manifests_dir"],
            names["stamp"],
            ports=stopped_ports(names),
            timeout=timeout,
            check_mode=check_mode,
            poll=POLL,
        )
        if not check_mode:  # stopped means gone: no etcd on this data dir, whoever runs it
            left = max(1.0, timeout - (time.monotonic() - started))
            result["waited"] += wait_own_etcd_gone(names["data_dir"], left)
        return result
    if name == "swap":
        return swap_in(
            names["data_dir"],
            names["stamp"],
            record={"run_id": journal["run_id"]},
            check_mode=check_mode,
        )
    started = time.monotonic()
    result = start_pods(
        names["manifests_dir"],
        names["manifests_aside"],
        wait_ports=names["peer_ports"],
        timeout=timeout,
        check_mode=check_mode,
        poll=POLL,
    )
    if not check_mode:  # the next master starts once this one serves its peers
        left = max(1.0, timeout - (time.monotonic() - started))
        result["waited"] += wait_own_peer_serves(journal.get("member") or {}, left)
    return result


# --------------------------------------------------------------------------
# finish
# --------------------------------------------------------------------------


def finish(state_dir, run_id, phase, outcome=None, details=None, check_mode=False):
    """Record ``verified`` or ``done``. At ``done`` the lock is released (a terminal
    phase) and the run's snapshot copy is removed; the journal stays."""
    if phase not in ("verified", "done"):
        raise CutoverError(f"phase {phase!r}: finish records verified or done")
    journal = _journal(state_dir, run_id)
    if not J.reached(journal, "started") and phase == "verified":
        raise CutoverError(f"phase verified needs started, this master is at {journal['phase']}")
    if check_mode:
        return {"changed": not J.reached(journal, phase), "msg": f"would record {phase}"}
    try:
        with J.step_lock(state_dir, timeout=600):
            return _finish(state_dir, run_id, phase, outcome, details)
    except J.JournalError as exc:
        raise CutoverError(exc.msg) from None


def _finish(state_dir, run_id, phase, outcome, details):
    journal = _record(state_dir, run_id, phase, outcome=outcome, details=details)
    removed = False
    if phase == "done":
        own = copy_dir(state_dir, journal)
        if os.path.isdir(own):
            shutil.rmtree(own)
            removed = True
    return {
        "changed": True,
        "journal": J.summary(journal),
        "record": journal,
        "removed_copy": removed,
        "msg": f"recorded {phase}",
    }


# --------------------------------------------------------------------------
# rollback
# --------------------------------------------------------------------------


def rollback(state_dir, run_id, timeout=180, start=True, check_mode=False):
    """Put this master back as it was before run ``run_id``, from its journal alone:
    stop the pods when the restored member may run, put the old member and the manifests
    back, remove the staged restore and the snapshot copy (the run's own), keep the
    restored member as ``member.failed-<stamp>``; record ``rolled-back``.

    Returns {'changed', 'steps': [str], 'failed_kept', 'waited', 'msg'}.
    """
    if check_mode:
        return _rollback(state_dir, run_id, timeout, start, check_mode)
    try:
        with J.step_lock(state_dir, timeout=max(timeout, 600)):
            return _rollback(state_dir, run_id, timeout, start, check_mode)
    except J.JournalError as exc:
        raise CutoverError(f"rollback of run {run_id}: {exc.msg}") from None


def _rollback(state_dir, run_id, timeout, start, check_mode):
    journal = _journal(state_dir, run_id)
    if journal.get("phase") == "done":
        raise CutoverError(
            f"run {run_id} finished on this master and its restore was verified: there is"
            " nothing to roll back. To go back to older data, restore an older backup"
        )
    names = _names(journal)
    restored = paths(names["data_dir"], names["stamp"])
    if journal.get("phase") == "rolled-back":
        return {
            "changed": False,
            "steps": [],
            "failed_kept": (journal.get("details") or {}).get("failed_kept"),
            "waited": 0,
            "msg": f"run {run_id} was already rolled back here",
        }
    data_touched = os.path.lexists(restored["aside"]) or os.path.isfile(restored["marker"])
    pods_may_run_new = data_touched and os.path.isdir(names["manifests_dir"])
    steps = []
    if pods_may_run_new:
        steps.append(f"stop the static pods ({names['manifests_dir']} aside)")
    steps.append(f"put the old member back in {restored['member']}")
    if start:
        steps.append(f"put the manifests back in {names['manifests_dir']}")
    if check_mode:
        return {
            "changed": True,
            "steps": steps,
            "failed_kept": None,
            "waited": 0,
            "msg": "would " + "; ".join(steps),
        }
    waited = 0.0
    try:
        _record(state_dir, run_id, "rolling-back")
        if pods_may_run_new:
            waited += stop_pods(names["manifests_dir"], names["stamp"], timeout=timeout)["waited"]
        undone = swap_out(names["data_dir"], names["stamp"])
        if start and os.path.isdir(names["manifests_aside"]):
            waited += start_pods(
                names["manifests_dir"],
                names["manifests_aside"],
                wait_ports=names["peer_ports"],
                timeout=timeout,
            )["waited"]
        own = copy_dir(state_dir, journal)
        if os.path.isdir(own):
            shutil.rmtree(own)
        _record(
            state_dir,
            run_id,
            "rolled-back",
            outcome="rolled-back",
            details={"failed_kept": undone["failed_kept"]},
        )
    except (RestoreError, StaticPodsError, J.JournalError) as exc:
        raise CutoverError(
            f"rollback of run {run_id} stopped: {exc.msg}; fix that and run"
            " playbooks/restore-rollback.yml again (it goes on from the journal)",
            **getattr(exc, "details", {}),
        ) from None
    return {
        "changed": True,
        "steps": steps,
        "failed_kept": undone["failed_kept"],
        "waited": round(waited, 3),
        "msg": "; ".join(steps),
    }
