# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of kubedr.etcd.etcd_backup_fetch: brings a backup's files to the controller.

Each file is read straight off the host over the connection - without SSH compression
unless ``compress``, and without the checksums ansible.builtin.fetch computes on both ends
(sha1 on the host, sha1 and md5 on the controller): the copy is checked afterwards against
the backup's record by etcd_backup_receive. With become, a file only root may read is first
copied, as root, into a private temporary directory of the connection's user on the host
(after checking that directory has room for it: it is often on etcd's file system), then
read off from there the same way, and the copy removed before the next file is copied:
ansible.builtin.fetch would read it into memory on both ends (slurp). The documentation lives in
plugins/modules/etcd_backup_fetch.py.
"""

from __future__ import annotations

import os
import shlex
import time

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import (
    become_copy_problem,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._ssh_transfer import uncompressed


class ActionModule(ActionBase):
    # False: no remote temporary directory is made (and removed) for nothing, two round
    # trips; the become path makes one for its copies when it needs it.
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
        host = (task_vars or {}).get("inventory_hostname", "this host")
        try:
            become = self._connection.become
            with uncompressed(self._connection, compress) as changed:
                result["without_compression"] = changed
                for source in sources:
                    target = os.path.join(dest, os.path.basename(source))
                    copy = self._readable_copy(host, source) if become else source
                    self._connection.fetch_file(copy, target)
                    if become:  # the next copy needs that room again
                        self._low_level_execute_command(
                            f"rm -f -- {shlex.quote(copy)}", sudoable=False
                        )
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

    def _readable_copy(self, host, source):
        """With become: a copy of ``source`` that the connection's user owns (mode 0600), in
        a private temporary directory of that user (removed at the end of the task), once
        that directory has room for it."""
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        copy = self._connection._shell.join_path(tmpdir, os.path.basename(source))
        user = self._low_level_execute_command("id -u", sudoable=False)
        uid = user.get("stdout", "").strip()
        if user.get("rc") != 0 or not uid.isdigit():
            raise AnsibleError(f"cannot tell the connection user's id: {user.get('stderr', '')}")
        # the file's size (as root: only root may read its directory) and the room in tmpdir
        sized = self._low_level_execute_command(
            f"stat -c %s -- {shlex.quote(source)} && df -Pk -- {shlex.quote(tmpdir)}",
            sudoable=True,
        )
        lines = (sized.get("stdout") or "").split("\n")
        try:
            size = int(lines[0].strip())
            free = int(lines[2].split()[3]) * 1024
        except (IndexError, ValueError):
            raise AnsibleError(
                f"cannot tell the size of {source} and the free space in {tmpdir}:"
                f" {(sized.get('stderr') or sized.get('stdout') or '').strip()}"
            ) from None
        problem = become_copy_problem(host, source, tmpdir, size, free)
        if problem:
            raise AnsibleError(problem)
        command = (
            f"cp -- {shlex.quote(source)} {shlex.quote(copy)}"
            f" && chown {uid} {shlex.quote(copy)} && chmod 0600 {shlex.quote(copy)}"
        )
        done = self._low_level_execute_command(command, sudoable=True)
        if done.get("rc") != 0:
            raise AnsibleError(
                f"cannot copy it, with become, into {tmpdir} for the transfer:"
                f" {(done.get('stderr') or done.get('stdout') or '').strip()}"
            )
        return copy
