# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, and pure: the etcd_restore_report action plugin calls it
# on the controller with what the masters' journals recorded.
"""The report of one restore run, from the masters' journals.

The journals are the timeline: every master recorded each phase with the time the
step began and the time it ended. The report puts them side by side and measures the
downtime - from the first stop of a static pod to the moment every kube-apiserver was
ready again - from those same timestamps.
"""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils._restore_journal import (
    now_iso,
    parse_iso,
)

FORMAT = "kubedr.etcd/restore-report/v1"


def _seconds(start, end):
    a, b = parse_iso(start), parse_iso(end)
    if a is None or b is None:
        return None
    return round((b - a).total_seconds(), 3)


def downtime(journals, ready_at):
    """{'start', 'end', 'seconds'}: first stop (its step's start) to ``ready_at``; None
    when no master was stopped."""
    starts = []
    for journal in journals.values():
        for entry in (journal or {}).get("phases") or []:
            if entry.get("phase") == "stopped":
                starts.append(entry.get("started") or entry.get("time"))
    starts = [s for s in starts if parse_iso(s)]
    if not starts or not ready_at:
        return None
    start = min(starts, key=parse_iso)
    return {"start": start, "end": ready_at, "seconds": _seconds(start, ready_at)}


def _master(journal):
    phases = (journal or {}).get("phases") or []
    return {
        "member": ((journal or {}).get("member") or {}).get("name"),
        "phase": (journal or {}).get("phase"),
        "phases": [
            {
                "phase": entry.get("phase"),
                "start": entry.get("started"),
                "end": entry.get("time"),
                "seconds": _seconds(entry.get("started"), entry.get("time"))
                if entry.get("started")
                else None,
            }
            for entry in phases
        ],
        "data_moved_aside": ((journal or {}).get("details") or {}).get("moved_aside"),
        "restore_tool": ((journal or {}).get("member") or {}).get("tool"),
    }


def build(run, journals, outcome, verification=None, apiservers=None, ready_at=None, extra=None):
    """The report: the run, its plan, every master's phases, the downtime, the checks."""
    plan = (run or {}).get("plan") or {}
    started = [
        e.get("time")
        for j in journals.values()
        for e in (j or {}).get("phases") or []
        if e.get("phase") == "locked"
    ]
    report = {
        "format": FORMAT,
        "run_id": (run or {}).get("run_id"),
        "stamp": (run or {}).get("stamp"),
        "outcome": outcome,
        "controller": (run or {}).get("controller"),
        "snapshot": (run or {}).get("snapshot"),
        "snapshot_revision": (plan.get("snapshot") or {}).get("revision"),
        "plan": {
            key: plan.get(key)
            for key in ("initial_cluster", "token", "bump_revision", "stop_order", "start_order")
        },
        "started": min(started, key=parse_iso) if started else None,
        "ended": now_iso(),
        "downtime": downtime(journals, ready_at),
        "masters": {host: _master(journal) for host, journal in journals.items()},
        "verification": verification or {},
        "apiservers": apiservers or {},
    }
    report.update(extra or {})
    return report
