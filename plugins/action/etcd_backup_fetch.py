# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.etcd.etcd_backup_fetch: brings a backup's files to the controller.

Each file is read straight off the host over the connection - without SSH compression
unless ``compress``, and without the checksums ansible.builtin.fetch computes on both ends
(sha1 on the host, sha1 and md5 on the controller): the copy is checked afterwards against
the backup's record by etcd_backup_receive. With become, a file only root may read goes
through ansible.builtin.fetch as before. The documentation lives in
plugins/modules/etcd_backup_fetch.py.
"""

from __future__ import annotations

import os
import time

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.kubedr.etcd.plugins.module_utils._ssh_transfer import uncompressed


class ActionModule(ActionBase):
    # False: no remote temporary directory is made (and removed) for nothing, two round
    # trips; the become path's ansible.builtin.fetch makes its own when it needs one.
    TRANSFERS_FILES = False
    _supports_check_mode = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        src = args.get("src")
        dest = os.path.expanduser(args.get("dest") or "")
        compress = boolean(args.get("compress", False), strict=False)
        sources = [src] if isinstance(src, str) else list(src or [])
        if not sources or not dest:
            result.update(failed=True, msg="src (one path or a list) and dest are required")
            return result
        try:
            os.makedirs(dest, mode=0o700, exist_ok=True)
        except OSError as exc:
            result.update(failed=True, msg=f"cannot make dest={dest} on the controller: {exc}")
            return result
        fetched, t0 = [], time.monotonic()
        try:
            if self._connection.become:
                for source in sources:
                    fetched.append(self._fetch_with_become(source, dest, task_vars))
            else:
                with uncompressed(self._connection, compress) as changed:
                    result["without_compression"] = changed
                    for source in sources:
                        target = os.path.join(dest, os.path.basename(source))
                        self._connection.fetch_file(source, target)
                        fetched.append(target)
        except AnsibleError as exc:
            result.update(
                failed=True,
                fetched=fetched,
                msg=f"cannot copy {sources[len(fetched)]} to {dest} on the controller: {exc}",
            )
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(changed=True, fetched=fetched, seconds=round(time.monotonic() - t0, 3))
        return result

    def _fetch_with_become(self, source, dest, task_vars):
        """ansible.builtin.fetch of one file (it reads files only root may read)."""
        task = self._task.copy()
        task.args.clear()
        task.args.update(src=source, dest=dest.rstrip("/") + "/", flat=True)
        fetch = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.fetch",
            task=task,
            connection=self._connection,
            play_context=self._play_context,
            loader=self._loader,
            templar=self._templar,
            shared_loader_obj=self._shared_loader_obj,
        )
        done = fetch.run(task_vars=task_vars)
        if done.get("failed"):
            raise AnsibleError(done.get("msg", "ansible.builtin.fetch failed"))
        return done["dest"]
