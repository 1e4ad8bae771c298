"""Unit tests of the etcd_restore_report action plugin, run through ActionModule.run(): the
JSON report and its HTML page, side by side in the report directory."""

from __future__ import annotations

import json
import os
import stat

from ansible_collections.kubedr.etcd.plugins.action.etcd_restore_report import ActionModule
from tests.support.action_plugin import make_action
from tests.support.restore_report_data import RUN_ID, build_args


def action(args, check_mode=False):
    return make_action(ActionModule, "etcd_restore_report", args, check_mode)


def test_the_report_and_its_page_side_by_side(tmp_path):
    reports = tmp_path / "reports"
    result = action({**build_args(), "report_dir": str(reports)}).run(task_vars={})
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["path"] == str(reports / f"restore-{RUN_ID}.json")
    assert result["html_path"] == str(reports / f"restore-{RUN_ID}.html")
    assert sorted(p.name for p in reports.iterdir()) == [
        f"restore-{RUN_ID}.html",
        f"restore-{RUN_ID}.json",
    ]
    assert json.loads((reports / f"restore-{RUN_ID}.json").read_text()) == result["report"]
    page = (reports / f"restore-{RUN_ID}.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and f"Restore {RUN_ID}: restored" in page
    assert "control plane down 18.231 s" in page
    for name in (result["path"], result["html_path"]):
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o600


def test_check_mode_and_no_report_dir_write_nothing(tmp_path):
    checked = action({**build_args(), "report_dir": str(tmp_path)}, check_mode=True)
    result = checked.run(task_vars={})
    assert result["report"]["run_id"] == RUN_ID
    assert result["path"] is None and result["html_path"] is None
    assert list(tmp_path.iterdir()) == []
    result = action(build_args()).run(task_vars={})
    assert result["path"] is None and result["html_path"] is None
