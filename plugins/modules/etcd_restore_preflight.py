#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_restore_preflight
short_description: Gather what a restore must check on one master, changing nothing
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Returns, as the fact C(kubedr_etcd_preflight), what the restore plan checks on this master
    before anything is stopped - its hostname, which of the given addresses are configured on
    it, the IP addresses its etcd peer and server certificates were issued for, the free space
    and mount state of the etcd data directory, whether its etcd runs and leads the cluster.
  - The checks themselves are made once for all masters by M(kubedr.etcd.etcd_restore_plan).
options:
  member:
    description: This master's C(kubedr_etcd_member) fact from M(kubedr.etcd.etcd_member_facts).
    type: dict
    required: true
  tools:
    description: This master's C(kubedr_etcd_tools) fact.
    type: dict
    required: true
  addresses:
    description:
      - IP addresses to test - which of them are configured on this master. Pass the member's
        peer URL hosts and the address Ansible connects to.
    type: list
    elements: str
    default: []
  snapshot_dir:
    description: Directory the restore copies the snapshot to; its free space is reported.
    type: path
    default: /var/tmp/kubedr-etcd-restore
  status_timeout:
    description: Seconds to wait for the local etcd's status (leader, revision).
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    details: Changes nothing in any mode.
  diff_mode:
    support: none
  idempotent:
    support: full
notes:
  - Runs with the Python standard library only.
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Gather the restore checks
  kubedr.etcd.etcd_restore_preflight:
    member: "{{ kubedr_etcd_member }}"
    tools: "{{ kubedr_etcd_tools }}"
    addresses: >-
      {{ [ansible_host] + kubedr_etcd_member.initial_advertise_peer_urls
         | map('urlsplit', 'hostname') | list }}
"""

RETURN = r"""
ansible_facts:
  description: The preflight facts.
  returned: always
  type: dict
  contains:
    kubedr_etcd_preflight:
      description: What this master looks like to a restore.
      type: dict
      contains:
        hostname:
          description: The master's hostname.
          type: str
          sample: docker8
        addresses:
          description: The given addresses that are configured on this master.
          type: list
          elements: str
          sample: [10.77.0.8]
        peer_cert_ips:
          description: IP addresses in the subjectAltName of the member's peer certificate.
          type: list
          elements: str
          sample: [10.77.0.8, 127.0.0.1, "::1"]
        server_cert_ips:
          description: IP addresses in the subjectAltName of the member's server certificate.
          type: list
          elements: str
        data_dir_free:
          description: Free bytes in the file system of the etcd data directory.
          type: int
        data_dir_is_mount:
          description: Whether the data directory is a mount point (then only its content moves).
          type: bool
        etcd_running:
          description: Whether the local etcd answered its status.
          type: bool
        is_leader:
          description: Whether the local etcd leads the cluster; null when it did not answer.
          type: bool
        revision:
          description: The local etcd's current revision; null when it did not answer.
          type: int
        last_restore:
          description:
            - The newest restore by this collection found in the data directory (stamp, sha256
              and path of the snapshot, time); null when there is none.
          type: dict
        snapshot_dir_free:
          description: Free bytes where the snapshot will be copied (O(snapshot_dir)).
          type: int
"""

import ipaddress  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (  # noqa: E402
    EtcdctlError,
    client_env,
    endpoint_status_argv,
    parse_endpoint_status,
    run,
)


def local_addresses(candidates):
    """The candidates that are addresses of this host (a socket can bind to them)."""
    found = []
    for text in candidates:
        try:
            ip = ipaddress.ip_address(str(text).strip("[]"))
        except ValueError:
            continue  # a name, not an address
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((str(ip), 0))
            except OSError:
                continue
        if str(ip) not in found:
            found.append(str(ip))
    return found


def certificate_ips(path):
    """IP addresses in a PEM certificate's subjectAltName ([] when it cannot be read)."""
    if not path or not os.path.isfile(path):
        return []
    try:
        decoded = ssl._ssl._test_decode_cert(path)  # stdlib, no third-party X.509 parser
    except (AttributeError, ssl.SSLError, OSError):
        return []
    ips = []
    for kind, value in decoded.get("subjectAltName", ()):
        if kind == "IP Address":
            try:
                ips.append(str(ipaddress.ip_address(value.strip())))
            except ValueError:
                continue
    return ips


def is_mount_point(path):
    """Whether path is a mount point, bind mounts included (os.path.ismount misses those)."""
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                point = line.split()[4]
                point = point.encode().decode("unicode_escape")  # \040 for a space, ...
                if point == target:
                    return True
    except OSError:
        return os.path.ismount(path)
    return False


def last_restore(data_dir):
    """The newest restore marker in the data dir ({stamp, sha256, snapshot}), or None."""
    try:
        names = sorted(n for n in os.listdir(data_dir) if n.startswith(".kubedr-restored-"))
    except OSError:
        return None
    for name in reversed(names):
        if name.endswith(".rolled-back"):
            continue
        try:
            with open(os.path.join(data_dir, name)) as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            return {k: record.get(k) for k in ("stamp", "sha256", "snapshot", "time")}
    return None


def free_space(path):
    probe = path
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    st = os.statvfs(probe or "/")
    return st.f_bavail * st.f_frsize


def local_status(member, tools, timeout):
    """(running, is_leader, revision) of this master's own etcd."""
    etcdctl = (tools or {}).get("etcdctl")
    tls = member.get("tls") or {}
    urls = member.get("advertise_client_urls") or []
    if not etcdctl or not urls:
        return False, None, None
    env = client_env(
        urls[:1],
        tls.get("trusted_ca_file"),
        tls.get("healthcheck_client_cert_file") or tls.get("peer_cert_file"),
        tls.get("healthcheck_client_key_file") or tls.get("peer_key_file"),
        command_timeout=f"{timeout}s",
    )
    try:
        rc, out, _unused = run(endpoint_status_argv(etcdctl), env=env, timeout=timeout + 5)
        status = parse_endpoint_status(out)[0] if rc == 0 else None
    except (EtcdctlError, IndexError):
        status = None
    if not status:
        return False, None, None
    return True, bool(status["is_leader"]), status["revision"]


def main():
    module = AnsibleModule(
        argument_spec={
            "member": {"type": "dict", "required": True},
            "tools": {"type": "dict", "required": True},
            "addresses": {"type": "list", "elements": "str", "default": []},
            "snapshot_dir": {"type": "path", "default": "/var/tmp/kubedr-etcd-restore"},
            "status_timeout": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    member, tools = module.params["member"], module.params["tools"]
    tls = member.get("tls") or {}
    data_dir = member.get("data_dir") or "/var/lib/etcd"
    running, leader, revision = local_status(member, tools, module.params["status_timeout"])
    facts = {
        "hostname": socket.gethostname(),
        "addresses": local_addresses(module.params["addresses"]),
        "peer_cert_ips": certificate_ips(tls.get("peer_cert_file")),
        "server_cert_ips": certificate_ips(tls.get("cert_file")),
        "data_dir": data_dir,
        "data_dir_free": free_space(data_dir),
        "data_dir_is_mount": is_mount_point(data_dir),
        "etcd_running": running,
        "is_leader": leader,
        "revision": revision,
        "last_restore": last_restore(data_dir),
        "snapshot_dir_free": free_space(module.params["snapshot_dir"]),
    }
    module.exit_json(changed=False, ansible_facts={"kubedr_etcd_preflight": facts})


if __name__ == "__main__":
    main()
