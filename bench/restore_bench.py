"""Benchmark: restore-ha against a bare shell script doing the same minimal steps.

Both restore the same lab (3 masters, or --masters 1 or 5) from the same snapshot, one
after the other, in the same run. Reports the wall time of each, from its start to a
verified cluster, the ratio, and whether every key and value came back (the lab's
digest, taken after seeding, is compared after every restore).

    .venv/bin/python -m bench.restore_bench --size 256MiB --etcd 3.5 [--runs 2] [--masters 5]

Once: lab up (--masters, 3 by default), seed, digest, one backup with playbooks/backup.yml
into a temporary controller directory. Then per run:

1. destroy every master's etcd data (as tests/lab/demo.sh does); time
   bench/bare_restore.sh: scp the snapshot, and on every master at once move the
   manifests aside, wait for etcd to stop, restore, put the manifests back; then wait for
   `etcdctl endpoint health --cluster`; compare the digest;
2. destroy the data again; time `ansible-playbook playbooks/restore-ha.yml` (latest
   backup, confirmed, forced), which ends with its own verification; compare the digest.

Each destruction also removes what earlier restores moved aside or copied (old member
directories, snapshot copies on the masters), so every restore starts from the same
state, copies the snapshot again, and the disk does not fill up.

Brings the lab up (replacing any running lab) and always down again; writes a JSON report
to bench/results/ and prints a table. Not a test: nothing asserts, but the exit status is
1 when a restore did not bring back every key and value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common
from tests.lab import lab as L

ROOT = L.ROOT
BARE = ROOT / "bench" / "bare_restore.sh"
DIGEST_FIELDS = ("keys", "registry_keys", "bytes", "sha256")
# Runs inside each master: the disaster of tests/lab/demo.sh (member/ removed), plus what
# earlier restores of this benchmark left (moved-aside data, staging dirs, snapshot copies).
WIPE = (
    "rm -rf /var/lib/etcd/member /var/lib/etcd/member.* /var/lib/etcd/.kubedr-restore-*"
    " /var/lib/etcd/.bare-restore-* /var/tmp/kubedr-etcd-restore /var/tmp/kubedr-bare-restore"
)


def digest(lab):
    return json.loads(common.lab_cli(lab, "digest"))


def same_data(before, after):
    return all(before[k] == after[k] for k in DIGEST_FIELDS)


def wipe(lab):
    """Destroy the etcd data of every master, then give the kubelets a moment."""
    for name in lab.names:
        common.in_master(lab, name, "sh", "-c", WIPE, what="wiping the etcd data")
    time.sleep(3)


def backup(lab, controller_dir):
    """One verified backup on the controller; returns the snapshot's path."""
    common.playbook(lab, "backup.yml", "-e", f"etcd_backup_controller_dir={controller_dir}")
    records = sorted(Path(controller_dir, "kubernetes").glob("etcd-snapshot-*.db.json"))
    if not records:
        raise SystemExit(f"backup.yml wrote no snapshot into {controller_dir}/kubernetes")
    return records[-1].with_suffix("")


def bare(lab, snapshot):
    """bench/bare_restore.sh, from its start to a healthy cluster."""
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", str(BARE), str(snapshot), lab.inventory],
        cwd=ROOT,
        env=dict(os.environ, PYTHON=sys.executable),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"bare_restore.sh failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return {
        "total": round(wall, 3),
        "steps": json.loads(proc.stdout.strip().splitlines()[-1]),
        "masters": proc.stderr.strip().splitlines(),
    }


def phase_seconds(masters):
    """{phase: seconds} of the slowest master, from the journals' step start and end
    times in the report (phases without a start time: lock, verified, done, are left out)."""
    slowest = {}
    for part in masters.values():
        for entry in part["phases"]:
            if entry.get("seconds") is not None:
                slowest[entry["phase"]] = max(slowest.get(entry["phase"], 0), entry["seconds"])
    return slowest


def bare_down(steps):
    """The bare script's down window: its parallel stop+restore+start, then until healthy."""
    return round(steps["stop_restore_start"] + steps["healthy"], 3)


def collection(lab, controller_dir, reports):
    """playbooks/restore-ha.yml, from its start to the end of its own verification."""
    _data, wall = common.playbook(
        lab,
        "restore-ha.yml",
        "-e",
        "etcd_restore_snapshot=latest",
        "-e",
        f"etcd_restore_backup_dir={controller_dir}",
        "-e",
        "etcd_restore_confirm=true",
        "-e",
        "etcd_restore_force=true",
        # the bare script's restore before it made a new cluster (new token, new id)
        "-e",
        "etcd_restore_allow_other_cluster=true",
        "-e",
        f"etcd_restore_report_dir={reports}",
    )
    written = sorted(Path(reports).glob("restore-*.json"))
    if not written:
        raise SystemExit(f"restore-ha.yml wrote no report into {reports}")
    report = json.loads(written[-1].read_text())
    written[-1].unlink()
    return {
        "total": round(wall, 3),
        "downtime": report["downtime"]["seconds"],
        "phases": phase_seconds(report["masters"]),
        "bump_revision": report["plan"]["bump_revision"],
        "masters": report["masters"],
    }


def main():
    args = common.parse_args()
    with common.lab_up(args.etcd, args.masters, args.kubelet) as lab:
        seeded = common.seed(lab, args.size)
        before = digest(lab)
        results = {
            "etcd": args.etcd,
            "etcd_version": L.ETCD_BINARIES[args.etcd]["version"],
            "masters": len(lab.names),
            "kubelet": {"profile": args.kubelet, **L.KUBELET_PROFILES[args.kubelet]},
            "seeded": seeded,
            "digest": before,
            "runs": [],
        }
        with tempfile.TemporaryDirectory(prefix="kubedr-bench-", dir="/var/tmp") as work:
            controller_dir, reports = Path(work, "backups"), Path(work, "reports")
            snapshot = backup(lab, controller_dir)
            results["snapshot"] = {"file": snapshot.name, "size": snapshot.stat().st_size}
            for run in range(args.runs):
                entry = {"run": run + 1}
                wipe(lab)
                entry["bare"] = bare(lab, snapshot)
                entry["bare"]["same_data"] = same_data(before, digest(lab))
                wipe(lab)
                entry["collection"] = collection(lab, controller_dir, reports)
                entry["collection"]["same_data"] = same_data(before, digest(lab))
                results["runs"].append(entry)
                print(json.dumps(entry), flush=True)
    common.write_report("restore", args, results, print_table)
    complete = all(r[k]["same_data"] for r in results["runs"] for k in ("bare", "collection"))
    if not complete:
        print("a restore did not bring back every key and value: see the report")
    return 0 if complete else 1


def print_table(results):
    print(
        f"\netcd {results['etcd_version']}, {results['masters']} masters, kubelet"
        f" {results.get('kubelet', {}).get('profile', 'fast')}, seeded"
        f" {results['seeded']['value_bytes'] / 2**20:.0f} MiB, snapshot"
        f" {results['snapshot']['size'] / 2**20:.0f} MiB"
    )
    print(
        f"{'run':>3} {'bare s':>8} {'restore-ha s':>13} {'ratio':>6}"
        f" {'bare down':>10} {'ha down':>8} {'ratio':>6} {'bare':>8} {'ha':>8}"
    )
    for r in results["runs"]:
        b, c = r["bare"], r["collection"]
        data = ["same" if x["same_data"] else "DIFFERS" for x in (b, c)]
        down = bare_down(b["steps"])
        print(
            f"{r['run']:>3} {b['total']:>8.2f} {c['total']:>13.2f} {c['total'] / b['total']:>6.2f}"
            f" {down:>10.2f} {c['downtime']:>8.2f} {c['downtime'] / down:>6.2f}"
            f" {data[0]:>8} {data[1]:>8}"
        )
        steps = ", ".join(f"{k} {v:.2f}" for k, v in b["steps"].items() if k != "stamp")
        phases = ", ".join(f"{k} {v:.2f}" for k, v in c["phases"].items())
        print(f"    bare: {steps}")
        print(f"    restore-ha: {phases}")


if __name__ == "__main__":
    sys.exit(main())
