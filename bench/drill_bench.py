"""Benchmark (not a test): what the fingerprint adds to a backup, and how long a drill takes.

No lab: one etcd on 127.0.0.1 (tests.support.etcd_process), seeded with the lab's seeder,
a verified backup with its fingerprint (module_utils._backup), then a drill of it
(module_utils._drill), per run. The report gives the backup's timings (its fingerprint
step among them) and the drill's steps.

    .venv/bin/python -m bench.drill_bench --size 256MiB --etcd 3.5
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, parse_args, write_report

sys.path.insert(0, str(ROOT / ".collections"))  # the checkout as kubedr.etcd (ansible.cfg)

from ansible_collections.kubedr.etcd.plugins.module_utils._backup import (
    save_verified_snapshot,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._drill import drill
from tests.support.etcd_process import NO_TLS, Etcd, binaries


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


def main(argv=None):
    args = parse_args(argv)
    results = {"etcd": args.etcd, "size": args.size, "runs": []}
    for _run in range(args.runs):
        results["runs"].append(one_run(args.etcd, args.size))
    write_report("drill", args, results, print_table)


if __name__ == "__main__":
    main()
