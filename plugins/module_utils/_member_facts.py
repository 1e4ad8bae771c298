# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""What every playbook reads first on a master: its etcd member (from the static pod
manifest), the client certificate etcdctl uses with it, and the etcd tools.

``member_facts`` makes the facts etcd_member_facts returns, in this one place, so that a
module doing more in the same start (etcd_backup_prepare) returns the very same facts.
"""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils._client_tls import (
    client_tls,
    healthcheck_client,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (
    DEFAULT_MANIFEST,
    ManifestError,
    read_etcd_member,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._find_tools import (
    TOOLS,
    ToolError,
    find_tool,
    where,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._privileges import not_root_reason


class MemberFactsError(Exception):
    """The member cannot be read; the message names the file or tool and the fix."""


def member_facts(manifest_path=DEFAULT_MANIFEST, search_moved_aside=True, tool_paths=None):
    """{'kubedr_etcd_member': ..., 'kubedr_etcd_tools': ...} of this master (the shapes
    etcd_member_facts documents); ``tool_paths``: {'etcdctl': path, 'etcdutl': path}, a
    path None or missing to search. Raises MemberFactsError (also for any user but root:
    the manifest, the certificates and the data dir are root's)."""
    not_root = not_root_reason()
    if not_root:
        raise MemberFactsError(f"{not_root}. Nothing was changed.")
    try:
        member = read_etcd_member(manifest_path, search_moved_aside)
    except ManifestError as exc:
        raise MemberFactsError(str(exc)) from None  # names the file, the problem, the fix
    except (OSError, UnicodeDecodeError) as exc:
        raise MemberFactsError(
            f"cannot read the etcd member from {manifest_path}: {exc}. Check that the file"
            " is readable (run with become) and is the etcd static pod manifest."
        ) from None
    tls = member["tls"]
    cert, key = healthcheck_client(tls["trusted_ca_file"])
    tls["healthcheck_client_cert_file"] = cert
    tls["healthcheck_client_key_file"] = key
    _ca, tls["client_cert_file"], tls["client_key_file"] = client_tls(tls)
    tools = {}
    for name in TOOLS:
        try:
            tools[name] = find_tool(name, (tool_paths or {}).get(name))
        except ToolError as exc:
            raise MemberFactsError(
                f"{exc}. Point {name}_path at the {name} binary, or leave it unset to"
                f" search {where()}."
            ) from None
    return {"kubedr_etcd_member": member, "kubedr_etcd_tools": tools}


def module_facts(module):
    """member_facts() of a module's parameters (member_argument_spec() in _common_args):
    the member's warnings go to ``module.warn``, a MemberFactsError to ``module.fail_json``
    (the end etcd_member_facts and etcd_backup_prepare share)."""
    params = module.params
    try:
        facts = member_facts(
            params["manifest_path"],
            params["search_moved_aside"],
            {"etcdctl": params["etcdctl_path"], "etcdutl": params["etcdutl_path"]},
        )
    except MemberFactsError as exc:
        module.fail_json(msg=str(exc))
    for warning in warnings_of(facts):
        module.warn(warning)
    return facts


def warnings_of(facts):
    """The member's warnings as the module shows them, each with the manifest's path."""
    member = facts["kubedr_etcd_member"]
    return [f"{member['manifest_path']}: {warning}" for warning in member["warnings"]]
