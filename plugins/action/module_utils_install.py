# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.etcd.module_utils_install: reads the collection's module_utils on
the controller - the plugins/module_utils beside this plugin's directory, so the files of
the very collection that runs - and hands them, with their sha256, to the module, which
installs them on the host in one call. The documentation lives in
plugins/modules/module_utils_install.py.
"""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.kubedr.etcd.plugins.module_utils._code_install import read_sources
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import TaskFailure

MODULE = "kubedr.etcd.module_utils_install"
SOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")


class ActionModule(ActionBase):
    # False: the module needs no remote temporary directory of ours (with pipelining the
    # install is one round trip; without it, _execute_module makes and removes its own).
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        if "files" in args:
            result.update(failed=True, msg="files is set by the action plugin, not in the task")
            return result
        try:
            args["files"] = read_sources(SOURCES)
        except TaskFailure as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
        return result
