#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: module_utils_install
short_description: Install the collection's module_utils into a directory on the host
version_added: 0.2.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Installs the kubedr.etcd collection's own module_utils (every C(_*.py) file of its
    C(plugins/module_utils)) into O(dest) on the host in one module call, for code that
    runs there outside Ansible - the scheduled backup and drill scripts of the
    C(kubedr.etcd.etcd_backup_schedule) role import them from
    C(<install_root>/ansible_collections/kubedr/etcd/plugins/module_utils).
  - The action plugin reads the files on the controller, from the collection the plugin
    belongs to, and hands them to the module with their sha256. On the host, a file whose
    sha256 differs from the collection's (or that is missing) is written atomically - the
    old file or the whole new one, never half - with mode 0644; a file with the right
    content and another mode only gets mode 0644.
  - O(dest) must be the collection's module_utils directory - its path ends in
    C(ansible_collections/kubedr/etcd/plugins/module_utils) - or the module fails and
    touches nothing. O(dest) and its missing parents are made with mode 0755, and O(dest)
    gets mode 0755.
  - The names of the files installed are listed, one a line, in C(.kubedr-etcd-installed)
    in O(dest) (mode 0644), written before the files themselves. The module removes only
    a file that this list names, that the collection no longer ships, whose name is
    C(_*.py) but not C(__*__.py), and that is a regular file - never a symlink, a
    directory, C(__init__.py), or any file the list does not name (such as a file put
    there by hand or by an earlier release of the collection without the list). Nothing
    else in O(dest) is touched.
options:
  dest:
    description:
      - The directory on the host the files go into.
      - Its path must end in C(ansible_collections/kubedr/etcd/plugins/module_utils), the
        directory the collection's code is imported from; any other path is refused.
    type: path
    required: true
  files:
    description:
      - Set by the action plugin, not by hand - the files to install.
    type: list
    elements: dict
    suboptions:
      name:
        description: The file name, C(_*.py).
        type: str
        required: true
      content:
        description: The file's content (UTF-8 text).
        type: str
        required: true
      sha256:
        description: The sha256 of O(files[].content), hex.
        type: str
        required: true
attributes:
  action:
    support: full
    details: Reads the collection's module_utils on the controller.
  check_mode:
    support: full
    details: Reports what it would write, set the mode of and remove, and writes nothing.
  diff_mode:
    support: full
    details:
      - The files it writes, sets the mode of or removes, and C(.kubedr-etcd-installed)
        when it changes, one a line with the first 12 hex digits of their sha256 and their
        mode, as they are and as they will be; O(dest) itself as C(. - <mode>) when its
        mode is set.
  idempotent:
    support: full
    details: A second run finds every file up to date.
notes:
  - Code runs on the host with the Python standard library only.
  - The files are replaced one by one, each atomically; the directory as a whole is not.
    A program that imports the code while the module runs may see some files of the old
    version and some of the new. The C(kubedr.etcd.etcd_backup_schedule) role runs this
    module before it installs the scripts and their scheduler entries.
  - The module runs with C(no_log) on, so the host does not log its arguments (the files'
    contents). What it returns as its C(invocation), on success and on failure, names the
    files without their contents.
  - The action plugin reads the collection's files on the controller; they travel to the
    host inside the module's arguments, so the whole install is one module call.
seealso:
  - module: ansible.builtin.copy
    description: One file a call, with its checksum compared on the host.
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - kubedr.etcd.attributes.action
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Install the kubedr.etcd module_utils the scheduled scripts import
  kubedr.etcd.module_utils_install:
    dest: /usr/local/lib/kubedr-etcd/ansible_collections/kubedr/etcd/plugins/module_utils
"""

RETURN = r"""
dest:
  description: The directory the files were installed in.
  returned: success, and on failure once O(dest) has been looked at
  type: str
  sample: /usr/local/lib/kubedr-etcd/ansible_collections/kubedr/etcd/plugins/module_utils
created:
  description: Whether O(dest) was made (in check mode, would be made).
  returned: success
  type: bool
  sample: false
written:
  description:
    - Names of the files written because they were missing or their sha256 differed (in
      check mode, that would be written).
    - On a failure while installing, the files written before it; C(changed) is then
      true when anything was done.
  returned: success, and on failure while installing
  type: list
  elements: str
  sample: [_backup.py, _snapshot.py]
mode_set:
  description: Names of the files whose content was right and whose mode was set to 0644.
  returned: success
  type: list
  elements: str
  sample: []
removed:
  description:
    - Names of the files an earlier run installed and listed in C(.kubedr-etcd-installed)
      that the collection does not ship any more and that were removed (in check mode,
      that would be removed).
    - On a failure while installing, the files removed before it.
  returned: success, and on failure while installing
  type: list
  elements: str
  sample: [_old_helper.py]
diff:
  description: With C(--diff), the files touched, as they are and as they will be.
  returned: when diff mode is on
  type: dict
  sample:
    before_header: /usr/local/lib/kubedr-etcd/ansible_collections/kubedr/etcd/plugins/module_utils
    after_header: /usr/local/lib/kubedr-etcd/ansible_collections/kubedr/etcd/plugins/module_utils
    before: |
      .kubedr-etcd-installed 5b1e0c7d9a2f 0644
      _backup.py 3f2c9a1b0d4e 0644
      _old_helper.py 9d8e7f6a5b4c 0644
    after: |
      .kubedr-etcd-installed 0c4f8e2a7b61 0644
      _backup.py 7a6b5c4d3e2f 0644
      _snapshot.py 1e2d3c4b5a69 0644
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._code_install import (  # noqa: E402
    install,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "files": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "content": {"type": "str", "required": True},
                    "sha256": {"type": "str", "required": True},
                },
            },
        },
        supports_check_mode=True,
        # Not "Invoked with" every file's content into the host's log; no_log on the files
        # option instead would mask their names and sha256 too.
        no_log=True,
    )
    p = module.params
    # What the module returns for its arguments, on success and on failure alike: the
    # file names, not their contents.
    invocation = {
        "module_args": {"dest": p["dest"], "files": [f["name"] for f in p["files"] or []]}
    }
    if not p["files"]:
        module.fail_json(
            msg="files is empty: run this module through its action plugin"
            " (kubedr.etcd.module_utils_install), which reads the collection's files",
            invocation=invocation,
        )
    exit_from(
        module,
        lambda: install(
            p["dest"], p["files"], check_mode=module.check_mode, want_diff=module._diff
        ),
        returned={"invocation": invocation},
    )


if __name__ == "__main__":
    main()
