#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_drill
short_description: Prove that stored etcd backups restore into the data they recorded
version_added: 0.2.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - For the newest backup in O(dir) (or the newest O(last), or the one named by
    O(snapshot)), on this host only - restores it into a throwaway one-member etcd that
    listens on unix sockets only, with its data, in a scratch directory (mode 0700),
    starts it, and compares what it holds at the backup's revision (C(hashkv) and the number
    of keys per resource) with the fingerprint recorded at backup time. Then it stops that etcd
    and removes the scratch directory.
  - The stored copy is checked against its record first (sha256 trailer, size, sha256). An
    encrypted backup is decrypted into the scratch directory only, with O(age_identity_files).
  - A drill never contacts the live cluster, and only reads the stored backup files.
  - The result - pass or fail with the reason, duration, both fingerprints - is written beside
    each backup as C(<snapshot>.drill.json), and, with O(textfile_dir), the backup directory's
    Prometheus metrics are written for node_exporter (see M(kubedr.etcd.etcd_backup_metrics)).
  - Scratch directories that an earlier drill left when it was killed are removed first, with
    the etcd it started - only directories with a drill's marker, only a process whose command
    line names that directory.
  - The module fails when a drill fails; RV(drills) holds every record.
options:
  dir:
    description: The backup directory (for example a backup host's C(<dir>/<cluster name>)).
    type: path
    required: true
  snapshot:
    description: The backup to drill, by its snapshot's file name; V(latest) - the newest.
    type: str
    default: latest
  last:
    description: With O(snapshot=latest), drill the newest N complete backups.
    type: int
    default: 1
  scratch_dir:
    description:
      - Where the drill makes its scratch directory (C(.kubedr-drill-*), mode 0700), removed
        afterwards. Needs room for the snapshot, its restored copy and a 64 MiB WAL.
    type: path
    default: /var/tmp/kubedr-drill
  etcd_path:
    description:
      - The etcd server binary, as new as the backup's etcd (same or later minor version).
        Empty - E(PATH), then C(/usr/local/bin) and C(/usr/bin).
    type: path
  etcdctl_path:
    description: etcdctl; empty - searched like O(etcd_path).
    type: path
  etcdutl_path:
    description: etcdutl (restores etcd 3.5+ backups); empty - searched like O(etcd_path).
    type: path
  port_range:
    description:
      - No longer used. The drill's etcd listens on unix sockets in its 0700 scratch
        directory, not on TCP ports. A value given is ignored, with a deprecation warning.
    type: str
  timeout:
    description: Seconds each step (restore, start, fingerprint) may take.
    type: int
    default: 300
  age_identity_files:
    description: age identity files that decrypt encrypted backups, on this host.
    type: list
    elements: path
    default: []
  age_command:
    description: The age binary (a name in PATH, or a path).
    type: str
    default: age
  textfile_dir:
    description: node_exporter's textfile directory for the metrics; empty - no metrics.
    type: path
  labels:
    description: Further labels for every metric sample, for example the cluster's name.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details: Says which backups it would drill and with which etcd; starts and writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run is a new drill, with a new record.
notes:
  - Runs with the Python standard library only; needs etcd, etcdctl (and etcdutl for etcd 3.5+)
    on this host, never on a master unless you choose so.
  - The restore keeps the backup's revisions (no C(--bump-revision)), so C(hashkv) at the
    backup's revision is comparable with the live member's at backup time.
seealso:
  - module: kubedr.etcd.etcd_snapshot
  - module: kubedr.etcd.etcd_backup_metrics
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Drill the newest backup on a backup host
  kubedr.etcd.etcd_drill:
    dir: /var/backups/kubedr-etcd/kubernetes
    textfile_dir: /var/lib/prometheus/node-exporter

- name: Drill the three newest encrypted backups
  kubedr.etcd.etcd_drill:
    dir: /var/backups/kubedr-etcd/kubernetes
    last: 3
    age_identity_files: [/root/backup-identity.txt]
"""

RETURN = r"""
drills:
  description: The record of each drill, newest backup first (as written beside it).
  returned: success and on a failed drill
  type: list
  elements: dict
  sample:
    - format: kubedr.etcd/drill/v1
      backup: etcd-snapshot-20261126T030000Z.db
      result: pass
      reason: null
      duration_seconds: 2.41
      recorded: {revision: 1412, hashkv: 3707468214, keys: {pods: 300}}
      found: {revision: 1412, hashkv: 3707468214, keys: {pods: 300}}
      steps: {verify: 0.1, restore: 0.3, start: 1.2, fingerprint: 0.2, stop: 0.4}
passed:
  description:
    - true when every drill passed (in check mode, when it would start), false otherwise - also
      when the module fails, so a play that registers it with C(failed_when=false) can decide.
  returned: always
  type: bool
  sample: true
backups:
  description: The snapshots drilled (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [etcd-snapshot-20261126T030000Z.db]
metrics:
  description: The metrics file written, or null.
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/kubedr_etcd_var_backups_kubedr-etcd_kubernetes.prom
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._drill import (  # noqa: E402
    DrillFailed,
    choose_backups,
    drill,
    find_tools,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import (  # noqa: E402
    MetricsError,
    write_textfile,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path", "required": True},
            "snapshot": {"type": "str", "default": "latest"},
            "last": {"type": "int", "default": 1},
            "scratch_dir": {"type": "path", "default": "/var/tmp/kubedr-drill"},
            "etcd_path": {"type": "path"},
            "etcdctl_path": {"type": "path"},
            "etcdutl_path": {"type": "path"},
            "port_range": {
                "type": "str",
                "removed_in_version": "1.0.0",
                "removed_from_collection": "kubedr.etcd",
            },
            "timeout": {"type": "int", "default": 300},
            "age_identity_files": {"type": "list", "elements": "path", "default": []},
            "age_command": {"type": "str", "default": "age"},
            "textfile_dir": {"type": "path"},
            "labels": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["last"] < 1 or p["timeout"] < 1:
        module.fail_json(msg=f"last ({p['last']}) and timeout ({p['timeout']}) must be at least 1")
    tools = {"etcd": p["etcd_path"], "etcdctl": p["etcdctl_path"], "etcdutl": p["etcdutl_path"]}
    try:
        chosen = [b["name"] for b in choose_backups(p["dir"], p["snapshot"], p["last"])]
    except DrillFailed as exc:
        module.fail_json(msg=str(exc), passed=False, backups=[], drills=[], metrics=None)
    if module.check_mode:
        try:
            found = find_tools(**tools)
        except DrillFailed as exc:
            module.fail_json(
                msg=f"would fail: {exc}", passed=False, backups=chosen, drills=[], metrics=None
            )
        module.exit_json(
            changed=True,
            passed=True,
            backups=chosen,
            drills=[],
            metrics=None,
            msg=f"would drill {', '.join(chosen)} with etcd {found['etcd']['version']}"
            f" ({found['etcd']['path']}) in {p['scratch_dir']}",
        )
    records = []
    for name in chosen:
        records.append(
            drill(
                p["dir"],
                snapshot=name,
                scratch_parent=p["scratch_dir"],
                tools=tools,
                timeout=p["timeout"],
                age=p["age_command"],
                identity_files=p["age_identity_files"],
            )
        )
    metrics = None
    if p["textfile_dir"]:
        labels = {str(k): str(v) for k, v in p["labels"].items()}
        try:
            metrics = write_textfile(p["dir"], p["textfile_dir"], labels)["path"]
        except MetricsError as exc:
            module.fail_json(
                msg=str(exc), passed=False, backups=chosen, drills=records, metrics=None
            )
    failed = [r for r in records if r["result"] != "pass"]
    result = {
        "changed": True,
        "passed": not failed,
        "backups": chosen,
        "drills": records,
        "metrics": metrics,
    }
    if failed:
        module.fail_json(
            msg="drill failed: " + "; ".join(f"{r['backup']}: {r['reason']}" for r in failed),
            **result,
        )
    seconds = ", ".join(f"{r['backup']} {r['duration_seconds']:.1f}s" for r in records)
    module.exit_json(msg=f"drill passed: {seconds}", **result)


if __name__ == "__main__":
    main()
