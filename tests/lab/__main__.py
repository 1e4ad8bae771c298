"""The lab's command line: python -m tests.lab <command> (run from the project root, as root).

up [--masters N] [--etcd 3.4|3.5] [--inventory PATH]   bring up N masters
   [--kubelet fast|realistic]                          (KUBEDR_LAB_KUBELET) kubelet timings
kubelet [--profile fast|realistic] [--file-check-period S] [--grace S] [--sigterm-delay S]
                                                       the lab kubelet's timings, while it runs
down                                                   remove everything the lab made
status                                                 masters, pods and etcd health (JSON)
inventory [--inventory PATH]                           (re)write the Ansible inventory
seed [--size 64MiB] [--seed N]                         write realistic /registry keys
digest                                                 key/value digest of the cluster (JSON)
etcdctl ARGS...                                        etcdctl from the controller, over TLS
exec HOST CMD...                                       run CMD inside a master's namespaces
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.lab import lab as L


def _seeder(lab, command, extra=()):
    pki = lab.pki_dir
    argv = lab.in_hub(
        sys.executable,
        "-m",
        "tests.lab.seeder",
        command,
        "--host",
        lab.masters[0].ip,
        "--cacert",
        str(pki / "etcd" / "ca.crt"),
        "--cert",
        str(pki / "controller-etcd-client.crt"),
        "--key",
        str(pki / "controller-etcd-client.key"),
        *extra,
    )
    return subprocess.call(argv, cwd=L.ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m tests.lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--state-dir", default=str(L.STATE_DIR))
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--masters", type=int, default=int(os.environ.get("MASTERS", "3")))
    up.add_argument(
        "--etcd", default=os.environ.get("ETCD_VERSION", "3.4"), choices=sorted(L.ETCD_BINARIES)
    )
    up.add_argument("--inventory", default=str(L.DEFAULT_INVENTORY))
    up.add_argument(
        "--kubelet",
        default=os.environ.get("KUBEDR_LAB_KUBELET", "fast"),
        choices=sorted(L.KUBELET_PROFILES),
        help="the lab kubelet's timings once the lab is up (see `kubelet`)",
    )
    kubelet = sub.add_parser(
        "kubelet",
        help="set the lab kubelet's timings while the lab runs: a profile, and seconds over it",
    )
    kubelet.add_argument("--profile", default="fast", choices=sorted(L.KUBELET_PROFILES))
    kubelet.add_argument("--file-check-period", type=float)
    kubelet.add_argument("--grace", type=float)
    kubelet.add_argument("--sigterm-delay", type=float)
    sub.add_parser("down")
    sub.add_parser("status")
    inv = sub.add_parser("inventory")
    inv.add_argument("--inventory")
    seed = sub.add_parser("seed")
    seed.add_argument("--size", default="4MiB")
    seed.add_argument("--seed", default="1")
    sub.add_parser("digest")
    ctl = sub.add_parser("etcdctl")
    ctl.add_argument("args", nargs=argparse.REMAINDER)
    ex = sub.add_parser("exec")
    ex.add_argument("host")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)

    try:
        if args.command == "up":
            L.up(
                args.masters,
                args.etcd,
                Path(args.inventory),
                Path(args.state_dir),
                kubelet=args.kubelet,
            )
            return 0
        if args.command == "kubelet":
            timings = L.set_kubelet_timings(
                args.state_dir,
                args.profile,
                file_check_period=args.file_check_period,
                grace=args.grace,
                sigterm_delay=args.sigterm_delay,
            )
            print(json.dumps(timings))
            return 0
        if args.command == "down":
            L.down(Path(args.state_dir))
            return 0
        lab = L.Lab.load(args.state_dir)
        if args.command == "status":
            print(json.dumps(L.status(args.state_dir), indent=2))
            return 0
        if args.command == "inventory":
            if args.inventory:
                lab.inventory = args.inventory
                lab.save()
            L.write_inventory(lab)
            print(lab.inventory)
            return 0
        if args.command == "seed":
            return _seeder(lab, "seed", ["--size", args.size, "--seed", args.seed])
        if args.command == "digest":
            return _seeder(lab, "digest")
        if args.command == "etcdctl":
            return subprocess.call(
                lab.etcdctl_argv(*args.args), env=dict(os.environ, ETCDCTL_API="3")
            )
        if args.command == "exec":
            return subprocess.call(lab.exec_argv(args.host, *args.cmd))
    except L.LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
