# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.etcd.etcd_restore_report: the restore report, built and written
on the controller; the documentation lives in plugins/modules/etcd_restore_report.py."""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.kubedr.etcd.plugins.module_utils._data import plain
from ansible_collections.kubedr.etcd.plugins.module_utils._files import write_text_atomic
from ansible_collections.kubedr.etcd.plugins.module_utils._restore_report import build
from ansible_collections.kubedr.etcd.plugins.module_utils._restore_report_html import render
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import write_json_atomic

ARGUMENT_SPEC = {
    "run": {"type": "dict", "required": True},
    "journals": {"type": "dict", "required": True},
    "outcome": {"type": "str", "required": True},
    "verification": {"type": "dict"},
    "apiservers": {"type": "dict"},
    "ready_at": {"type": "str"},
    "extra": {"type": "dict"},
    "report_dir": {"type": "path"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _spec, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        report = build(
            plain(args["run"]),
            plain(args["journals"]),
            args["outcome"],
            verification=plain(args["verification"]),
            apiservers=plain(args["apiservers"]),
            ready_at=args["ready_at"],
            extra=plain(args["extra"]),
        )
        path = html_path = None
        if args["report_dir"] and not self._task.check_mode:
            os.makedirs(args["report_dir"], mode=0o700, exist_ok=True)
            name = os.path.join(args["report_dir"], f"restore-{report['run_id']}")
            path, html_path = f"{name}.json", f"{name}.html"
            write_json_atomic(path, report)
            write_text_atomic(html_path, render(report))
        result.update(changed=False, report=report, path=path, html_path=html_path)
        return result
