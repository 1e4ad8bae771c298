# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters, on drill hosts, inside
# modules and in the standalone scheduled backup script.
"""What a cluster held at one revision, in a form a restored copy is compared with exactly.

A backup's fingerprint is taken on the live member right after ``snapshot save``, at the
snapshot's revision R:

* ``hashkv``: etcd's own hash of its key-value store at R (``endpoint hashkv --rev R``),
  and the compaction revision it covered. etcd computes it from the MVCC history kept
  since the last compaction. A restore WITHOUT ``--bump-revision`` keeps every revision
  and the compaction mark, so a member restored from the snapshot gives the same hash at
  R (tests/unit/plugins/module_utils/test_fingerprint.py proves it on etcd 3.4 and 3.5).
  When the live cluster is compacted between the save and the fingerprint, its hash at R
  covers less history than the snapshot: the two compaction revisions differ, and
  ``compare`` says so instead of reporting different data.
* ``keys``: the number of keys at R per Kubernetes resource under ``/registry/``
  (``pods``, ``secrets``, ``apiregistration.k8s.io/apiservices``, ...), other keys under
  ``(other)``, read a page at a time (keys only, never values).

``compare(recorded, found)`` lists every difference; empty means equal.

``take`` asks for the hash while it counts the keys (a thread of its own waits for
``endpoint hashkv``): the member hashes while etcdctl lists keys.

``keys_as_recorded`` answers, for a drill's own etcd (plain HTTP on loopback), whether the
key counts at R equal those recorded without listing a key: a few count-only range
requests over etcd's JSON gateway. When they differ, the drill counts key by key (as
``take`` does) to name each difference.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    check,
    endpoint_hashkv_argv,
    parse_endpoint_hashkv,
)

FORMAT = "kubedr.etcd/fingerprint/v1"
REGISTRY = "/registry/"
OTHER = "(other)"
PAGE = 50000  # keys per read: ~0.2 s less than 10 000 at 85 000 keys, same peak RSS (protobuf)


class FingerprintError(Exception):
    """The fingerprint could not be taken; the message says where and why."""


def resource_of(key):
    """The Kubernetes resource a key belongs to: '/registry/pods/ns/p' -> 'pods',
    '/registry/apiregistration.k8s.io/apiservices/v1.x' -> 'apiregistration.k8s.io/apiservices'
    (a group has a dot), anything outside /registry/ -> '(other)'. ``key``: bytes or str."""
    if isinstance(key, bytes):
        key = key.decode("utf-8", "surrogateescape")
    if not key.startswith(REGISTRY):
        return OTHER
    parts = key[len(REGISTRY) :].split("/")
    if not parts[0]:
        return OTHER
    if "." in parts[0] and len(parts) > 2:
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def _arg(key):
    """A key (bytes) as an argv element that becomes those same bytes again."""
    return key.decode("utf-8", "surrogateescape")


def keys_page_argv(etcdctl, start, revision, limit=PAGE):
    """``get`` of up to ``limit`` keys (no values) at ``revision`` from ``start`` (bytes,
    inclusive) to the end of the key space, as etcd's RangeResponse (``-w protobuf``: a
    third less time than ``-w json`` for etcdctl and for us, measured at 85 000 keys)."""
    path = etcdctl.get("path") if isinstance(etcdctl, dict) else etcdctl
    return [
        str(path),
        "get",
        _arg(start),
        "--from-key",
        "--keys-only",
        f"--rev={int(revision)}",
        f"--limit={int(limit)}",
        "-w",
        "protobuf",
    ]


def _varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise EtcdctlError("etcdctl get -w protobuf: a truncated or malformed answer")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(data, pos, end):
    """(number, wire type, value) of each field of the protobuf message in data[pos:end]:
    value is the int of a varint, (start, end) of a length-delimited field, else None."""
    while pos < end:
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = (pos, pos + size), pos + size
        elif wire in (1, 5):
            value, pos = None, pos + (8 if wire == 1 else 4)
        else:
            raise EtcdctlError(f"etcdctl get -w protobuf: wire type {wire} is not protobuf's")
        if pos > end:
            raise EtcdctlError("etcdctl get -w protobuf: a truncated or malformed answer")
        yield number, wire, value


def parse_keys_page(data):
    """``get -w protobuf`` (etcdserverpb.RangeResponse: kvs = 2, more = 3; in each
    mvccpb.KeyValue, key = 1) -> (list of keys as bytes, more: bool)."""
    keys, more = [], False
    for number, wire, value in _fields(data, 0, len(data)):
        if number == 2 and wire == 2:
            for inner, inner_wire, span in _fields(data, *value):
                if inner == 1 and inner_wire == 2:
                    keys.append(bytes(data[span[0] : span[1]]))
                    break
        elif number == 3 and wire == 0:
            more = bool(value)
    return keys, more


def count_keys(etcdctl, env, revision, timeout=120, page=PAGE):
    """{resource: count} of every key at ``revision``, read ``page`` keys at a time.

    Each page starts at the last key of the one before (``get`` cannot take a key with a
    NUL byte in argv, so "just after the last key" is not expressible); that key is
    skipped. Raises EtcdctlError."""
    if page < 2:
        raise ValueError("page must be at least 2")
    counts = {}
    start, last = b"", None  # "" with --from-key: the whole key space
    while True:
        out = check(
            keys_page_argv(etcdctl, start, revision, page), env, timeout, "get keys", raw=True
        )
        keys, more = parse_keys_page(out)
        if last is not None and keys and keys[0] == last:
            keys = keys[1:]
        for key in keys:
            resource = resource_of(key)
            counts[resource] = counts.get(resource, 0) + 1
        if not more or not keys:
            return dict(sorted(counts.items()))
        start = last = keys[-1]


def hashkv(etcdctl, env, revision, timeout=120):
    """{'hash', 'compact_revision', 'member_id'} of the one endpoint in ``env`` at
    ``revision``. Raises EtcdctlError."""
    argv = [*endpoint_hashkv_argv(etcdctl), f"--rev={int(revision)}"]
    found = parse_endpoint_hashkv(check(argv, env, timeout, f"endpoint hashkv at {revision}"))
    if len(found) != 1:
        raise EtcdctlError(f"endpoint hashkv answered for {len(found)} endpoints, expected one")
    return {
        "hash": found[0]["hash"],
        "compact_revision": found[0]["compact_revision"],
        "member_id": found[0]["member_id"],
    }


def take(etcdctl, env, revision, timeout=120):
    """The fingerprint of the one endpoint in ``env`` (``client_env``) at ``revision``:
    {'format', 'revision', 'hashkv', 'compact_revision', 'keys': {resource: n},
    'total_keys'}. Raises FingerprintError.

    Revision 0 is a store that never held a key (``snapshot status`` of a new cluster):
    its fingerprint is that of an empty store, taken without asking etcd (``--rev 0``
    would mean "now", not "then"); a drill checks the restored copy is empty instead."""
    return _take(
        etcdctl, env, revision, timeout, lambda: count_keys(etcdctl, env, revision, timeout)
    )


def take_like(etcdctl, env, client_url, recorded, timeout=120):
    """take() of a drill's own etcd (``client_url``: plain http or a unix socket) at the
    revision of the ``recorded`` fingerprint, its keys counted by count-only requests when
    they equal the record's (keys_as_recorded), key by key otherwise. Raises FingerprintError."""
    revision = recorded["revision"]

    def counts():
        try:
            if keys_as_recorded(client_url, revision, recorded.get("keys") or {}, timeout):
                return dict(recorded["keys"])
        except EtcdctlError:
            pass  # no gateway (or it refused): etcdctl counts, and says what is wrong
        return count_keys(etcdctl, env, revision, timeout)

    return _take(etcdctl, env, revision, timeout, counts)


def _take(etcdctl, env, revision, timeout, counting):
    if int(revision) < 1:
        return empty()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            hashing = pool.submit(hashkv, etcdctl, env, revision, timeout)
            counts = counting()
            hashed = hashing.result()
    except EtcdctlError as exc:
        hint = ""
        if "compacted" in str(exc):
            hint = " (the cluster was compacted past that revision meanwhile)"
        raise FingerprintError(f"fingerprint at revision {revision} failed{hint}: {exc}") from None
    return {
        "format": FORMAT,
        "revision": int(revision),
        "hashkv": hashed["hash"],
        "compact_revision": hashed["compact_revision"],
        "keys": counts,
        "total_keys": sum(counts.values()),
    }


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _prefix_end(prefix):
    """The range end that covers every key starting with ``prefix`` (bytes)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def _exact_prefix(resource):
    """The key prefix whose keys are all of ``resource`` (bytes), or None when no prefix
    is: a resource named with a dot but without a slash shares its prefix with the
    group's resources (``/registry/g.io/`` holds ``g.io/r`` keys too)."""
    if resource == OTHER or ("." in resource and "/" not in resource):
        return None
    prefix = f"{REGISTRY}{resource}/".encode("utf-8", "surrogateescape")
    # only a name resource_of() gives for every key below it ('x/y' is not one: its keys
    # are of resource 'x'; nor 'g.io/r/s')
    if resource_of(prefix + b"k") != resource or resource_of(prefix + b"k/l/m") != resource:
        return None
    return prefix


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the unix socket at ``path``."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _Gateway:
    """Count-only range requests to one etcd over its JSON gateway (``/v3/kv/range``)."""

    def __init__(self, client_url, revision, timeout):
        url = urllib.parse.urlsplit(client_url)
        if url.scheme == "unix":  # unix:///abs/path: a drill's etcd in its scratch dir
            self.conn = _UnixHTTPConnection(url.netloc + url.path, timeout)
        elif url.scheme == "http":
            self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        else:
            raise ValueError(f"{client_url}: only a plain http or unix client URL is asked here")
        self.revision = int(revision)

    def count(self, key, range_end):
        body = json.dumps(
            {
                "key": _b64(key),
                "range_end": _b64(range_end),
                "revision": self.revision,
                "count_only": True,
            }
        )
        self.conn.request("POST", "/v3/kv/range", body, {"Content-Type": "application/json"})
        reply = self.conn.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise EtcdctlError(
                f"count at revision {self.revision} failed: HTTP {reply.status}"
                f" {data[:300].decode('utf-8', 'replace')}"
            )
        return int(json.loads(data).get("count", 0))  # proto3 JSON leaves a 0 out

    def close(self):
        self.conn.close()


def keys_as_recorded(client_url, revision, recorded_keys, timeout=120):
    """Whether the etcd at ``client_url`` (plain http or unix) holds, at ``revision``, exactly the
    key counts per resource ``recorded_keys`` gives, by count-only requests. False when
    they differ, or when a recorded resource has no prefix of its own to count (then
    count key by key). Raises EtcdctlError.

    Why equal counts mean equal maps: the keys under ``/registry/<r>/`` are all of
    resource r, and those prefixes do not overlap; so when each prefix holds r's recorded
    count, the keys outside /registry/ (with those under ``/registry//``) the recorded
    ``(other)`` count, and the whole store the recorded total, no key is left over for
    any other resource, and every resource holds exactly its count."""
    prefixes = {r: _exact_prefix(r) for r in recorded_keys if r != OTHER}
    if any(prefix is None for prefix in prefixes.values()):
        return False
    gateway = None
    try:
        gateway = _Gateway(client_url, revision, timeout)
        for resource, prefix in prefixes.items():
            if gateway.count(prefix, _prefix_end(prefix)) != recorded_keys[resource]:
                return False
        everything = gateway.count(b"\0", b"\0")
        registry = REGISTRY.encode()
        outside = (
            everything
            - gateway.count(registry, _prefix_end(registry))
            + gateway.count(registry + b"/", _prefix_end(registry + b"/"))
        )
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise EtcdctlError(f"count at revision {revision} on {client_url} failed: {exc}") from None
    finally:
        if gateway is not None:
            gateway.close()
    return outside == recorded_keys.get(OTHER, 0) and everything == sum(recorded_keys.values())


def empty():
    """The fingerprint of a store that never held a key (revision 0)."""
    return {
        "format": FORMAT,
        "revision": 0,
        "hashkv": None,
        "compact_revision": 0,
        "keys": {},
        "total_keys": 0,
    }


def compare(recorded, found):
    """Differences (list of str; empty: equal) between a recorded fingerprint and one
    taken from a restored copy at the same revision."""
    if not isinstance(recorded, dict) or recorded.get("format") != FORMAT:
        return [f"no usable fingerprint was recorded (found {recorded!r:.120})"]
    problems = []
    if recorded.get("revision") != found.get("revision"):
        problems.append(
            f"taken at revision {found.get('revision')}, recorded at {recorded.get('revision')}"
        )
    if recorded.get("compact_revision") != found.get("compact_revision"):
        problems.append(
            f"compaction revision is {found.get('compact_revision')}, recorded"
            f" {recorded.get('compact_revision')}: the live cluster was compacted between the"
            " save and the fingerprint, so hashkv is not comparable"
        )
    elif recorded.get("hashkv") != found.get("hashkv"):
        problems.append(f"hashkv is {found.get('hashkv')}, recorded {recorded.get('hashkv')}")
    want, have = recorded.get("keys") or {}, found.get("keys") or {}
    for resource in sorted(set(want) | set(have)):
        if want.get(resource, 0) != have.get(resource, 0):
            problems.append(
                f"{resource}: {have.get(resource, 0)} keys, recorded {want.get(resource, 0)}"
            )
    return problems
