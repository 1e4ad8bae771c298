# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""Stop and start a master's static pods the kubeadm way: move the manifests directory.

The kubelet runs whatever manifest sits in ``/etc/kubernetes/manifests`` and stops a
pod when its file leaves. ``stop`` renames the whole directory to
``<manifests_dir>.kubedr-<stamp>`` (a rename inside one directory: atomic, nothing is
copied or deleted) and waits until the pods are really gone:

* by the container runtime when one answers (``crictl ps -o json``, else
  ``docker ps``), matching container names; else by processes (``/proc/*/cmdline``
  against regular expressions);
* and, always, until no socket listens on the control-plane ports (``/proc/net/tcp``
  and ``tcp6``, plus a connect to 127.0.0.1).

``start`` renames the moved-aside directory back and can wait until ports listen.
The process and socket readers are shared with ``_restore`` (an etcd still running
on a data dir).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time

from ansible_collections.kubedr.etcd.plugins.module_utils._files import fsync_dir as _fsync_dir
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    check_stamp as _check_stamp,
)

DEFAULT_CONTAINERS = ("etcd", "kube-apiserver")
DEFAULT_PORTS = (2379, 2380, 6443)
# argv[0] is an executable named etcd / kube-apiserver (any directory)
DEFAULT_PROCESS_PATTERNS = (r"^(\S*/)?etcd(\s|$)", r"^(\S*/)?kube-apiserver(\s|$)")
RUNTIME_TIMEOUT = 10
NAMESPACE = "kube-system"  # static pods of kubeadm live there
_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
_TCP_LISTEN = "0A"
_COMMAND_LIMIT = 300


class StaticPodsError(Exception):
    """A refusal or a timeout; ``msg`` says what and how to go on, ``details`` the state."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


# --------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------


def check_stamp(stamp):
    """_snapshot.check_stamp, raising StaticPodsError."""
    try:
        return _check_stamp(stamp)
    except ValueError as exc:
        raise StaticPodsError(str(exc)) from None


def aside_path(manifests_dir, stamp):
    """Where ``stop`` moves the manifests directory: ``<manifests_dir>.kubedr-<stamp>``."""
    return f"{os.path.normpath(manifests_dir)}.kubedr-{check_stamp(stamp)}"


def _absolute(path, option):
    if not path or not os.path.isabs(str(path)):
        raise StaticPodsError(f"{option}={path!r} is not an absolute path; give one")
    return os.path.normpath(str(path))


# --------------------------------------------------------------------------
# Processes and sockets (/proc)
# --------------------------------------------------------------------------


def processes(proc_root="/proc"):
    """Every process but this one: [{'pid', 'argv'}]. Kernel threads, zombies and
    processes that exit while being read (empty command lines) are left out."""
    own = os.getpid()
    result = []
    try:
        entries = os.listdir(proc_root)
    except OSError:
        return result
    for entry in entries:
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            with open(os.path.join(proc_root, entry, "cmdline"), "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        argv = [part.decode("utf-8", "replace") for part in raw.split(b"\0")]
        while argv and argv[-1] == "":
            argv.pop()
        if argv:
            result.append({"pid": int(entry), "argv": argv})
    return sorted(result, key=lambda item: item["pid"])


def command_line(argv, limit=_COMMAND_LIMIT):
    text = shlex.join(argv)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compile_patterns(patterns):
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise StaticPodsError(
                f"process_patterns: {pattern!r} is not a regular expression ({exc});"
                " give Python regular expressions matched against 'argv0 arg1 ...'"
            ) from None
    return compiled


def matching_processes(patterns, proc_root="/proc"):
    """Processes whose command line (argv joined by spaces) matches one of ``patterns``
    (compiled or text regular expressions, searched): [{'pid', 'command'}]."""
    compiled = [p if hasattr(p, "search") else re.compile(p) for p in patterns]
    found = []
    for proc in processes(proc_root):
        joined = " ".join(proc["argv"])
        if any(pattern.search(joined) for pattern in compiled):
            found.append({"pid": proc["pid"], "command": command_line(proc["argv"])})
    return found


def _rows(text, state):
    """The split rows of a /proc/net/tcp or tcp6 table in ``state`` (hex, as written)."""
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[3] == state:
            yield fields


def parse_proc_net_tcp(text):
    """LISTEN sockets in a /proc/net/tcp or tcp6 table: [(port, inode)]."""
    result = []
    for fields in _rows(text, _TCP_LISTEN):
        try:
            result.append((int(fields[1].rsplit(":", 1)[1], 16), int(fields[9])))
        except (IndexError, ValueError):
            continue
    return result


def _address(field):
    """'0100007F:0950' (as /proc/net/tcp writes it) -> ('127.0.0.1', 2384); IPv4 mapped
    into IPv6 comes back as IPv4."""
    host, port = field.rsplit(":", 1)
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        address = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        address = socket.inet_ntop(socket.AF_INET6, words)
        if address.startswith("::ffff:") and "." in address:
            address = address[len("::ffff:") :]
    return address, int(port, 16)


def _tables(proc_root):
    """The text of this network namespace's /proc/net/tcp and tcp6 that can be read."""
    for table in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc_root, "net", table)) as handle:
                yield handle.read()
        except OSError:
            continue


def listening_sockets(proc_root="/proc"):
    """{port: {inode, ...}} of TCP (v4 and v6) listening sockets of this network
    namespace, or None when neither table can be read."""
    found, readable = {}, False
    for text in _tables(proc_root):
        readable = True
        for port, inode in parse_proc_net_tcp(text):
            found.setdefault(port, set()).add(inode)
    return found if readable else None


def connects(port, host="127.0.0.1", timeout=0.5):
    """True when a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def open_ports(ports, proc_root="/proc"):
    """The ports of ``ports`` that listen: {port: {inode, ...}} (an empty set when only
    the connect to 127.0.0.1 found it)."""
    table = listening_sockets(proc_root) or {}
    result = {}
    for port in ports:
        if port in table:
            result[port] = set(table[port])
        elif connects(port):
            result[port] = set()
    return result


def socket_owners(inodes, proc_root="/proc"):
    """{inode: pid} for the sockets in ``inodes`` whose owner can be read."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    owners = {}
    if not wanted:
        return owners
    for proc in processes(proc_root):
        fd_dir = os.path.join(proc_root, str(proc["pid"]), "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target in wanted:
                owners.setdefault(wanted[target], proc["pid"])
    return owners


# --------------------------------------------------------------------------
# Container runtimes
# --------------------------------------------------------------------------


def _run(argv, timeout=RUNTIME_TIMEOUT):
    """(rc, stdout, stderr); rc None when the command could not run or timed out."""
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "", f"did not answer in {timeout} s"
    except OSError as exc:
        return None, "", str(exc.strerror or exc)
    return (
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


def crictl_argv(crictl):
    return [crictl, "ps", "-o", "json"]


def docker_argv(docker):
    return [docker, "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]


def parse_crictl_ps(text, names, namespace=NAMESPACE):
    """Running containers named one of ``names`` in ``crictl ps -o json``, of pods in
    ``namespace`` (when the runtime labels it): [{'id', 'name'}]."""
    data = json.loads(text or "{}")
    found = []
    for container in data.get("containers") or []:
        name = (container.get("metadata") or {}).get("name")
        state = container.get("state", "CONTAINER_RUNNING")
        pod_namespace = (container.get("labels") or {}).get(_NAMESPACE_LABEL, namespace)
        if name in names and state == "CONTAINER_RUNNING" and pod_namespace == namespace:
            found.append({"id": str(container.get("id", ""))[:13], "name": name})
    return found


def parse_docker_ps(text, names, namespace=NAMESPACE):
    """Containers named one of ``names`` of pods in ``namespace`` in ``docker ps`` lines
    'ID NAME'; the kubelet names them k8s_<container>_<pod>_<namespace>_<uid>_<attempt>:
    [{'id', 'name'}]."""
    found = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        container_id, full = parts[0], parts[1].lstrip("/")
        pieces = full.split("_")
        if (
            len(pieces) >= 4
            and pieces[0] == "k8s"
            and pieces[1] in names
            and pieces[3] == namespace
        ):
            found.append({"id": container_id[:13], "name": pieces[1]})
    return found


def choose_method(search_path=None):
    """How to see the static pods: ('crictl' | 'docker', path) when that runtime answers,
    else ('processes', None); plus notes on runtimes that are present but do not answer."""
    notes = []
    for tool, argv_for in (("crictl", crictl_argv), ("docker", docker_argv)):
        path = shutil.which(tool, path=search_path)
        if not path:
            continue
        rc, out, err = _run(argv_for(path))
        if rc == 0:
            if tool == "crictl":
                try:
                    parse_crictl_ps(out, ())
                except ValueError:
                    notes.append(f"{path} printed no JSON for 'ps -o json'; not used")
                    continue
            return tool, path, notes
        why = (err.strip().splitlines() or [f"rc={rc}"])[-1]
        notes.append(f"{path} does not answer ({why}); not used")
    return "processes", None, notes


def running_containers(method, tool, names):
    """[{'id', 'name'}] of running containers named in ``names``; raises
    StaticPodsError when the runtime does not answer."""
    argv = crictl_argv(tool) if method == "crictl" else docker_argv(tool)
    rc, out, err = _run(argv)
    if rc != 0:
        why = (err.strip().splitlines() or [f"rc={rc}"])[-1]
        raise StaticPodsError(f"{shlex.join(argv)} failed: {why}")
    try:
        if method == "crictl":
            return parse_crictl_ps(out, names)
        return parse_docker_ps(out, names)
    except ValueError:
        raise StaticPodsError(f"{shlex.join(argv)} printed no JSON: {out[:200]!r}") from None


# --------------------------------------------------------------------------
# What still runs
# --------------------------------------------------------------------------


def what_runs(method, tool, names, patterns, ports, proc_root="/proc"):
    """{'containers': [...], 'processes': [...], 'ports': [{'port', 'pid'}], 'errors': [...]}.

    Containers when ``method`` is a runtime, else processes; ports always.
    """
    state = {"containers": [], "processes": [], "ports": [], "errors": []}
    if method in ("crictl", "docker"):
        try:
            state["containers"] = running_containers(method, tool, names)
        except StaticPodsError as exc:
            state["errors"].append(exc.msg)
    else:
        state["processes"] = matching_processes(patterns, proc_root)
    listening = open_ports(ports, proc_root)
    if listening:
        owners = socket_owners(set().union(*listening.values()), proc_root)
        for port in sorted(listening):
            pids = sorted({owners[i] for i in listening[port] if i in owners})
            state["ports"].append({"port": port, "pid": pids[0] if pids else None})
    return state


def is_clear(state):
    return not (state["containers"] or state["processes"] or state["ports"] or state["errors"])


def describe(state):
    """'etcd (pid 12: etcd --data-dir=...); port 2379 (pid 12)' for a message."""
    parts = [f"container {c['name']} ({c['id']})" for c in state["containers"]]
    parts += [f"pid {p['pid']}: {p['command']}" for p in state["processes"]]
    parts += [
        f"port {p['port']} listening" + (f" (pid {p['pid']})" if p["pid"] else "")
        for p in state["ports"]
    ]
    parts += [f"cannot tell: {error}" for error in state["errors"]]
    return "; ".join(parts) or "nothing"


def wait_until_gone(method, tool, names, patterns, ports, timeout, poll=0.5, proc_root="/proc"):
    """Seconds waited until nothing of ``what_runs`` is left; on timeout raises
    StaticPodsError with the last state in ``details['running']``."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        state = what_runs(method, tool, names, patterns, ports, proc_root)
        if is_clear(state):
            return round(time.monotonic() - start, 3)
        if time.monotonic() >= deadline:
            raise StaticPodsError(
                f"still running after {timeout} s: {describe(state)}", running=state
            )
        time.sleep(poll)


def wait_until_listening(ports, timeout, poll=0.5, proc_root="/proc"):
    """Seconds waited until every port of ``ports`` listens; StaticPodsError on timeout
    with ``details['not_listening']``."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        missing = [port for port in ports if port not in open_ports([port], proc_root)]
        if not missing:
            return round(time.monotonic() - start, 3)
        if time.monotonic() >= deadline:
            raise StaticPodsError(
                f"ports {', '.join(map(str, missing))} not listening after {timeout} s",
                not_listening=missing,
            )
        time.sleep(poll)


# --------------------------------------------------------------------------
# Directories
# --------------------------------------------------------------------------


def _rename(source, target):
    try:
        os.rename(source, target)
    except OSError as exc:
        raise StaticPodsError(
            f"cannot move {source} to {target}: {exc.strerror or exc}; nothing was moved"
        ) from None
    _fsync_dir(os.path.dirname(target))


def same_tree(left, right):
    """True when two directories hold the same names, and regular files with the same
    bytes (symbolic links: the same target)."""
    try:
        names = sorted(os.listdir(left))
        if names != sorted(os.listdir(right)):
            return False
    except OSError:
        return False
    for name in names:
        a, b = os.path.join(left, name), os.path.join(right, name)
        if os.path.islink(a) or os.path.islink(b):
            if not (os.path.islink(a) and os.path.islink(b)) or os.readlink(a) != os.readlink(b):
                return False
        elif os.path.isdir(a) and os.path.isdir(b):
            if not same_tree(a, b):
                return False
        elif os.path.isfile(a) and os.path.isfile(b):
            with open(a, "rb") as fa, open(b, "rb") as fb:
                if fa.read() != fb.read():
                    return False
        else:
            return False
    return True


def _is_empty_dir(path):
    return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)


# --------------------------------------------------------------------------
# Stop / start
# --------------------------------------------------------------------------


def stop(
    manifests_dir,
    stamp,
    names=DEFAULT_CONTAINERS,
    ports=DEFAULT_PORTS,
    process_patterns=DEFAULT_PROCESS_PATTERNS,
    timeout=120,
    check_mode=False,
    search_path=None,
    proc_root="/proc",
    poll=0.5,
):
    """Move ``manifests_dir`` aside and wait until the pods are gone.

    Returns {'changed', 'moved_to', 'waited', 'method', 'running' (check mode: what
    runs now), 'notes', 'msg'}; raises StaticPodsError on a refusal or timeout.
    """
    manifests_dir = _absolute(manifests_dir, "manifests_dir")
    aside = aside_path(manifests_dir, stamp)
    patterns = compile_patterns(process_patterns)
    ports = [int(port) for port in ports]
    rollback = f"mv {shlex.quote(aside)} {shlex.quote(manifests_dir)}"
    notes = []

    present, aside_present = os.path.lexists(manifests_dir), os.path.lexists(aside)
    remove_duplicate = False
    if present and aside_present:
        if _is_empty_dir(manifests_dir):
            present = False
            notes.append(f"{manifests_dir} exists but is empty; the manifests are in {aside}")
        elif os.path.isdir(aside) and same_tree(manifests_dir, aside):
            remove_duplicate = True
        else:
            raise StaticPodsError(
                f"{aside} already exists and differs from {manifests_dir}; never overwriting"
                f" it. Look at both, move {aside} elsewhere (or use another stamp), then run"
                " again"
            )
    if present and not os.path.isdir(manifests_dir):
        raise StaticPodsError(f"manifests_dir={manifests_dir} is not a directory")

    method, tool, method_notes = choose_method(search_path)
    notes += method_notes
    if not present and not aside_present:
        notes.append(f"neither {manifests_dir} nor {aside} exists: nothing to move")
    moved_to = aside if (present or aside_present) else None
    changed = present

    if check_mode:
        state = what_runs(method, tool, names, patterns, ports, proc_root)
        action = (
            f"would move {manifests_dir} to {aside}"
            if present
            else f"the manifests are already in {aside}"
            if aside_present
            else f"nothing to move ({manifests_dir} does not exist)"
        )
        return {
            "changed": changed,
            "moved_to": moved_to,
            "waited": 0,
            "method": method,
            "running": state,
            "notes": notes,
            "msg": f"{action}, then wait up to {timeout} s until this is gone: {describe(state)}",
        }

    if remove_duplicate:
        # aside holds the very same files: taking manifests_dir away loses nothing
        try:
            shutil.rmtree(manifests_dir)
        except OSError as exc:
            raise StaticPodsError(
                f"{aside} holds the same manifests as {manifests_dir}, but removing that"
                f" copy failed: {exc.strerror or exc}"
            ) from None
        _fsync_dir(os.path.dirname(manifests_dir))
        notes.append(f"{aside} already held the same manifests; removed the copy {manifests_dir}")
    elif present:
        _rename(manifests_dir, aside)
    try:
        waited = wait_until_gone(method, tool, names, patterns, ports, timeout, poll, proc_root)
    except StaticPodsError as exc:
        where = (
            f"the manifests are in {aside}; to roll back: {rollback}"
            if moved_to
            else f"{manifests_dir} does not exist: something else runs these"
        )
        raise StaticPodsError(
            f"{exc.msg}; {where}", running=exc.details.get("running"), moved_to=moved_to
        ) from None
    return {
        "changed": changed,
        "moved_to": moved_to,
        "waited": waited,
        "method": method,
        "notes": notes,
        "msg": (f"moved {manifests_dir} to {aside}" if changed else "nothing moved")
        + f"; the static pods are gone (checked by {method}, after {waited} s)",
    }


def start(
    manifests_dir,
    aside_dir,
    wait_ports=(),
    timeout=120,
    check_mode=False,
    proc_root="/proc",
    poll=0.5,
):
    """Move ``aside_dir`` back to ``manifests_dir``; optionally wait for ports to listen.

    Returns {'changed', 'moved_from', 'moved_to', 'waited', 'notes', 'msg'}.
    """
    manifests_dir = _absolute(manifests_dir, "manifests_dir")
    aside = _absolute(aside_dir, "aside_dir")
    if aside == manifests_dir:
        raise StaticPodsError(f"aside_dir and manifests_dir are both {aside}")
    wait_ports = [int(port) for port in wait_ports]
    notes = []
    present, aside_present = os.path.lexists(manifests_dir), os.path.lexists(aside)
    remove_empty = False

    if aside_present:
        if not os.path.isdir(aside):
            raise StaticPodsError(f"aside_dir={aside} is not a directory")
        if present:
            if not _is_empty_dir(manifests_dir):
                raise StaticPodsError(
                    f"{manifests_dir} exists and is not empty, and {aside} is there too:"
                    " moving it back would make the kubelet run two sets of static pods."
                    f" Compare them and move one away (never both into {manifests_dir}),"
                    " then run again"
                )
            remove_empty = True
    elif not present:
        raise StaticPodsError(
            f"neither {manifests_dir} nor {aside} exists: nothing to start. Pass aside_dir="
            "<the moved-aside manifests directory> (or the stamp used to stop)"
        )
    elif _is_empty_dir(manifests_dir):
        notes.append(f"{manifests_dir} is empty: no static pod will start")
    changed = aside_present

    if check_mode:
        action = (
            f"would move {aside} back to {manifests_dir}"
            if changed
            else f"{manifests_dir} is in place and {aside} does not exist"
        )
        if wait_ports:
            action += f", then wait up to {timeout} s for ports {wait_ports}"
        return {
            "changed": changed,
            "moved_from": aside if changed else None,
            "moved_to": manifests_dir,
            "waited": 0,
            "notes": notes,
            "msg": action,
        }

    if remove_empty:
        try:
            os.rmdir(manifests_dir)
        except OSError as exc:
            raise StaticPodsError(
                f"cannot remove the empty {manifests_dir}: {exc.strerror or exc}"
            ) from None
        notes.append(f"removed the empty {manifests_dir} first")
    if changed:
        _rename(aside, manifests_dir)
    waited = 0
    if wait_ports:
        try:
            waited = wait_until_listening(wait_ports, timeout, poll, proc_root)
        except StaticPodsError as exc:
            raise StaticPodsError(
                f"{exc.msg}; the manifests are back in {manifests_dir}: see the kubelet's log"
                " and the pods' logs (crictl ps -a; crictl logs <id>) for why",
                moved_to=manifests_dir,
                **exc.details,
            ) from None
    return {
        "changed": changed,
        "moved_from": aside if changed else None,
        "moved_to": manifests_dir,
        "waited": waited,
        "notes": notes,
        "msg": (f"moved {aside} back to {manifests_dir}" if changed else "nothing moved")
        + (f"; ports {wait_ports} listen after {waited} s" if wait_ports else ""),
    }
