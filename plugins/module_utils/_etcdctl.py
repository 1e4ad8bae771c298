# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters, inside modules and
# in the standalone scheduled backup script.
"""Run etcdctl / etcdutl and read what they print.

* ``client_env``: the ``ETCDCTL_*`` environment for a client command. TLS files and
  endpoints always go through the environment, never through argv.
* ``run`` / ``check``: run an argv list (never a shell) in its own process group,
  killed as a whole on timeout.
* ``parse_*``: turn ``-w json`` output into plain dicts with snake_case keys. Member
  and cluster IDs become the lowercase 16-digit hex strings etcdctl's tables show
  (``7cc83eb522e18dda``); JSON has them as uint64 numbers.
* ``*_argv``: command lines. ``snapshot_restore_argv`` also chooses the tool
  (etcdctl for etcd 3.3/3.4, etcdutl for 3.5+) and checks --bump-revision support.
* ``choose_healthy_endpoint``: the member to take a snapshot from.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import time
from urllib.parse import urlsplit

from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_tools import (
    _BUMP_REVISION_SINCE,
    choose_restore_tool,
    supports_bump_revision,
    version_tuple,
)


class EtcdctlError(Exception):
    """An etcd tool failed or printed something unusable; ``msg`` says which and why."""

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None):
        super().__init__(msg)
        self.msg = msg
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


class EtcdctlTimeout(EtcdctlError):
    """The command did not finish in time; its whole process group was killed."""


# --------------------------------------------------------------------------
# Running commands
# --------------------------------------------------------------------------


def client_env(endpoints, cacert, cert, key, dial_timeout="3s", command_timeout="10s"):
    """Environment for an etcdctl client command (merge it over os.environ).

    ``endpoints``: a list of URLs or one comma-separated string. ``cacert``,
    ``cert`` and ``key`` are file paths; a ``None`` one is left out (plain http).
    """
    if isinstance(endpoints, str):
        endpoints = [part.strip() for part in endpoints.split(",")]
    endpoints = [str(endpoint) for endpoint in endpoints if endpoint]
    if not endpoints:
        raise EtcdctlError("no etcd endpoint given: pass at least one https://host:2379 URL")
    env = {
        "ETCDCTL_API": "3",
        "ETCDCTL_ENDPOINTS": ",".join(endpoints),
        "ETCDCTL_DIAL_TIMEOUT": str(dial_timeout),
        "ETCDCTL_COMMAND_TIMEOUT": str(command_timeout),
    }
    for name, value in (("ETCDCTL_CACERT", cacert), ("ETCDCTL_CERT", cert), ("ETCDCTL_KEY", key)):
        if value:
            env[name] = str(value)
    return env


def _seconds(timeout):
    return f"{timeout:g}s" if isinstance(timeout, (int, float)) else str(timeout)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass


def run(argv, env=None, timeout=None, cwd=None, raw=False):
    """Run ``argv`` and return ``(rc, stdout, stderr)`` as text (``raw``: stdout as bytes,
    for ``-w protobuf``).

    ``env`` is merged over os.environ. The process runs in its own session, so on
    timeout (seconds) the whole group is killed and EtcdctlTimeout raised.
    A negative rc means the process died from that signal.
    """
    argv = [str(arg) for arg in argv]
    cmd = shlex.join(argv)
    full_env = dict(os.environ)
    if env:
        full_env.update({name: str(value) for name, value in env.items()})
    if cwd is not None and not os.path.isdir(cwd):
        raise EtcdctlError(f"cannot run {argv[0]}: directory {cwd} does not exist", cmd=cmd)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise EtcdctlError(f"cannot run {argv[0]}: not found", cmd=cmd) from None
    except PermissionError:
        raise EtcdctlError(f"cannot run {argv[0]}: permission denied", cmd=cmd) from None
    except OSError as exc:
        raise EtcdctlError(f"cannot run {argv[0]}: {exc.strerror or exc}", cmd=cmd) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise EtcdctlTimeout(
            f"'{cmd}' did not finish in {_seconds(timeout)}; is the endpoint hanging?",
            cmd=cmd,
            rc=None,
            stdout=_text(out),
            stderr=_text(err),
        ) from None
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    return proc.returncode, (out or b"") if raw else _text(out), _text(err)


def _text(data):
    return (data or b"").decode("utf-8", errors="replace")


# Known failures and what to do about them, appended to the error message.
_HINTS = (
    (
        "snapshot missing hash",
        "the file has no sha256 trailer: it is not a file written by `snapshot save`"
        " (a copy of member/snap/db needs skip_hash_check), or it was truncated",
    ),
    (
        "certificate signed by unknown authority",
        "the CA file does not match the etcd server certificate",
    ),
    (
        "context deadline exceeded",
        "the endpoint did not answer in time: is etcd running and reachable,"
        " and are the client certificate and key right?",
    ),
)


def _is_log_line(line):
    """A zap log line (JSON or console format) below error level, or a notice."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return isinstance(record, dict) and record.get("level") in ("debug", "info", "warn")
    fields = line.split("\t")
    if len(fields) > 2 and fields[1] in ("debug", "info", "warn"):
        return True
    return line.startswith("Deprecated:")


def error_summary(stderr, stdout="", limit=3):
    """The last meaningful lines of a failed command: no log noise, no usage text."""
    text = stderr if (stderr or "").strip() else (stdout or "")
    lines, in_usage = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Error:"):
            in_usage = False
        elif line in ("NAME:", "Usage:", "USAGE:"):
            in_usage = True
        if not line or in_usage or _is_log_line(line):
            continue
        if line not in lines:
            lines.append(line)
    if not lines:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
    summary = "; ".join(lines[-limit:]) or "it printed nothing"
    for needle, hint in _HINTS:
        if needle in summary:
            summary += f" ({hint})"
            break
    return summary


def check(argv, env=None, timeout=None, what=None, raw=False):
    """Run ``argv``; return its stdout, or raise EtcdctlError when rc != 0.

    ``what`` names the operation in the message (default: the command line); ``raw``:
    stdout as bytes.
    """
    rc, out, err = run(argv, env=env, timeout=timeout, raw=raw)
    if rc != 0:
        cmd = shlex.join(str(arg) for arg in argv)
        status = f"was killed by signal {-rc}" if rc < 0 else f"failed (rc={rc})"
        out = _text(out) if raw else out
        raise EtcdctlError(
            f"{what or cmd} {status}: {error_summary(err, out)}",
            cmd=cmd,
            rc=rc,
            stdout=out,
            stderr=err,
        )
    return out


# --------------------------------------------------------------------------
# Parsing -w json output
# --------------------------------------------------------------------------


def parse_json(text, what):
    """The JSON document in ``text``, skipping preamble lines such as etcd 3.5's
    "Deprecated: Use `etcdutl ...` instead."; raise EtcdctlError naming ``what``.
    """
    text = text or ""
    decoder = json.JSONDecoder()
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                value, _unused = decoder.raw_decode(text, offset + len(line) - len(stripped))
            except ValueError:
                pass
            else:
                return value
        offset += len(line)
    shown = text.strip()[:300]
    raise EtcdctlError(
        f"{what}: expected JSON but got {shown!r}" if shown else f"{what}: printed nothing",
        stdout=text,
    )


def format_id(value):
    """uint64 member/cluster ID (number or decimal string) -> '7cc83eb522e18dda'."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not an etcd ID")
    number = int(value)
    if not 0 <= number < 1 << 64:
        raise ValueError(f"{value!r} is not an etcd ID (uint64)")
    return f"{number:016x}"


def _field(record, path, what):
    value = record
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise EtcdctlError(f"{what}: no '{path}' in {json.dumps(record)[:300]}")
        value = value[key]
    return value


def _id_field(record, path, what):
    try:
        return format_id(_field(record, path, what))
    except ValueError as exc:
        raise EtcdctlError(f"{what}: '{path}': {exc}") from None


def _json_list(text, what):
    data = parse_json(text, what)
    if not isinstance(data, list):
        raise EtcdctlError(f"{what}: expected a JSON list, got {json.dumps(data)[:300]}")
    return data


def _json_object(text, what):
    data = parse_json(text, what)
    if not isinstance(data, dict):
        raise EtcdctlError(f"{what}: expected a JSON object, got {json.dumps(data)[:300]}")
    return data


def parse_member_list(text):
    """``etcdctl member list -w json`` -> {'cluster_id', 'members': [{'id', 'name',
    'peer_urls', 'client_urls', 'is_learner', 'started'}]}.

    A member added but never started has no name and no client URLs (started False).
    """
    what = "etcdctl member list -w json"
    data = _json_object(text, what)
    members = []
    for member in data.get("members") or []:
        name = member.get("name") or ""
        client_urls = list(member.get("clientURLs") or [])
        members.append(
            {
                "id": _id_field(member, "ID", what),
                "name": name,
                "peer_urls": list(member.get("peerURLs") or []),
                "client_urls": client_urls,
                "is_learner": bool(member.get("isLearner", False)),
                "started": bool(name and client_urls),
            }
        )
    return {"cluster_id": _id_field(data, "header.cluster_id", what), "members": members}


def parse_endpoint_status(text):
    """``etcdctl endpoint status -w json`` -> one dict per endpoint that answered."""
    what = "etcdctl endpoint status -w json"
    result = []
    for item in _json_list(text, what):
        status = _field(item, "Status", what)
        member_id = _id_field(status, "header.member_id", what)
        leader = _id_field(status, "leader", what)
        result.append(
            {
                "endpoint": _field(item, "Endpoint", what),
                "member_id": member_id,
                "cluster_id": _id_field(status, "header.cluster_id", what),
                "version": _field(status, "version", what),
                "db_size": int(status.get("dbSize", 0)),
                "db_size_in_use": int(status.get("dbSizeInUse", 0)),
                "leader": leader,
                "is_leader": member_id == leader,
                "revision": int(status["header"].get("revision", 0)),
                "raft_index": int(status.get("raftIndex", 0)),
                "raft_term": int(status.get("raftTerm", 0)),
                "raft_applied_index": int(status.get("raftAppliedIndex", 0)),
                # alarms such as "etcdserver: mvcc: database space exceeded"
                "errors": list(status.get("errors") or []),
            }
        )
    return result


def parse_endpoint_health(text):
    """``etcdctl endpoint health -w json`` -> [{'endpoint', 'health', 'took', 'error'}]."""
    what = "etcdctl endpoint health -w json"
    result = []
    for item in _json_list(text, what):
        result.append(
            {
                "endpoint": _field(item, "endpoint", what),
                "health": item.get("health") is True,
                "took": item.get("took"),
                "error": item.get("error") or None,
            }
        )
    return result


def parse_endpoint_hashkv(text):
    """``etcdctl endpoint hashkv -w json`` -> [{'endpoint', 'member_id', 'hash',
    'revision', 'compact_revision'}]; equal hashes at one revision mean equal data."""
    what = "etcdctl endpoint hashkv -w json"
    result = []
    for item in _json_list(text, what):
        hashkv = _field(item, "HashKV", what)
        result.append(
            {
                "endpoint": _field(item, "Endpoint", what),
                "member_id": _id_field(hashkv, "header.member_id", what),
                "hash": int(_field(hashkv, "hash", what)),
                "revision": int(hashkv["header"].get("revision", 0)),
                "compact_revision": int(hashkv.get("compact_revision", 0)),
            }
        )
    return result


# etcd's AlarmType enum, as ``alarm list -w json`` prints it (a number; names accepted too)
ALARM_NAMES = {0: "NONE", 1: "NOSPACE", 2: "CORRUPT"}


def parse_alarm_list(text):
    """``etcdctl alarm list -w json`` -> [{'member_id', 'alarm'}] ('NOSPACE', 'CORRUPT');
    no alarm: [] (etcd then prints only the header)."""
    what = "etcdctl alarm list -w json"
    data = _json_object(text, what)
    result = []
    for alarm in data.get("alarms") or []:
        kind = alarm.get("alarm", 0) if isinstance(alarm, dict) else 0
        name = ALARM_NAMES.get(kind, str(kind)) if isinstance(kind, int) else str(kind)
        if name != "NONE":
            result.append({"member_id": _id_field(alarm, "memberID", what), "alarm": name})
    return result


def parse_member_add(text):
    """``etcdctl member add ... -w json`` -> {'id', 'peer_urls', 'is_learner', 'members'}
    (the new member's id in hex, and the member list as parse_member_list gives it)."""
    what = "etcdctl member add -w json"
    data = _json_object(text, what)
    added = _field(data, "member", what)
    return {
        "id": _id_field(added, "ID", what),
        "peer_urls": list(added.get("peerURLs") or []),
        "is_learner": bool(added.get("isLearner", False)),
        "members": parse_member_list(text)["members"],
    }


# what etcd answers a promotion of a learner whose log is not yet close to the leader's
# (ErrLearnerNotReady): a reason to wait and try again, not a failure
LEARNER_NOT_READY = "can only promote a learner member which is in sync with leader"
# what etcd answers a membership change (with --strict-reconfig-check, the default) until
# the member asked has been connected to every voting member for its health interval
# (5 s; ErrUnhealthy) - as just after it started, or after another change
UNHEALTHY_CLUSTER = "etcdserver: unhealthy cluster"
# what a change asked while the cluster elects a leader gets (the leader just died): the
# proposal is not committed in time; asked again after the election, it is
NO_LEADER_YET = (
    "etcdserver: request timed out",
    "etcdserver: leader changed",
    "etcdserver: no leader",
    "context deadline exceeded",
)


def check_retrying(argv, env, timeout, what, transient, poll=0.5, attempt_timeout=30):
    """stdout of ``argv`` once it succeeds; tried again, every ``poll`` seconds for up to
    ``timeout`` seconds, while it fails with one of the ``transient`` messages. Any other
    failure, or a transient one after ``timeout``, raises EtcdctlError."""
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        tries += 1
        try:
            return check(argv, env, min(attempt_timeout, max(1, timeout)), what)
        except EtcdctlError as exc:
            said = f"{exc.stderr or ''} {exc.msg}"
            if not any(message in said for message in transient):
                raise
            if time.monotonic() + poll > deadline:
                raise EtcdctlError(
                    f"{exc.msg} (still so after {tries} tries in {timeout} s)",
                    cmd=exc.cmd,
                    rc=exc.rc,
                    stdout=exc.stdout,
                    stderr=exc.stderr,
                ) from None
        time.sleep(poll)


def parse_snapshot_status(text):
    """``snapshot status -w json`` -> {'hash', 'revision', 'total_key', 'total_size'}."""
    what = "snapshot status -w json"
    data = _json_object(text, what)
    return {
        "hash": int(_field(data, "hash", what)),
        "revision": int(_field(data, "revision", what)),
        "total_key": int(_field(data, "totalKey", what)),
        "total_size": int(_field(data, "totalSize", what)),
    }


# --------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------


def _tool_path(tool):
    """A tool given as a path, or as {'path', 'version'} (kubedr_etcd_tools entries)."""
    path = tool.get("path") if isinstance(tool, dict) else tool
    if not path:
        raise EtcdctlError("no path given for the etcd tool")
    return str(path)


def _operand(path, what):
    path = str(path)
    if not path or path.startswith("-"):
        raise EtcdctlError(f"{what} {path!r} is not a usable path; give an absolute path")
    return path


def member_list_argv(etcdctl):
    return [_tool_path(etcdctl), "member", "list", "-w", "json"]


def alarm_list_argv(etcdctl):
    return [_tool_path(etcdctl), "alarm", "list", "-w", "json"]


def _member_id_operand(member_id):
    text = str(member_id)
    try:
        format_id(int(text, 16))
    except ValueError:
        raise EtcdctlError(f"{member_id!r} is not an etcd member id (16 hex digits)") from None
    return text


def member_remove_argv(etcdctl, member_id):
    """Remove a member by its id (hex, as the other parsers give it), never by name."""
    return [_tool_path(etcdctl), "member", "remove", _member_id_operand(member_id), "-w", "json"]


def member_add_learner_argv(etcdctl, name, peer_urls):
    """Add ``name`` as a learner (a non-voting member) with these peer URLs."""
    if not name or str(name).startswith("-"):
        raise EtcdctlError(f"{name!r} is not a usable etcd member name")
    urls = [str(url) for url in peer_urls or []]
    if not urls or any(not url or "," in url or url.startswith("-") for url in urls):
        raise EtcdctlError(f"{peer_urls!r} are not usable peer URLs for member {name}")
    return [
        _tool_path(etcdctl),
        "member",
        "add",
        str(name),
        "--learner",
        f"--peer-urls={','.join(urls)}",
        "-w",
        "json",
    ]


def member_promote_argv(etcdctl, member_id):
    """Promote a learner to a voting member; etcd refuses (LEARNER_NOT_READY) until its log
    is within reach of the leader's."""
    return [_tool_path(etcdctl), "member", "promote", _member_id_operand(member_id), "-w", "json"]


def _endpoint_argv(etcdctl, command, cluster):
    argv = [_tool_path(etcdctl), "endpoint", command, "-w", "json"]
    return [*argv, "--cluster"] if cluster else argv


def endpoint_status_argv(etcdctl, cluster=False):
    """When some endpoint does not answer, etcdctl exits 1, prints the JSON of those
    that did and "Failed to get the status of endpoint X (error)" on stderr."""
    return _endpoint_argv(etcdctl, "status", cluster)


def endpoint_health_argv(etcdctl, cluster=False):
    """etcdctl exits 1 when any endpoint is unhealthy but still prints the JSON with
    each endpoint's error: use run() (not check()) and parse stdout."""
    return _endpoint_argv(etcdctl, "health", cluster)


def endpoint_hashkv_argv(etcdctl, cluster=False):
    """Like endpoint status: rc 1 and partial JSON when some endpoint fails."""
    return _endpoint_argv(etcdctl, "hashkv", cluster)


def snapshot_save_argv(etcdctl, path):
    """Run it with a client_env naming exactly ONE endpoint (etcdctl refuses several)."""
    return [_tool_path(etcdctl), "snapshot", "save", _operand(path, "snapshot file")]


def _usable(tools, name):
    tool = (tools or {}).get(name)
    return tool if tool and tool.get("path") else None


def snapshot_status_argv(tools, path):
    """``snapshot status -w json`` with etcdutl when present, else etcdctl (< 3.6 only).

    ``tools``: {'etcdctl': {'path', 'version'} | None, 'etcdutl': {...} | None}.
    With etcdctl, run it with ETCDCTL_API=3 in the environment (client_env has it).
    """
    path = _operand(path, "snapshot file")
    etcdutl, etcdctl = _usable(tools, "etcdutl"), _usable(tools, "etcdctl")
    if etcdutl:
        return [_tool_path(etcdutl), "snapshot", "status", path, "-w", "json"]
    if etcdctl:
        version = etcdctl.get("version")
        if version and version_tuple(version)[:2] >= (3, 6):
            raise EtcdctlError(
                f"etcdctl {version} has no 'snapshot status' (removed in 3.6): etcdutl is"
                " needed; install etcdutl from the same etcd release and pass etcdutl_path"
            )
        return [_tool_path(etcdctl), "snapshot", "status", path, "-w", "json"]
    raise EtcdctlError("neither etcdutl nor etcdctl was found: cannot read the snapshot status")


def format_initial_cluster(initial_cluster):
    """'a=https://ip1:2380,b=...' from that string or a list of {name, peer_urls}."""
    if isinstance(initial_cluster, str):
        return initial_cluster.strip()
    parts = []
    for member in initial_cluster or []:
        name = member.get("name")
        urls = member.get("peer_urls")
        urls = [urls] if isinstance(urls, str) else list(urls or [])
        if not name or not urls:
            raise EtcdctlError(
                f"initial_cluster entry {member!r} needs a name and peer_urls: every member"
                " must be started and named (see etcdctl member list)"
            )
        parts.extend(f"{name}={url}" for url in urls)
    return ",".join(parts)


def _split_cluster(initial_cluster):
    """'a=u1,a=u2,b=u3' -> {'a': {'u1', 'u2'}, 'b': {'u3'}}."""
    members = {}
    for part in initial_cluster.split(","):
        name, sep, url = part.strip().partition("=")
        if not sep or not name or not url:
            raise EtcdctlError(
                f"initial_cluster {initial_cluster!r}: {part!r} is not name=peer-url"
            )
        members.setdefault(name, set()).add(url)
    return members


def _bump_needs(version):
    since = _BUMP_REVISION_SINCE.get(version_tuple(version)[:2])
    return ".".join(map(str, since)) if since else "3.4.27"


def snapshot_restore_argv(
    tools,
    snapshot,
    data_dir,
    name,
    initial_cluster,
    initial_advertise_peer_urls,
    initial_cluster_token,
    bump_revision=None,
    mark_compacted=False,
    skip_hash_check=False,
    etcd_version=None,
    tool=None,
):
    """The restore command for one member.

    ``tool``: the restore plan's choice for this master ({'name', 'path', 'version'}),
    carried out as it is. Without it the choice is made here the one way
    (``_etcd_tools.choose_restore_tool``) from ``tools`` and ``etcd_version`` (or,
    without a version, the newest tool present). ``bump_revision`` N > 0 adds
    ``--bump-revision N --mark-compacted`` (etcd requires the pair), or raises when the
    chosen tool is too old. ``mark_compacted`` without a bump is refused.

    Returns {'argv': [...], 'env': {...} (merge over os.environ), 'tool':
    'etcdctl' | 'etcdutl', 'path', 'version', 'bump_revision': N | None,
    'notes': [str]}.
    """
    notes = []
    if tool:
        if not isinstance(tool, dict) or tool.get("name") not in ("etcdctl", "etcdutl"):
            raise EtcdctlError(f"tool={tool!r}: give the plan's {{name, path, version}}")
        if not tool.get("path") or not tool.get("version"):
            raise EtcdctlError(f"tool={tool!r}: the path and the version are both needed")
        chosen_name, chosen = tool["name"], tool
    else:
        etcdutl, etcdctl = _usable(tools, "etcdutl"), _usable(tools, "etcdctl")
        target = etcd_version or next(
            (t["version"] for t in (etcdutl, etcdctl) if t and t.get("version")), None
        )
        if not target:
            found = [
                f"{n} at {t['path']}: version unknown ({t.get('error') or 'no version'})"
                for n, t in (("etcdutl", etcdutl), ("etcdctl", etcdctl))
                if t
            ]
            raise EtcdctlError(
                "cannot choose the restore tool: "
                + ("; ".join(found) if found else "neither etcdutl nor etcdctl was found")
            )
        try:
            chosen = choose_restore_tool(target, tools)
        except ValueError as exc:
            raise EtcdctlError(str(exc)) from None
        chosen_name = chosen["name"]
        notes += chosen["warnings"]
    version = chosen["version"]

    if isinstance(bump_revision, bool) or (
        bump_revision is not None and (not isinstance(bump_revision, int) or bump_revision < 0)
    ):
        raise EtcdctlError(f"bump_revision={bump_revision!r}: give a whole number above 0")
    bump = bump_revision or None
    if mark_compacted and not bump:
        raise EtcdctlError(
            "mark_compacted needs bump_revision: etcd allows --mark-compacted only with"
            " --bump-revision (usual value 1000000000)"
        )
    if bump and not supports_bump_revision(version):
        raise EtcdctlError(
            f"{chosen_name} {version} cannot --bump-revision (needs {_bump_needs(version)}+);"
            f" install {chosen_name} {_bump_needs(version)} or newer on the master, or restore"
            " without bump_revision and then restart every kube-apiserver, controller-manager,"
            " scheduler and kubelet so their watch caches do not miss changes"
        )

    cluster = format_initial_cluster(initial_cluster)
    if isinstance(initial_advertise_peer_urls, str):
        advertise = [url.strip() for url in initial_advertise_peer_urls.split(",")]
    else:
        advertise = [str(url) for url in initial_advertise_peer_urls or []]
    advertise = [url for url in advertise if url]
    if not name:
        raise EtcdctlError("the member name for the restore is empty")
    if not advertise:
        raise EtcdctlError(f"no initial_advertise_peer_urls given for member {name}")
    if not initial_cluster_token:
        raise EtcdctlError("initial_cluster_token is empty; use the same new token on all")
    listed = _split_cluster(cluster)
    if name not in listed:
        raise EtcdctlError(
            f"member {name} is not in initial_cluster {cluster}: the name must be the"
            " member's --name in the etcd manifest"
        )
    if set(advertise) != listed[name]:
        raise EtcdctlError(
            f"member {name}: initial_advertise_peer_urls {','.join(advertise)} differ from"
            f" its peer URLs in initial_cluster ({','.join(sorted(listed[name]))})"
        )
    if skip_hash_check:
        notes.append("--skip-hash-check: the snapshot's sha256 is not checked")

    argv = [
        _tool_path(chosen),
        "snapshot",
        "restore",
        _operand(snapshot, "snapshot file"),
        "--data-dir",
        _operand(data_dir, "data dir"),
        "--name",
        str(name),
        "--initial-cluster",
        cluster,
        "--initial-advertise-peer-urls",
        ",".join(advertise),
        "--initial-cluster-token",
        str(initial_cluster_token),
    ]
    if bump:
        argv += ["--bump-revision", str(bump), "--mark-compacted"]
    if skip_hash_check:
        argv.append("--skip-hash-check")
    return {
        "argv": argv,
        "env": {"ETCDCTL_API": "3"} if chosen_name == "etcdctl" else {},
        "tool": chosen_name,
        "path": _tool_path(chosen),
        "version": version,
        "bump_revision": bump,
        "notes": notes,
    }


# --------------------------------------------------------------------------
# Choosing a member
# --------------------------------------------------------------------------


def choose_healthy_endpoint(health, preferred=None):
    """``(endpoint, notes)``: ``preferred`` when healthy, else the first healthy one.

    ``health`` is parse_endpoint_health's list; ``notes`` name each unhealthy
    endpoint and its error. Raises EtcdctlError when none is healthy.
    """
    preferred = preferred.rstrip("/") if preferred else None
    healthy = [item["endpoint"] for item in health if item.get("health")]
    notes = [
        f"{item['endpoint']} skipped: {item.get('error') or 'unhealthy'}"
        for item in health
        if not item.get("health")
    ]
    if not healthy:
        errors = "; ".join(
            f"{item['endpoint']}: {item.get('error') or 'unhealthy'}" for item in health
        )
        raise EtcdctlError(f"no healthy etcd member: {errors or 'no endpoint answered'}")
    for endpoint in healthy:
        if preferred and endpoint.rstrip("/") == preferred:
            return endpoint, notes
    if preferred and not any(item["endpoint"].rstrip("/") == preferred for item in health):
        notes.append(f"{preferred} skipped: not among the endpoints checked")
    return healthy[0], notes


# --------------------------------------------------------------------------
# Telling TLS problems apart
# --------------------------------------------------------------------------


def diagnose_tls(endpoint, cacert, cert, key, timeout=3.0):
    """Why a TLS connection to ``endpoint`` with these files fails, or None.

    etcdctl reports a refused handshake as "context deadline exceeded"; this
    makes the same handshake with the ssl module so the message can say which
    file is wrong. Returns None when TLS is fine or the problem is not TLS.
    """
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not cacert:
        return None
    try:
        context = ssl.create_default_context(cafile=cacert)
        if cert:
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        return f"cannot load the TLS files ({cacert}, {cert}, {key}): {exc}"
    try:
        with socket.create_connection((parts.hostname, parts.port or 2379), timeout) as raw:
            with context.wrap_socket(raw, server_hostname=parts.hostname) as conn:
                conn.sendall(b"GET /health HTTP/1.0\r\nHost: etcd\r\n\r\n")
                conn.recv(64)
    except ssl.SSLCertVerificationError as exc:
        return (
            f"TLS: {endpoint} presents a certificate that {cacert} does not verify"
            f" ({exc.verify_message}); use the cluster's etcd CA"
        )
    except ssl.SSLError as exc:
        return (
            f"TLS: {endpoint} refused the client certificate {cert} ({exc.reason or exc});"
            " use a client certificate signed by the cluster's etcd CA"
        )
    except OSError:
        return None
    return None
