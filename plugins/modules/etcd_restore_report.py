#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: kubedr.etcd.etcd_restore_report is an action plugin that runs on the
# controller (plugins/action/etcd_restore_report.py); nothing of this file runs.

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_restore_report
short_description: Build and write the report of a restore run from the masters' journals
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Puts every master's journal side by side - each phase with the time its step began and
    ended - and measures the downtime, from the first stop of a static pod to the moment every
    kube-apiserver was ready again (O(ready_at)).
  - Writes the report as C(restore-<run id>.json) (mode 0600) in O(report_dir) on the
    controller when given, and returns it.
  - Beside it, C(restore-<run id>.html) (mode 0600) is the same report as a page to look at,
    with every master's phases on one time axis (an SVG timeline from the journals'
    timestamps) and the downtime shaded, the checks and their results, the plan. The page
    is one self-contained file that loads nothing (no script, no style sheet, font or
    image from elsewhere); every value in it is escaped.
options:
  run:
    description: The run's journal header, as M(kubedr.etcd.etcd_restore_plan) returns it.
    type: dict
    required: true
  journals:
    description: Every master's journal (the C(phases) and C(details) at least), by host.
    type: dict
    required: true
  outcome:
    description: How the run ended, for example V(restored), V(degraded) or V(rolled-back).
    type: str
    required: true
  verification:
    description: What verified etcd (members, revision, hashkv, keys).
    type: dict
  apiservers:
    description: Each master's kube-apiserver readiness (HTTP status), by host.
    type: dict
  ready_at:
    description: ISO time at which every kube-apiserver was ready.
    type: str
  extra:
    description: More top-level fields for the report.
    type: dict
  report_dir:
    description: Controller directory for the report files (JSON and HTML); none is written
      without it.
    type: path
attributes:
  check_mode:
    support: full
    details: Builds the report; writes no files.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Each call writes the report anew.
  action:
    support: full
    details: Runs on the controller only.
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
  - kubedr.etcd.attributes.action
"""

EXAMPLES = r"""
- name: Write the report
  kubedr.etcd.etcd_restore_report:
    run: "{{ plan_result.run }}"
    journals: "{{ journals }}"
    outcome: restored
    report_dir: /var/lib/kubedr-etcd/reports
  run_once: true
"""

RETURN = r"""
report:
  description: The report.
  returned: success
  type: dict
path:
  description: The JSON report file, or null when none was written.
  returned: success
  type: str
  sample: /root/kubedr-etcd-restore-reports/restore-20261129T231715Z-93fef7.json
html_path:
  description: The HTML page of the report, beside the JSON file, or null when none was
    written.
  returned: success
  type: str
  sample: /root/kubedr-etcd-restore-reports/restore-20261129T231715Z-93fef7.html
"""
