#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: etcd_cluster_verify
short_description: Prove an etcd cluster is whole - members, health, equal data, revision, keys
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Checks, and waits up to O(timeout) for, an etcd cluster to be what a restore planned -
    C(member list) has exactly the expected members and every one started; every endpoint is
    healthy; C(endpoint hashkv) is equal on all members at one revision; the revision is at
    least O(min_revision); the keys under O(key_prefix) are counted.
  - Fails with every problem found when the time is up. Changes nothing.
  - Meanwhile, given O(ready_urls), it watches those kube-apiserver C(/readyz) URLs in a
    thread of its own and returns when each first answered 200 (RV(apiservers)) - a
    restore's downtime ends then, often before etcd's verification does. Watching decides
    nothing - an URL that does not answer is only reported.
options:
  endpoints:
    description: Client URLs of every member.
    type: list
    elements: str
    required: true
  ca_file:
    description: The etcd CA certificate.
    type: path
    required: true
  cert_file:
    description: A client certificate etcd accepts.
    type: path
    required: true
  key_file:
    description: Key of O(cert_file).
    type: path
    required: true
  tools:
    description: The C(kubedr_etcd_tools) fact of this master (its etcdctl is used).
    type: dict
    required: true
  expected_members:
    description: Member names the cluster must have, no more and no fewer.
    type: list
    elements: str
    required: true
  min_revision:
    description: The lowest acceptable revision (the snapshot's, plus the bump).
    type: int
    default: 0
  min_keys:
    description: The lowest acceptable number of keys under O(key_prefix).
    type: int
    default: 0
  key_prefix:
    description: Prefix whose keys are counted (Kubernetes keeps its objects under C(/registry)).
    type: str
    default: /registry
  timeout:
    description: Seconds to wait for the cluster to pass every check.
    type: int
    default: 180
  ready_urls:
    description:
      - kube-apiserver readiness URLs to watch while the cluster is verified, for example
        C(https://10.77.0.8:6443/readyz) of every master.
    type: list
    elements: str
    default: []
  ready_ca_file:
    description: The cluster CA that signs the kube-apiservers' certificates.
    type: path
    default: /etc/kubernetes/pki/ca.crt
attributes:
  check_mode:
    support: full
    details: Changes nothing in any mode.
  diff_mode:
    support: none
  idempotent:
    support: full
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Verify the restored cluster
  kubedr.etcd.etcd_cluster_verify:
    endpoints: [https://10.77.0.8:2379, https://10.77.0.9:2379, https://10.77.0.10:2379]
    ca_file: /etc/kubernetes/pki/etcd/ca.crt
    cert_file: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key_file: /etc/kubernetes/pki/etcd/healthcheck-client.key
    tools: "{{ kubedr_etcd_tools }}"
    expected_members: [docker8, docker9, docker10]
    min_revision: 1000000015
    ready_urls: [https://10.77.0.8:6443/readyz, https://10.77.0.9:6443/readyz]
"""

RETURN = r"""
members:
  description: The members as C(member list) shows them (name, id, peer_urls, client_urls).
  returned: always
  type: list
  elements: dict
health:
  description: Health of each endpoint.
  returned: always
  type: list
  elements: dict
revision:
  description: The revision the members were compared at.
  returned: when every member answered
  type: int
  sample: 1000000015
hashkv:
  description: KV hash of each endpoint at RV(revision).
  returned: when every member answered
  type: dict
  sample: {"https://10.77.0.8:2379": 951756415}
keys:
  description: Number of keys under O(key_prefix).
  returned: when the cluster answered
  type: int
  sample: 1408
seconds:
  description: Seconds until every check passed (or the time ran out).
  returned: always
  type: float
apiservers:
  description: What the watch of O(ready_urls) saw.
  returned: always
  type: dict
  contains:
    ready:
      description: The time (UTC, ISO 8601) each URL first answered 200, or V(null).
      returned: always
      type: dict
      sample: {"https://10.77.0.8:6443/readyz": "2026-11-30T09:24:37.102Z"}
    all_ready_at:
      description: The time every URL had answered 200, or V(null) when one never did.
      returned: always
      type: str
      sample: "2026-11-30T09:24:37.480Z"
    error:
      description: Why nothing could be watched (the CA file cannot be read), or V(null).
      returned: always
      type: str
      sample: null
problems:
  description: What failed, one line each (empty on success).
  returned: always
  type: list
  elements: str
"""

import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._apiserver_ready import (  # noqa: E402
    ReadyWatch,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (  # noqa: E402
    EtcdctlError,
    client_env,
    endpoint_hashkv_argv,
    endpoint_health_argv,
    endpoint_status_argv,
    member_list_argv,
    parse_endpoint_hashkv,
    parse_endpoint_health,
    parse_endpoint_status,
    parse_json,
    parse_member_list,
    run,
)


def observe(p, etcdctl, tls):
    """One look at the cluster: (facts, problems)."""
    env = client_env(p["endpoints"], *tls, command_timeout="5s")
    facts, problems = {"members": [], "health": []}, []
    try:
        _rc, out, _err = run(endpoint_health_argv(etcdctl), env=env, timeout=30)
        facts["health"] = parse_endpoint_health(out)
        _rc, out, _err = run(member_list_argv(etcdctl), env=env, timeout=30)
        facts["members"] = parse_member_list(out)["members"]
    except EtcdctlError as exc:
        return facts, [f"the cluster does not answer: {exc}"]
    for h in facts["health"]:
        if not h["health"]:
            problems.append(f"{h['endpoint']} is not healthy: {h.get('error') or 'unknown'}")
    names = sorted(m["name"] for m in facts["members"] if m["name"])
    if names != sorted(p["expected_members"]):
        expected = sorted(p["expected_members"])
        problems.append(f"member list has {names or 'no started member'}; expected {expected}")
    unstarted = [m["id"] for m in facts["members"] if not m["name"] or not m["client_urls"]]
    if unstarted:
        problems.append(f"members not started: {', '.join(unstarted)}")
    if problems:
        return facts, problems
    try:
        _rc, out, _err = run(endpoint_status_argv(etcdctl), env=env, timeout=30)
        statuses = parse_endpoint_status(out)
        revision = min(s["revision"] for s in statuses)
        argv = [*endpoint_hashkv_argv(etcdctl), f"--rev={revision}"]
        _rc, out, _err = run(argv, env=env, timeout=60)
        hashes = {h["endpoint"]: h["hash"] for h in parse_endpoint_hashkv(out)}
        # RangeResponse.count is the number of keys in the range, whatever the limit
        # (etcdctl 3.4 has no --count-only).
        count_argv = [
            etcdctl["path"],
            "get",
            p["key_prefix"],
            "--prefix",
            "--keys-only",
            "--limit=1",
            "-w",
            "json",
        ]
        _rc, out, _err = run(count_argv, env=env, timeout=60)
        keys = int(parse_json(out, "key count").get("count", 0))
    except (EtcdctlError, ValueError) as exc:
        return facts, [f"could not compare the members: {exc}"]
    facts.update(revision=revision, hashkv=hashes, keys=keys)
    if len(hashes) != len(p["endpoints"]):
        problems.append(f"hashkv answered by {sorted(hashes)} only")
    if len(set(hashes.values())) > 1:
        problems.append(f"members differ at revision {revision}: hashkv {hashes}")
    if revision < p["min_revision"]:
        problems.append(f"revision {revision} is below the expected {p['min_revision']}")
    if keys < p["min_keys"]:
        problems.append(f"{keys} keys under {p['key_prefix']}, expected at least {p['min_keys']}")
    return facts, problems


def main():
    module = AnsibleModule(
        argument_spec={
            "endpoints": {"type": "list", "elements": "str", "required": True},
            "ca_file": {"type": "path", "required": True},
            "cert_file": {"type": "path", "required": True},
            "key_file": {"type": "path", "required": True, "no_log": False},
            "tools": {"type": "dict", "required": True},
            "expected_members": {"type": "list", "elements": "str", "required": True},
            "min_revision": {"type": "int", "default": 0},
            "min_keys": {"type": "int", "default": 0, "no_log": False},
            "key_prefix": {"type": "str", "default": "/registry", "no_log": False},
            "timeout": {"type": "int", "default": 180},
            "ready_urls": {"type": "list", "elements": "str", "default": []},
            "ready_ca_file": {"type": "path", "default": "/etc/kubernetes/pki/ca.crt"},
        },
        supports_check_mode=True,
    )
    p = module.params
    etcdctl = (p["tools"] or {}).get("etcdctl")
    if not etcdctl or not etcdctl.get("path"):
        module.fail_json(msg="etcdctl was not found on this master (tools.etcdctl is empty)")
    tls = (p["ca_file"], p["cert_file"], p["key_file"])
    t0 = time.monotonic()
    watch = ReadyWatch(p["ready_urls"], p["ready_ca_file"]).start()
    while True:
        facts, problems = observe(p, etcdctl, tls)
        if not problems or time.monotonic() - t0 > p["timeout"]:
            break
        time.sleep(2)
    result = dict(
        facts,
        apiservers=watch.stop(),
        problems=problems,
        seconds=round(time.monotonic() - t0, 2),
        changed=False,
    )
    if problems:
        module.fail_json(
            msg=f"the cluster did not pass verification in {p['timeout']}s: " + "; ".join(problems),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
