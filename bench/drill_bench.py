"""Benchmark (not a test): what the fingerprint adds to a backup, and a drill against the
least a person with a shell would do with the same snapshot.

No lab: one etcd on 127.0.0.1 (tests.support.etcd_process), seeded with the lab's seeder,
a verified backup with its fingerprint (module_utils._backup), then per run, one after
the other on the same snapshot: the bare recipe (``etcdutl``/``etcdctl snapshot restore``
into a scratch directory, start etcd on it, poll ``etcdctl endpoint health`` every 0.1 s
until it answers; then stop it and remove the directory, outside the time), and a drill
of it (module_utils._drill: what runs on the drill host, without Ansible's connection).
The report gives the backup's timings (its fingerprint step among them), the bare
recipe's and the drill's steps, and the ratio drill / bare.

    .venv/bin/python -m bench.drill_bench --size 256MiB --etcd 3.5
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, parse_args, write_report

sys.path.insert(0, str(ROOT / ".collections"))  # the checkout as kubedr.etcd (ansible.cfg)

from ansible_collections.kubedr.etcd.plugins.module_utils._backup import (
    save_verified_snapshot,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._drill import drill
from tests.support.etcd_process import NO_TLS, Etcd, binaries
from tests.support.ports import free_ports


def bare_drill(version, snapshot, scratch):
    """The bare recipe on ``snapshot``: {'restore', 'start', 'total'} seconds."""
    tools = binaries(version)
    restorer = tools.get("etcdutl", tools["etcdctl"])
    client_port, peer_port = free_ports(2)
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    data = scratch / "data"
    t0 = time.monotonic()
    subprocess.run(
        [str(restorer), "snapshot", "restore", str(snapshot), f"--data-dir={data}",
         "--name=bare", f"--initial-cluster=bare={peer}", f"--initial-advertise-peer-urls={peer}"],
        env=dict(os.environ, ETCDCTL_API="3"), check=True, capture_output=True,
    )  # fmt: skip
    t1 = time.monotonic()
    etcd = subprocess.Popen(
        [str(tools["etcd"]), "--name=bare", f"--data-dir={data}",
         f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
         f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
         f"--initial-cluster=bare={peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        health = [str(tools["etcdctl"]), f"--endpoints={client}", "endpoint", "health"]
        while subprocess.run(health, capture_output=True, check=False).returncode:
            if time.monotonic() - t1 > 300 or etcd.poll() is not None:
                raise SystemExit("the bare recipe's etcd did not answer")
            time.sleep(0.1)
        t2 = time.monotonic()
    finally:
        os.killpg(etcd.pid, signal.SIGKILL)
        etcd.wait()
        shutil.rmtree(data, ignore_errors=True)
    return {"restore": round(t1 - t0, 3), "start": round(t2 - t1, 3), "total": round(t2 - t0, 3)}


def one_run(version, size):
    base = Path(tempfile.mkdtemp(prefix="kubedr-drill-bench-", dir="/var/tmp"))
    try:
        etcd = Etcd(version, base / "live")
        try:
            etcd.start(seconds=120)
            port = etcd.client.rsplit(":", 1)[1]
            seeded = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.lab.seeder",
                    "seed",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    port,
                    "--size",
                    size,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if seeded.returncode:
                raise SystemExit(f"seeding failed: {seeded.stderr.strip()}")
            saved = save_verified_snapshot(
                tools=etcd.tools,
                endpoints=[etcd.client],
                tls=NO_TLS,
                dest_dir=str(base / "backups"),
                source_host="bench",
                save_timeout=3600,
            )
        finally:
            etcd.stop()
        tools = {name: str(path) for name, path in binaries(version).items()}
        (base / "bare").mkdir()
        bare = bare_drill(version, saved["snapshot"], base / "bare")
        record = drill(
            str(base / "backups"),
            scratch_parent=str(base / "scratch"),
            tools=tools,
            timeout=3600,
            write_record=False,
        )
        if record["result"] != "pass":
            raise SystemExit(f"the drill failed: {record['reason']}")
        return {
            "keys": saved["metadata"]["fingerprint"]["total_keys"],
            "snapshot_bytes": saved["metadata"]["snapshot"]["size"],
            "backup": saved["timings"],
            "bare": bare,
            "drill": {"total": record["duration_seconds"], **record["steps"]},
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)


def print_table(results):
    for index, run in enumerate(results["runs"], 1):
        backup, drilled = run["backup"], run["drill"]
        print(
            f"run {index}: {run['keys']} keys, snapshot {run['snapshot_bytes'] / 2**20:.0f} MiB;"
            f" backup {backup['total']:.2f}s of which fingerprint {backup['fingerprint']:.2f}s;"
            f" drill {drilled['total']:.2f}s ("
            + ", ".join(f"{k} {v:.2f}s" for k, v in drilled.items() if k != "total")
            + ")"
        )
        bare = run["bare"]
        print(
            f"       bare restore + start + health {bare['total']:.2f}s (restore"
            f" {bare['restore']:.2f}s, start {bare['start']:.2f}s); drill / bare"
            f" {drilled['total'] / bare['total']:.2f}"
        )


def main(argv=None):
    args = parse_args(argv)
    results = {"etcd": args.etcd, "size": args.size, "runs": []}
    for _run in range(args.runs):
        results["runs"].append(one_run(args.etcd, args.size))
    write_report("drill", args, results, print_table)


if __name__ == "__main__":
    main()
