"""What the benchmarks share: their options, a 3-master lab for the length of a run,
the lab's command line, commands inside a master, playbooks against the lab, and the
JSON report in bench/results/.

The lab goes through tests.integration.conftest's LabHandle (the same doors the tests
use), but every failure ends the benchmark with a plain message (SystemExit) and no
call is given a time limit: a large --size takes as long as it takes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import time

from tests.integration.conftest import LabHandle
from tests.lab import lab as L

ROOT = L.ROOT
RESULTS = ROOT / "bench" / "results"


def _quiet(*_):
    pass


def parse_args(argv=None):
    """--size (seeded values), --etcd (lab version), --runs, --masters, --kubelet (the lab
    kubelet's timings, tests/lab/lab.py KUBELET_PROFILES: both sides of a bench run under
    the same)."""
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="256MiB")
    p.add_argument("--etcd", default="3.5", choices=sorted(L.ETCD_BINARIES))
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--masters", type=int, default=3, choices=(1, 3, 5))
    p.add_argument("--kubelet", default="fast", choices=sorted(L.KUBELET_PROFILES))
    return p.parse_args(argv)


@contextlib.contextmanager
def lab_up(etcd_version, masters=3, kubelet="fast"):
    """A fresh lab of ``masters`` masters (replacing any running lab) whose kubelets keep
    the ``kubelet`` profile's timings, always brought down again."""
    L.up(masters, etcd_version, log=_quiet, kubelet=kubelet)
    try:
        yield LabHandle(L.Lab.load())
    finally:
        L.down(log=_quiet)


def lab_cli(lab, *args):
    """stdout of `python -m tests.lab ARGS`."""
    proc = lab.cli(*args, check=False, timeout=None)
    if proc.returncode != 0:
        raise SystemExit(f"python -m tests.lab {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def seed(lab, size):
    """Seed the lab with `size` of realistic keys; the seeder's JSON summary."""
    return json.loads(lab_cli(lab, "seed", "--size", size))


def in_master(lab, host, *argv, what=None):
    """stdout of argv run inside a master's namespaces (not over SSH)."""
    proc = subprocess.run(lab.exec_argv(host, *argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{host}: {what or argv} failed: {proc.stderr.strip()}")
    return proc.stdout


def playbook(lab, name, *args):
    """playbooks/<name> against the lab: (results_json output, wall seconds)."""
    t0 = time.monotonic()
    rc, data, err = lab.ansible_playbook(f"playbooks/{name}", *args)
    wall = time.monotonic() - t0
    if rc != 0:
        raise SystemExit(f"{name} failed:\n{json.dumps(data)[-3000:]}\n{err[-3000:]}")
    return data, wall


def write_report(kind, args, results, print_table):
    """bench/results/<kind>-<etcd>-<size>.json, then the table and the report's path."""
    RESULTS.mkdir(exist_ok=True)
    masters = getattr(args, "masters", 3)
    suffix = "" if masters == 3 else f"-{masters}masters"
    path = RESULTS / f"{kind}-{args.etcd}-{args.size}{suffix}.json"
    path.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"report: {path}")
    return path
