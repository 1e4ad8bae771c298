"""Realistic Kubernetes keys in the lab's etcd, and a digest of all of them.

`seed` writes /registry/{namespaces,pods,secrets,configmaps,...} keys with
values shaped like the objects an apiserver stores, until their values add up
to the requested size. Content is deterministic for a given seed.

`digest` reads every key and value at one revision, page by page (memory stays
flat whatever the database size), and prints a JSON record: key count, bytes,
revision and a sha256 over every (key, value) pair in key order. Two digests
are equal exactly when the two clusters hold the same keys and values.

Runs in the lab's hub network namespace (the lab CLI arranges that), with the
controller's etcd client certificate.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import struct
import sys
import time

import etcd3
from etcd3 import etcdrpc

# Keys per digest page. No sort order is asked for: etcd then reads every key in the
# range and sorts before it applies the limit, so each page cost the whole rest of the
# keyspace (38 s for a 256 MiB lab, quadratic in its size). Without one, a range comes
# back in ascending key order, which digest() checks.
PAGE = 1024
BATCH_BYTES = 512 * 1024
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
]


def connect(args):
    return etcd3.client(
        host=args.host,
        port=args.port,
        ca_cert=args.cacert,
        cert_cert=args.cert,
        cert_key=args.key,
        timeout=60,
        grpc_options=GRPC_OPTIONS,
    )


def parse_size(text):
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def objects(rng, namespaces):
    """Endless stream of (key, value) pairs shaped like Kubernetes objects."""
    for ns in namespaces:
        yield f"/registry/namespaces/{ns}", _obj(rng, "Namespace", ns, None, 200)
        yield (
            f"/registry/serviceaccounts/{ns}/default",
            _obj(rng, "ServiceAccount", "default", ns, 300),
        )
    n = 0
    while True:
        ns = namespaces[n % len(namespaces)]
        kind = rng.choices(
            ["pods", "secrets", "configmaps", "events", "leases"], weights=[5, 2, 2, 2, 1]
        )[0]
        name = f"{kind[:-1]}-{n:07d}"
        size = {"pods": 4096, "secrets": 1500, "configmaps": 6000, "events": 900, "leases": 350}[
            kind
        ]
        yield f"/registry/{kind}/{ns}/{name}", _obj(rng, kind.title()[:-1], name, ns, size)
        n += 1


def _obj(rng, kind, name, namespace, size):
    meta = {
        "name": name,
        "uid": f"{rng.getrandbits(128):032x}",
        "creationTimestamp": "2026-11-26T03:00:00Z",
    }
    if namespace:
        meta["namespace"] = namespace
    body = {"apiVersion": "v1", "kind": kind, "metadata": meta}
    pad = max(0, int(size * rng.uniform(0.5, 1.5)) - 160)
    body["data"] = {"blob": base64.b64encode(rng.randbytes(pad * 3 // 4)).decode()}
    return json.dumps(body, separators=(",", ":")).encode()


def seed(args):
    client = connect(args)
    target = parse_size(args.size)
    rng = random.Random(args.seed)
    namespaces = ["default", "kube-system", "kube-public"] + [
        f"team-{i:02d}" for i in range(args.namespaces)
    ]
    written = keys = 0
    batch, batch_bytes = [], 0
    t0 = time.monotonic()

    def flush():
        if batch:
            client.transaction(
                compare=[], success=[client.transactions.put(k, v) for k, v in batch], failure=[]
            )
            batch.clear()

    for key, value in objects(rng, namespaces):
        if written >= target:
            break
        batch.append((key, value))
        batch_bytes += len(key) + len(value)
        written += len(value)
        keys += 1
        if len(batch) >= 100 or batch_bytes >= BATCH_BYTES:
            flush()
            batch_bytes = 0
    flush()
    rev = client.status().raft_index
    client.close()
    print(
        json.dumps(
            {
                "keys_written": keys,
                "value_bytes": written,
                "raft_index": rev,
                "seconds": round(time.monotonic() - t0, 2),
            }
        )
    )


def digest(args):
    client = connect(args)
    h = hashlib.sha256()
    count = total = registry = 0
    start, revision = b"\0", 0
    while True:
        req = etcdrpc.RangeRequest(
            key=start,
            range_end=b"\0",
            limit=PAGE,
            revision=revision,
        )
        resp = client.kvstub.Range(req, timeout=60)
        if revision == 0:
            revision = resp.header.revision
        for kv in resp.kvs:
            if kv.key < start:
                raise RuntimeError(f"etcd returned key {kv.key!r} out of order (after {start!r})")
            start = kv.key + b"\0"
            h.update(struct.pack(">Q", len(kv.key)) + kv.key)
            h.update(struct.pack(">Q", len(kv.value)) + kv.value)
            count += 1
            total += len(kv.key) + len(kv.value)
            registry += kv.key.startswith(b"/registry/")
        if not resp.more or not resp.kvs:
            break
    client.close()
    print(
        json.dumps(
            {
                "keys": count,
                "registry_keys": registry,
                "bytes": total,
                "revision": revision,
                "sha256": h.hexdigest(),
            }
        )
    )


def main(argv=None):
    p = argparse.ArgumentParser(prog="seeder")
    p.add_argument("command", choices=["seed", "digest"])
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=2379)
    p.add_argument("--cacert", help="omit the three TLS options for plain http")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--size", default="4MiB", help="total value bytes to write, e.g. 256MiB")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--namespaces", type=int, default=20)
    args = p.parse_args(argv)
    try:
        (seed if args.command == "seed" else digest)(args)
    except Exception as exc:  # one clear line, not a gRPC traceback
        sys.exit(f"seeder {args.command}: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
