#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_snapshot
short_description: Save a verified etcd snapshot and its metadata record
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Picks a healthy etcd member (the preferred one when it is healthy, else the first healthy
    one; unhealthy or hanging members are skipped with a note), and saves a snapshot from it
    over TLS with C(etcdctl snapshot save), always under a time limit.
  - It holds an exclusive lock on O(dest_dir) (C(flock) on the directory, the lock the
    scheduled backup script of the C(kubedr.etcd.etcd_backup_schedule) role takes) while it
    saves there, and is refused while another backup holds it.
  - The snapshot is written under a hidden temporary name of its own and verified before it
    gets its final name C(etcd-snapshot-<stamp>.db), never over a file already there. Verified
    means the sha256 trailer etcd appends (checked while streaming, never loaded into memory),
    C(snapshot status) (revision, key count), and optionally a trial restore into a scratch
    directory that is always removed.
  - A JSON metadata record C(etcd-snapshot-<stamp>.db.json) is written beside it last - file
    sha256 and size, revision, key count, etcd version, cluster ID and members, source master,
    Kubernetes version, time, the collection version and the control-plane archives. A
    snapshot without its metadata file is incomplete and is never used as a backup.
  - The record also holds a fingerprint of what the member held at the snapshot's revision
    (C(endpoint hashkv) at that revision and the key count of every resource under
    C(/registry/)), taken right after the save, that a drill compares a restored copy with.
  - On any failure nothing is left behind and the message says what went wrong.
  - Given O(keep_last) or O(keep_days), once the new backup is complete it prunes O(dest_dir)
    by those rules, exactly as M(kubedr.etcd.etcd_backup_retention) does, never the new backup
    (in check mode it says what it would prune of the backups there). A rule that would
    delete every backup is refused before anything is saved; a file it cannot remove is a
    warning, not a failure of the backup just made (the next run tries again).
options:
  endpoints:
    description:
      - Client URLs of the etcd members to choose from, for example every master's
        C(kubedr_etcd_member.advertise_client_urls).
    type: list
    elements: str
    required: true
  prefer_endpoint:
    description:
      - The endpoint to save from when it is healthy.
    type: str
  dest_dir:
    description:
      - Directory the snapshot and its metadata are written to; created (mode 0700) if missing.
    type: path
    default: /var/backups/kubedr-etcd
  stamp:
    description:
      - UTC time naming the backup, as C(20261126T030000Z). Pass the same stamp to
        M(kubedr.etcd.control_plane_archive) so the files of one backup share it.
      - Defaults to now.
    type: str
  trial_restore:
    description:
      - Restore the snapshot into a scratch directory beside it to prove it restores, then
        remove the scratch directory. Needs free space for a second copy plus 64 MiB.
    type: bool
    default: true
  save_timeout:
    description: Seconds C(snapshot save) (and the trial restore) may take before it is stopped.
    type: int
    default: 600
  source_host:
    description: Name of this master as recorded in the metadata. Defaults to its hostname.
    type: str
  kubernetes_version:
    description: Kubernetes version recorded in the metadata (from the kube-apiserver image).
    type: str
  control_plane_archives:
    description:
      - The control-plane archives of this backup, as M(kubedr.etcd.control_plane_archive)
        returns them plus C(host); listed in the metadata.
    type: list
    elements: dict
    default: []
  collection_version:
    description: Version of this collection, recorded in the metadata.
    type: str
attributes:
  check_mode:
    support: full
    details: Chooses the member and checks free space, then reports what it would save.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Each run that is not in check mode saves a new snapshot.
notes:
  - Code runs on the master with the Python standard library only.
seealso:
  - module: kubedr.etcd.etcd_member_facts
  - module: kubedr.etcd.control_plane_archive
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
  - kubedr.etcd.tls
  - kubedr.etcd.tools
  - kubedr.etcd.retention
"""

EXAMPLES = r"""
- name: Discover the member and its tools
  kubedr.etcd.etcd_member_facts:

- name: Save a verified snapshot from the local member, or any healthy one
  kubedr.etcd.etcd_snapshot:
    endpoints: "{{ kubedr_etcd_member.advertise_client_urls }}"
    ca_file: "{{ kubedr_etcd_member.tls.trusted_ca_file }}"
    cert_file: "{{ kubedr_etcd_member.tls.healthcheck_client_cert_file }}"
    key_file: "{{ kubedr_etcd_member.tls.healthcheck_client_key_file }}"
    tools: "{{ kubedr_etcd_tools }}"
    dest_dir: /var/backups/kubedr-etcd
  register: snapshot
"""

RETURN = r"""
retention:
  description:
    - What retention did in O(dest_dir) once the new backup was complete (in check mode, what
      it would prune of what is there) - the fields M(kubedr.etcd.etcd_backup_retention)
      returns - C(kept), C(pruned), C(ignored), C(reasons) and C(msg) - and C(errors), the
      files it could not remove.
  returned: when O(keep_last) or O(keep_days) is set
  type: dict
  sample:
    kept: [/var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db]
    pruned: []
    ignored: []
    reasons: {}
    msg: nothing to prune, kept 1
snapshot:
  description: Path of the verified snapshot (in check mode, the path it would have).
  returned: always
  type: str
  sample: /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db
metadata_file:
  description: Path of the metadata record beside it.
  returned: success, not in check mode
  type: str
  sample: /var/backups/kubedr-etcd/etcd-snapshot-20261126T030000Z.db.json
metadata:
  description: The metadata record.
  returned: success, not in check mode
  type: dict
  contains:
    format:
      description: Record format.
      type: str
      sample: kubedr.etcd/snapshot-metadata/v1
    snapshot:
      description: file, size, sha256, revision, total_key, total_size and hash of the snapshot.
      type: dict
    etcd:
      description: version, cluster_id and members (name, id, peer_urls) of the cluster.
      type: dict
    source_host:
      description: The master the snapshot was saved on.
      type: str
    kubernetes_version:
      description: Kubernetes version of the control plane.
      type: str
    created:
      description: UTC time of the backup.
      type: str
      sample: "2026-11-26T03:00:00Z"
    control_plane_archives:
      description: host, file, size and sha256 of each control-plane archive.
      type: list
    trial_restore:
      description: true when a trial restore passed, null when none was tried.
      type: bool
    fingerprint:
      description:
        - What the member held at the snapshot's revision - format, revision, hashkv,
          compact_revision, keys (count per resource under /registry/, other keys under
          C((other))) and total_keys.
        - When it could not be taken, only C(error), and RV(notes) says why.
      type: dict
      sample: {format: kubedr.etcd/fingerprint/v1, revision: 1412, hashkv: 3707468214,
               compact_revision: 0, keys: {pods: 300, secrets: 40}, total_keys: 340}
endpoint:
  description: The endpoint the snapshot was (or would be) saved from.
  returned: always
  type: str
  sample: https://10.77.0.8:2379
notes:
  description: Endpoints that were skipped, and why.
  returned: always
  type: list
  elements: str
  sample: ["https://10.77.0.9:2379 skipped: context deadline exceeded"]
timings:
  description:
    - Seconds spent choosing the member, saving, verifying, fingerprinting, trial restoring,
      in total.
  returned: success, not in check mode
  type: dict
  sample: {choose_member: 0.05, save: 1.2, verify: 0.4, fingerprint: 0.2, trial_restore: 0.9,
           total: 2.7}
peak_rss_kib:
  description: Peak resident memory of this module (self) and of the etcd tools it ran (tools).
  returned: success, not in check mode
  type: dict
  sample: {self: 21000, tools: 48000}
"""

import datetime  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._backup import (  # noqa: E402
    BackupError,
    check_space,
    cluster_info,
    pick_endpoint,
    save_verified_snapshot,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    retention_argument_spec,
    tls_argument_spec,
    tools_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import mib  # noqa: E402
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (  # noqa: E402
    EtcdctlError,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._pruning import (  # noqa: E402
    apply_rules,
    rules_of,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (  # noqa: E402
    snapshot_file_name,
    stamp_time,
)


def parse_stamp(module, stamp):
    if not stamp:
        return datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017
    try:
        return stamp_time(stamp)
    except ValueError as exc:
        module.fail_json(msg=str(exc))


def check_files(module):
    for option in ("ca_file", "cert_file", "key_file"):
        path = module.params[option]
        if not os.path.isfile(path):
            module.fail_json(
                msg=f"{option}={path}: no such file. Point it at the etcd CA / a client"
                " certificate and key that etcd accepts (kubeadm: /etc/kubernetes/pki/etcd/"
                "ca.crt, healthcheck-client.crt, healthcheck-client.key)."
            )


def plan_only(module, tools, tls, when):
    """Check mode: choose the member and check space; save nothing."""
    p = module.params
    try:
        endpoint, notes = pick_endpoint(tools["etcdctl"], p["endpoints"], tls, p["prefer_endpoint"])
        info = cluster_info(tools["etcdctl"], endpoint, tls)
    except (BackupError, EtcdctlError) as exc:
        module.fail_json(msg=str(exc))
    path = os.path.join(p["dest_dir"], snapshot_file_name(when))
    try:
        check_space(p["dest_dir"], info["db_size"], p["trial_restore"])
        rules = rules_of(p)
        pruned = apply_rules(p["dest_dir"], rules, os.path.basename(path), check_mode=True)
    except (BackupError, ValueError) as exc:
        module.fail_json(msg=str(exc), snapshot=path, endpoint=endpoint, notes=notes)
    module.exit_json(
        changed=True,
        **({"retention": pruned} if pruned is not None else {}),
        snapshot=path,
        endpoint=endpoint,
        notes=notes,
        msg=f"would save {path} from {endpoint} (database {mib(info['db_size'])})",
    )


def main():
    module = AnsibleModule(
        argument_spec={
            "endpoints": {"type": "list", "elements": "str", "required": True},
            "prefer_endpoint": {"type": "str"},
            **tls_argument_spec(),
            **tools_argument_spec(),
            "dest_dir": {"type": "path", "default": "/var/backups/kubedr-etcd"},
            "stamp": {"type": "str"},
            "trial_restore": {"type": "bool", "default": True},
            "save_timeout": {"type": "int", "default": 600},
            "source_host": {"type": "str"},
            "kubernetes_version": {"type": "str"},
            "control_plane_archives": {"type": "list", "elements": "dict", "default": []},
            "collection_version": {"type": "str"},
            **retention_argument_spec(),
        },
        supports_check_mode=True,
    )
    p = module.params
    tools = p["tools"]
    if not (tools.get("etcdctl") or {}).get("path"):
        module.fail_json(
            msg="etcdctl was not found on this master (tools.etcdctl is empty); install"
            " etcdctl of the cluster's etcd version, or set etcdctl_path for etcd_member_facts"
        )
    check_files(module)
    tls = (p["ca_file"], p["cert_file"], p["key_file"])
    when = parse_stamp(module, p["stamp"])
    if module.check_mode:
        plan_only(module, tools, tls, when)
    try:
        result = save_verified_snapshot(
            tools=tools,
            endpoints=p["endpoints"],
            tls=tls,
            dest_dir=p["dest_dir"],
            source_host=p["source_host"] or socket.gethostname(),
            preferred_endpoint=p["prefer_endpoint"],
            when=when,
            do_trial_restore=p["trial_restore"],
            save_timeout=p["save_timeout"],
            kubernetes_version=p["kubernetes_version"],
            collection_version=p["collection_version"],
            control_plane_archives=p["control_plane_archives"],
            retention=p,
            warn=module.warn,
        )
    except BackupError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
