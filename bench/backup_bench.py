"""Benchmark: the collection's backup against a bare `etcdctl snapshot save` + `sha256sum`
+ a copy to the controller.

Both run in the same lab, on the same data, one after the other, from the same master.
The bare recipe: save and sha256sum inside the master, then `scp` (no compression, as
scp does by default) of the snapshot from the master to the controller, over the lab's
SSH (its key, known_hosts and ProxyCommand). Reports wall time and peak memory (RSS) of
each, and the ratio.

Encryption at rest is measured the same way: the playbook with
etcd_backup_age_recipients against the one without, and the encrypt step
(etcd_backup_encrypt, on the controller) against a bare `age -r ... -o` of the
same snapshot file on the controller.

    .venv/bin/python -m bench.backup_bench --size 256MiB --etcd 3.5 [--runs 2]

Brings a 3-master lab up (replacing any running lab) and down again; writes a
JSON report to bench/results/ and prints a table. Not a test: nothing asserts.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from bench import common
from tests.integration.conftest import task_results
from tests.lab import lab as L
from tests.support.age_keys import make_age_key

# Runs inside the master: the bare recipe, timed and measured the same way.
BASELINE = r"""
import os, resource, subprocess, sys, time
env = dict(os.environ, ETCDCTL_API="3", ETCDCTL_ENDPOINTS="https://127.0.0.1:2379",
           ETCDCTL_CACERT="/etc/kubernetes/pki/etcd/ca.crt",
           ETCDCTL_CERT="/etc/kubernetes/pki/etcd/healthcheck-client.crt",
           ETCDCTL_KEY="/etc/kubernetes/pki/etcd/healthcheck-client.key")
path = sys.argv[1]
t0 = time.monotonic()
subprocess.run(["etcdctl", "snapshot", "save", path], env=env, check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t1 = time.monotonic()
subprocess.run(["sha256sum", path], check=True, stdout=subprocess.DEVNULL)
t2 = time.monotonic()
print(f'{{"save": {t1 - t0:.3f}, "sha256sum": {t2 - t1:.3f}, "total": {t2 - t0:.3f}, '
      f'"peak_rss_kib": {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, '
      f'"size": {os.path.getsize(path)}}}')
"""
BARE_SNAPSHOT = "/var/backups/bench-baseline.db"


def baseline(lab, host, controller_dir):
    """The bare recipe: save + sha256sum in the master, scp to the controller."""
    out = json.loads(common.in_master(lab, host, "/usr/bin/python3", "-c", BASELINE, BARE_SNAPSHOT))
    dest = Path(controller_dir) / "bench-baseline.db"
    proxy = f"ip netns exec {L.HUB} nc %h %p"
    scp = [
        "scp", "-q", "-i", str(lab.ssh_key), "-o", f"UserKnownHostsFile={lab.known_hosts}",
        "-o", "StrictHostKeyChecking=yes", "-o", f"ProxyCommand={proxy}",
        f"root@{lab.master(host).ip}:{BARE_SNAPSHOT}", str(dest),
    ]  # fmt: skip
    t0 = time.monotonic()
    subprocess.run(scp, check=True)
    out["copy"] = round(time.monotonic() - t0, 3)
    out["total"] = round(out["total"] + out["copy"], 3)
    dest.unlink()
    common.in_master(lab, host, "rm", "-f", BARE_SNAPSHOT)
    return out


def timed(argv):
    """(seconds, peak RSS KiB) of one command."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed")
    return time.monotonic() - t0, usage.ru_maxrss


def bare_age(snapshot, recipient):
    """age by hand on the controller, on the same snapshot file: alone, and with the work
    the module also does (sha256 of the plain and the encrypted file, flushed to disk)."""
    out = snapshot.with_name(snapshot.name + ".bench.age")
    alone, rss = timed(["age", "-r", recipient, "-o", str(out), str(snapshot)])
    out.unlink()
    script = f'age -r {recipient} -o "$2" "$1" && sha256sum "$1" "$2" && sync "$2"'
    full, _unused = timed(["sh", "-c", script, "sh", str(snapshot), str(out)])
    out.unlink()
    return {"total": round(alone, 3), "with_sha256_sync": round(full, 3), "peak_rss_kib": rss}


def collection(lab, controller_dir, trial_restore, *extra):
    """The whole backup playbook: archives, snapshot, verification, copy to the controller."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    data, wall = common.playbook(
        lab,
        "backup.yml",
        "-e",
        f"etcd_backup_controller_dir={controller_dir}",
        "-e",
        f"etcd_backup_trial_restore={str(trial_restore).lower()}",
        "-e",
        "etcd_backup_keep_last=1",
        *extra,
    )
    snap = next(iter(task_results(data, "Save a verified etcd snapshot").values()))
    encrypted = task_results(data, "Encrypt the backup on the controller (age)")
    encrypted = next(iter(encrypted.values()), {}) if encrypted else {}
    return {
        "snapshot": snap["snapshot"],
        "encrypt_timings": encrypted.get("timings"),
        "encrypt_peak_rss_kib": encrypted.get("peak_rss_kib"),
        "total": round(wall, 3),
        "module_timings": snap["timings"],
        "module_peak_rss_kib": snap["peak_rss_kib"],
        "controller_peak_rss_kib": max(
            before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        ),
        "size": snap["metadata"]["snapshot"]["size"],
    }


def main():
    args = common.parse_args()
    with common.lab_up(args.etcd) as lab:
        seeded = common.seed(lab, args.size)
        source = lab.masters[0].name
        results = {"etcd": args.etcd, "seeded": seeded, "runs": []}
        with tempfile.TemporaryDirectory(prefix="kubedr-bench-") as controller_dir:
            key = make_age_key(controller_dir, "bench")
            encrypt = ["-e", json.dumps({"etcd_backup_age_recipients": [key.recipient]})]
            for run in range(args.runs):
                entry = {"run": run + 1, "baseline": baseline(lab, source, controller_dir)}
                entry["collection_no_trial"] = plain = collection(lab, controller_dir, False)
                copy = Path(controller_dir) / "kubernetes" / Path(plain["snapshot"]).name
                entry["bare_age"] = bare_age(copy, key.recipient)
                entry["collection_encrypted"] = collection(lab, controller_dir, False, *encrypt)
                entry["collection_with_trial"] = collection(lab, controller_dir, True)
                results["runs"].append(entry)
                print(json.dumps(entry), flush=True)
    common.write_report("backup", args, results, print_table)


def print_table(results):
    print(f"\netcd {results['etcd']}, seeded {results['seeded']['value_bytes'] / 2**20:.0f} MiB")
    print(
        f"{'run':>3} {'bare s':>8} {'(copy s)':>9} {'coll s':>8} {'ratio':>6} {'coll+trial s':>13} "
        f"{'bare RSS MiB':>13} {'module RSS MiB':>15} {'tools RSS MiB':>14} {'ctl RSS MiB':>12}"
    )
    for r in results["runs"]:
        b, c, t = r["baseline"], r["collection_no_trial"], r["collection_with_trial"]
        rss = c["module_peak_rss_kib"]
        print(
            f"{r['run']:>3} {b['total']:>8.2f} {b.get('copy', 0):>9.2f} {c['total']:>8.2f}"
            f" {c['total'] / b['total']:>6.2f} "
            f"{t['total']:>13.2f} {b['peak_rss_kib'] / 1024:>13.1f} {rss['self'] / 1024:>15.1f} "
            f"{rss['tools'] / 1024:>14.1f} {c['controller_peak_rss_kib'] / 1024:>12.1f}"
        )
    print(
        f"\n{'run':>3} {'playbook s':>11} {'encrypted s':>12} {'bare age s':>11}"
        f" {'age+sha256+sync s':>18} {'encrypt step s':>15} {'age RSS MiB':>12}"
        f" {'module RSS MiB':>15}"
    )
    for r in results["runs"]:
        c, e, a = r["collection_no_trial"], r["collection_encrypted"], r["bare_age"]
        print(
            f"{r['run']:>3} {c['total']:>11.2f} {e['total']:>12.2f} {a['total']:>11.2f}"
            f" {a['with_sha256_sync']:>18.2f} {e['encrypt_timings']['encrypt']:>15.2f}"
            f" {a['peak_rss_kib'] / 1024:>12.1f} {e['encrypt_peak_rss_kib']['self'] / 1024:>15.1f}"
        )


if __name__ == "__main__":
    main()
