#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_backup_metrics
short_description: Write the Prometheus metrics of a backup directory for node_exporter
version_added: 0.2.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Reads what a backup directory holds - its complete backups (snapshot and metadata record)
    and the drill records C(<snapshot>.drill.json) beside them - and writes the metrics in
    node_exporter's textfile collector format into O(textfile_dir), atomically (a hidden
    temporary file renamed into place, mode 0644).
  - One file per backup directory, C(kubedr_etcd<directory with / as _>.prom); every sample
    has the label C(backup_dir).
  - "Metrics (gauges) - C(kubedr_etcd_backup_last_success_timestamp_seconds) (0 - no backup),
    C(kubedr_etcd_backup_last_size_bytes), C(kubedr_etcd_backup_last_revision),
    C(kubedr_etcd_backups_stored), C(kubedr_etcd_drill_last_timestamp_seconds) (0 - never
    drilled), C(kubedr_etcd_drill_last_success) (1 or 0),
    C(kubedr_etcd_drill_last_duration_seconds), C(kubedr_etcd_drill_last_backup_timestamp_seconds)
    and C(kubedr_etcd_metrics_errors) (records that could not be read)."
  - The scheduled backup script and the drill write the same file with the same code.
options:
  dir:
    description: The backup directory. A missing one has no backups (and says so in the metrics).
    type: path
    required: true
  textfile_dir:
    description:
      - node_exporter's textfile directory (its C(--collector.textfile.directory)); created
        (mode 0755) if missing.
    type: path
    default: /var/lib/prometheus/node-exporter
  labels:
    description: Further labels for every sample, for example the cluster's name.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details: Computes the metrics and reports whether the file would change; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: The file is rewritten only when its content would differ.
notes:
  - Runs with the Python standard library only.
  - An example alert rules file is shipped as C(extensions/prometheus/kubedr-etcd-rules.yml).
seealso:
  - module: kubedr.etcd.etcd_snapshot
  - module: kubedr.etcd.etcd_backup_retention
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Metrics of the backups on a backup host
  kubedr.etcd.etcd_backup_metrics:
    dir: /var/backups/kubedr-etcd/kubernetes
    labels:
      cluster: prod-1
"""

RETURN = r"""
path:
  description: The metrics file (in check mode, the one it would write).
  returned: always
  type: str
  sample: /var/lib/prometheus/node-exporter/kubedr_etcd_var_backups_kubedr-etcd.prom
values:
  description: Each metric's value, by its name without the C(kubedr_etcd_) prefix.
  returned: always
  type: dict
  sample: {backups_stored: 7, backup_last_success_timestamp_seconds: 1795662000,
           backup_last_size_bytes: 5713952, backup_last_revision: 1412,
           drill_last_timestamp_seconds: 0, metrics_errors: 0}
errors:
  description: Records that could not be read, and why.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._metrics import (  # noqa: E402
    DEFAULT_TEXTFILE_DIR,
    MetricsError,
    current_text,
    textfile,
    write_textfile,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path", "required": True},
            "textfile_dir": {"type": "path", "default": DEFAULT_TEXTFILE_DIR},
            "labels": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    labels = {str(key): str(value) for key, value in p["labels"].items()}
    bad = [key for key in labels if not key.isidentifier() or key.startswith("__")]
    if bad or "backup_dir" in labels:
        module.fail_json(
            msg=f"labels: {', '.join(bad or ['backup_dir'])} cannot be a label name here"
            " (letters, digits and _, not starting with __; backup_dir is set by the module)"
        )
    try:
        if module.check_mode:
            made = textfile(p["dir"], p["textfile_dir"], labels)
            made["changed"] = current_text(made["path"]) != made["text"]
        else:
            made = write_textfile(p["dir"], p["textfile_dir"], labels)
    except MetricsError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(
        changed=made["changed"], path=made["path"], values=made["values"], errors=made["errors"]
    )


if __name__ == "__main__":
    main()
