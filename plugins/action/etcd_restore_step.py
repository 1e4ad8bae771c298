# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.etcd.etcd_restore_step: transfers the snapshot for the stage.

With ``src`` (stage only), the snapshot goes from the controller straight into Ansible's
remote temporary directory on the master - no checksum round trips, and without SSH
compression unless ``compress`` - and the module moves it into the run's own directory
and checks its sha256 there. Every other step runs the module as it is. The documentation
lives in plugins/modules/etcd_restore_step.py.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.kubedr.etcd.plugins.module_utils._ssh_transfer import uncompressed

MODULE = "kubedr.etcd.etcd_restore_step"


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        src = args.pop("src", None)
        compress = boolean(args.pop("compress", False), strict=False)
        if args.get("step") != "stage" or not src or self._task.check_mode:
            return self._run_module(result, args, task_vars)
        if not os.path.isfile(src):
            result.update(failed=True, msg=f"src={src}: no such file on the controller")
            return result
        try:
            args["upload"] = self._transfer_snapshot(src, compress)
            return self._run_module(result, args, task_vars)
        except AnsibleError as exc:
            result.update(
                failed=True,
                msg=f"cannot transfer the snapshot {src} to this master: {exc}; nothing was"
                " stopped. Fix the connection or the space in the remote temporary directory"
                " (remote_tmp), then re-run the playbook",
            )
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _run_module(self, result, args, task_vars):
        result.update(self._execute_module(MODULE, module_args=args, task_vars=task_vars))
        return result

    def _transfer_snapshot(self, src, compress):
        """Put ``src`` into the remote temporary directory; returns the remote path."""
        if not self._connection._shell.tmpdir:
            self._make_tmp_path()
        remote = self._connection._shell.join_path(
            self._connection._shell.tmpdir, os.path.basename(src)
        )
        with uncompressed(self._connection, compress):
            self._transfer_file(src, remote)
        self._fixup_perms2((self._connection._shell.tmpdir, remote))
        return remote
