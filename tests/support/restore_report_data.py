"""A restore run as the masters' journals record it: three masters, their phases at the
times a real run on the lab recorded them (etcd 3.5, one master slow to stage), for
_restore_report.build and what renders its report."""

from __future__ import annotations

import datetime as dt

RUN_ID = "20261129T231715Z-93fef7"
STAMP = "20261129T231715Z"
ZERO = dt.datetime(2026, 11, 29, 23, 17, 19, 502000, tzinfo=dt.timezone.utc)  # noqa: UP017
HOSTS = ("docker8", "docker9", "docker10")
# host: [(phase, step began, recorded)] in seconds after ZERO; None: no step time
TIMES = {
    "docker8": [
        ("locked", None, 0.0),
        ("staged", 3.648, 3.714),
        ("stopped", 12.985, 13.501),
        ("swapped", 13.917, 13.923),
        ("started", 14.507, 15.021),
        ("verified", None, 17.786),
        ("done", None, 28.927),
    ],
    "docker9": [
        ("locked", None, 0.534),
        ("staged", 3.845, 9.889),
        ("stopped", 10.298, 11.321),
        ("swapped", 14.071, 14.073),
        ("started", 15.333, 15.848),
        ("verified", None, 17.972),
        ("done", None, 29.079),
    ],
    "docker10": [
        ("locked", None, 0.383),
        ("staged", 3.930, 3.968),
        ("stopped", 11.628, 12.654),
        ("swapped", 14.175, 14.178),
        ("started", 16.173, 16.688),
        ("verified", None, 18.057),
        ("done", None, 29.195),
    ],
}
READY = 28.529  # every kube-apiserver ready


def iso(seconds):
    """ZERO + seconds, as the journal writes times."""
    when = ZERO + dt.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def journal(host, times=None):
    phases = []
    for phase, began, recorded in times or TIMES[host]:
        entry = {"phase": phase, "time": iso(recorded)}
        if began is not None:
            entry["started"] = iso(began)
        phases.append(entry)
    return {
        "run_id": RUN_ID,
        "phase": phases[-1]["phase"],
        "phases": phases,
        "member": {
            "name": host,
            "tool": {"name": "etcdutl", "path": "/usr/local/bin/etcdutl", "version": "3.5.16"},
        },
        "details": {"moved_aside": f"/var/lib/etcd/member.kubedr-{STAMP}"},
    }


def journals():
    return {host: journal(host) for host in HOSTS}


def run():
    return {
        "run_id": RUN_ID,
        "stamp": STAMP,
        "snapshot": {
            "name": "/srv/backups/kubernetes/etcd-snapshot-20261129T231709Z.db",
            "sha256": "90677cbb442caea1d72205b8b73a7d6bbe1d539a067db66692a6de4b567728d1",
            "size": 2867232,
        },
        "plan": {
            "snapshot": {"revision": 1000000009},
            "initial_cluster": ",".join(f"docker{n}=https://10.77.0.{n}:2380" for n in (8, 9, 10)),
            "token": f"kubedr-restore-{RUN_ID}",
            "bump_revision": 1000000000,
            "stop_order": ["docker9", "docker10", "docker8"],
            "start_order": ["docker8", "docker9", "docker10"],
        },
    }


def verification():
    return {
        "members": ["docker9", "docker8", "docker10"],
        "revision": 2000000009,
        "hashkv": {f"https://10.77.0.{n}:2379": 2747124000 for n in (8, 9, 10)},
        "registry_keys": 363,
    }


def build_args(apiservers=None):
    """The arguments of _restore_report.build (and of the action) for this run."""
    return {
        "run": run(),
        "journals": journals(),
        "outcome": "restored",
        "verification": verification(),
        "apiservers": apiservers or dict.fromkeys(HOSTS, 200),
        "ready_at": iso(READY),
        "extra": {"decrypted": False, "resumed": False},
    }
