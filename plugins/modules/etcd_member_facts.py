#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: etcd_member_facts
short_description: Read who the etcd member on a master is from its static pod manifest
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Reads the etcd static pod manifest of a kubeadm-style master and returns, as facts,
    the member's name, data directory on the host, client and peer URLs, initial cluster,
    TLS files and etcd version.
  - Finds the C(etcdctl) and C(etcdutl) binaries on the master and reports their versions.
  - Changes nothing on the host. The manifest is parsed without PyYAML, so the master
    needs only Python.
  - When O(manifest_path) does not exist, for example because the manifests directory was
    moved aside to stop the static pods, it can read the same file from a sibling directory
    such as C(/etc/kubernetes/manifests.bak) (see O(search_moved_aside)).
  - Refuses to run as any user but root, and says how to connect as root or become it. The
    manifest, the etcd certificates and the data dir are root's, and every playbook of the
    collection reads this first on each master.
attributes:
  check_mode:
    support: full
    details: The module changes nothing, so it does the same in check mode.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    support: full
    platforms: posix
notes:
  - Run it on every master, with C(become) when the manifest or the PKI files are readable by
    root only.
  - The manifest is read with a small YAML reader that knows the block style Kubernetes tools
    write (and JSON). Anchors, aliases, tags and complex keys make it fail with the line number.
  - The manifest must be a Pod with a container named C(etcd) (or whose command starts with
    C(etcd)) that sets C(--name) and C(--data-dir). The data dir is resolved to the host
    through the container's hostPath volumeMount; when the flag and the data volume disagree the
    module fails and says which values disagree.
  - The etcd version comes from the image tag, for example V(registry.k8s.io/etcd:3.5.16-0)
    gives V(3.5.16).
  - Problems that do not stop etcd (for example a data dir on no hostPath volume) are returned
    in RV(ansible_facts.kubedr_etcd_member.warnings) and shown as warnings.
seealso:
  - name: etcd disaster recovery
    description: Restoring an etcd cluster from a snapshot.
    link: https://etcd.io/docs/v3.5/op-guide/recovery/
extends_documentation_fragment:
  - kubedr.etcd.member
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
"""

EXAMPLES = r"""
- name: Read the etcd member of every master
  kubedr.etcd.etcd_member_facts:
  become: true

- name: Show the member names and where their data lives
  ansible.builtin.debug:
    msg: "{{ kubedr_etcd_member.name }} keeps its data in {{ kubedr_etcd_member.data_dir }}"

- name: Read a manifest kept elsewhere, with etcdutl from a tarball
  kubedr.etcd.etcd_member_facts:
    manifest_path: /srv/k8s/manifests/etcd.yaml
    search_moved_aside: false
    etcdutl_path: /opt/etcd-v3.5.16/etcdutl
  become: true

- name: Require etcdutl for an etcd 3.5 member
  ansible.builtin.assert:
    that:
      - kubedr_etcd_tools.etcdutl is not none
      - kubedr_etcd_tools.etcdutl.version is not none
    fail_msg: "install etcdutl on {{ inventory_hostname }}"
  when: kubedr_etcd_member.version is version('3.5', '>=')
"""

RETURN = r"""
ansible_facts:
  description: Facts about the etcd member and the etcd tools on the master.
  returned: success
  type: dict
  contains:
    kubedr_etcd_member:
      description: The etcd member as its static pod manifest describes it.
      returned: success
      type: dict
      contains:
        manifest_path:
          description:
            - The manifest that was read (a moved-aside copy when
              RV(ansible_facts.kubedr_etcd_member.moved_aside) is true).
          returned: success
          type: str
          sample: /etc/kubernetes/manifests/etcd.yaml
        moved_aside:
          description:
            - Whether the manifest was found in a moved-aside sibling directory instead of
              O(manifest_path).
          returned: success
          type: bool
          sample: false
        kubernetes_version:
          description:
            - Kubernetes version from the image of C(kube-apiserver.yaml) in the same
              directory; null when that manifest is missing or unreadable.
          returned: success
          type: str
          sample: v1.31.4
        apiserver:
          description:
            - Where the C(kube-apiserver.yaml) in the same directory serves - C(address), its
              C(--advertise-address) (null when unset or the manifest is missing), C(port),
              its C(--secure-port) (6443 when unset), and C(readyz_url), the URL the
              restore's readyz waits use (the advertise address, else the host of etcd's
              peer URL; IPv6 addresses in brackets).
          returned: success
          type: dict
          sample: {"address": "10.0.0.11", "port": 6443, "readyz_url": "https://10.0.0.11:6443/readyz"}
        name:
          description: The member name (C(--name)).
          returned: success
          type: str
          sample: master-1
        data_dir:
          description:
            - The data directory on the host. The C(--data-dir) flag mapped through the hostPath
              volume that holds it, or the flag as is when no hostPath volume holds it.
          returned: success
          type: str
          sample: /var/lib/etcd
        data_dir_flag:
          description: The C(--data-dir) flag as written, a path inside the container.
          returned: success
          type: str
          sample: /var/lib/etcd
        data_dir_host_path:
          description:
            - The data directory on the host as the hostPath volume maps it, or V(null) when no
              hostPath volume holds the data dir (then there is a warning).
          returned: success
          type: str
          sample: /var/lib/etcd
        advertise_client_urls:
          description: C(--advertise-client-urls), split on commas.
          returned: success
          type: list
          elements: str
          sample: ["https://10.0.0.11:2379"]
        listen_client_urls:
          description: C(--listen-client-urls), split on commas.
          returned: success
          type: list
          elements: str
          sample: ["https://127.0.0.1:2379", "https://10.0.0.11:2379"]
        initial_advertise_peer_urls:
          description: C(--initial-advertise-peer-urls), split on commas.
          returned: success
          type: list
          elements: str
          sample: ["https://10.0.0.11:2380"]
        listen_peer_urls:
          description: C(--listen-peer-urls), split on commas.
          returned: success
          type: list
          elements: str
          sample: ["https://10.0.0.11:2380"]
        initial_cluster:
          description: C(--initial-cluster) as a list of members, in the order of the flag.
          returned: success
          type: list
          elements: dict
          contains:
            name:
              description: Member name.
              returned: success
              type: str
              sample: master-1
            peer_urls:
              description: Its peer URLs (a name listed twice in the flag has both).
              returned: success
              type: list
              elements: str
              sample: ["https://10.0.0.11:2380"]
          sample: [{"name": "master-1", "peer_urls": ["https://10.0.0.11:2380"]}]
        initial_cluster_string:
          description: C(--initial-cluster) as written, or V(null) when the flag is missing.
          returned: success
          type: str
          sample: master-1=https://10.0.0.11:2380,master-2=https://10.0.0.12:2380
        initial_cluster_token:
          description:
            - C(--initial-cluster-token), or V(null) when not set (kubeadm does not set it).
          returned: success
          type: str
          sample: null
        initial_cluster_state:
          description: C(--initial-cluster-state) (V(new) or V(existing)), or V(null) when not set.
          returned: success
          type: str
          sample: existing
        tls:
          description: The TLS files of the member, V(null) for a flag that is not set.
          returned: success
          type: dict
          contains:
            cert_file:
              description: C(--cert-file), the server certificate.
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/server.crt
            key_file:
              description: C(--key-file).
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/server.key
            trusted_ca_file:
              description: C(--trusted-ca-file), the CA that signs client certificates.
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/ca.crt
            client_cert_auth:
              description: C(--client-cert-auth).
              returned: success
              type: bool
              sample: true
            peer_cert_file:
              description: C(--peer-cert-file).
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/peer.crt
            peer_key_file:
              description: C(--peer-key-file).
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/peer.key
            peer_trusted_ca_file:
              description: C(--peer-trusted-ca-file).
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/ca.crt
            peer_client_cert_auth:
              description: C(--peer-client-cert-auth).
              returned: success
              type: bool
              sample: true
            healthcheck_client_cert_file:
              description:
                - kubeadm's client certificate C(healthcheck-client.crt) in the directory of
                  C(trusted_ca_file), usable by etcdctl; V(null) unless it and its key exist.
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/healthcheck-client.crt
            healthcheck_client_key_file:
              description:
                - The key of
                  RV(ansible_facts.kubedr_etcd_member.tls.healthcheck_client_cert_file),
                  or V(null).
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/healthcheck-client.key
            client_cert_file:
              description:
                - The client certificate etcdctl uses with this member - kubeadm's
                  C(healthcheck-client.crt) beside C(trusted_ca_file) when it and its key
                  exist, else C(peer_cert_file), else V(null). The roles pass it on.
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/healthcheck-client.crt
            client_key_file:
              description:
                - The key of RV(ansible_facts.kubedr_etcd_member.tls.client_cert_file), or V(null).
              returned: success
              type: str
              sample: /etc/kubernetes/pki/etcd/healthcheck-client.key
        image:
          description: The etcd container image, or V(null).
          returned: success
          type: str
          sample: registry.k8s.io/etcd:3.5.16-0
        version:
          description:
            - The etcd version read from the image tag, or V(null) when the tag does not tell.
          returned: success
          type: str
          sample: 3.5.16
        flags:
          description:
            - Every flag of the etcd command (without the leading dashes); the last one wins.
            - Values are strings as written; a flag without value is the string C(true).
          returned: success
          type: dict
          sample: {"name": "master-1", "data-dir": "/var/lib/etcd", "snapshot-count": "10000"}
        warnings:
          description: Problems that do not stop etcd but are worth a look; also shown as warnings.
          returned: success
          type: list
          elements: str
          sample: []
    kubedr_etcd_tools:
      description: The etcd command line tools on the master.
      returned: success
      type: dict
      contains:
        etcdctl:
          description: The C(etcdctl) binary, or V(null) when it was not found.
          returned: success
          type: dict
          contains:
            path:
              description: Its path.
              returned: success
              type: str
              sample: /usr/bin/etcdctl
            version:
              description: Its version from C(etcdctl version), or V(null) when that failed.
              returned: success
              type: str
              sample: 3.4.23
            error:
              description: Why C(etcdctl version) failed, or V(null).
              returned: success
              type: str
              sample: null
        etcdutl:
          description: The C(etcdutl) binary, or V(null) when it was not found.
          returned: success
          type: dict
          contains:
            path:
              description: Its path.
              returned: success
              type: str
              sample: /usr/local/bin/etcdutl
            version:
              description: Its version from C(etcdutl version), or V(null) when that failed.
              returned: success
              type: str
              sample: 3.5.16
            error:
              description: Why C(etcdutl version) failed, or V(null).
              returned: success
              type: str
              sample: null
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._common_args import (  # noqa: E402
    member_argument_spec,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._member_facts import (  # noqa: E402
    module_facts,
)


def main():
    module = AnsibleModule(argument_spec=member_argument_spec(), supports_check_mode=True)
    facts = module_facts(module)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
