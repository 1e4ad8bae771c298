"""Unit tests of the module_utils_install action plugin: it reads the collection's own
module_utils on the controller and hands them to the module in one call."""

from __future__ import annotations

import hashlib
from pathlib import Path
from unittest.mock import MagicMock

from ansible_collections.kubedr.etcd.plugins.action import module_utils_install
from ansible_collections.kubedr.etcd.plugins.action.module_utils_install import ActionModule
from tests.support.action_plugin import make_action

MODULE_UTILS = Path(__file__).resolve().parents[4] / "plugins" / "module_utils"


def action(args):
    plugin = make_action(ActionModule, "module_utils_install", args)
    plugin._execute_module = MagicMock(return_value={"changed": True, "written": ["_a.py"]})
    return plugin


def test_the_collections_own_files_go_to_the_module_in_one_call():
    plugin = action({"dest": "/usr/local/lib/x"})
    result = plugin.run(task_vars={})
    assert result["changed"] is True and result["written"] == ["_a.py"]
    (call,) = plugin._execute_module.call_args_list
    assert call.args[0] == "kubedr.etcd.module_utils_install"
    args = call.kwargs["module_args"]
    assert args["dest"] == "/usr/local/lib/x"
    assert [f["name"] for f in args["files"]] == sorted(p.name for p in MODULE_UTILS.glob("_*.py"))
    for entry in args["files"]:
        data = (MODULE_UTILS / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert Path(module_utils_install.SOURCES).resolve() == MODULE_UTILS


def test_files_cannot_be_given_in_the_task():
    plugin = action({"dest": "/x", "files": []})
    result = plugin.run(task_vars={})
    assert result["failed"] is True and "set by the action plugin" in result["msg"]
    plugin._execute_module.assert_not_called()


def test_a_collection_without_module_utils_fails_on_the_controller(monkeypatch, tmp_path):
    monkeypatch.setattr(module_utils_install, "SOURCES", str(tmp_path))
    plugin = action({"dest": "/x"})
    result = plugin.run(task_vars={})
    assert result["failed"] is True and "no _*.py files" in result["msg"]
    plugin._execute_module.assert_not_called()
