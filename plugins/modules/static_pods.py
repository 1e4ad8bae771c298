#!/usr/bin/python
# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: static_pods
short_description: Stop or start a master's static pods by moving its manifests directory
version_added: 0.1.0
author:
  - kubedr.etcd maintainers (@kubedr)
description:
  - Stops the static pods of a kubeadm-style master (etcd, kube-apiserver, controller-manager,
    scheduler) the way kubeadm's own docs do - by taking the manifests away from the kubelet -
    and starts them again by putting them back.
  - O(state=stopped) renames O(manifests_dir) to C(<manifests_dir>.kubedr-<stamp>) (one rename,
    nothing copied or deleted), then waits until the pods are really gone - the containers
    named in O(wait_for) by the container runtime when one answers (C(crictl), else
    C(docker)), else the processes matching O(process_patterns) - and until nothing listens
    on O(ports) any more.
  - On a timeout it fails with what still runs (container, or pid and command line, and
    ports) and the command that rolls back.
  - O(state=started) renames the moved-aside directory back to O(manifests_dir), and can
    wait until O(wait_ports) listen.
  - An existing directory is never overwritten.
options:
  state:
    description:
      - V(stopped) moves O(manifests_dir) aside and waits until the pods are gone.
      - V(started) moves the aside directory back.
    type: str
    choices: [stopped, started]
    required: true
  manifests_dir:
    description: The kubelet's static pod directory (its C(staticPodPath)).
    type: path
    default: /etc/kubernetes/manifests
  stamp:
    description:
      - UTC time naming this restore, as C(20261126T030000Z); the directory is moved to
        C(<manifests_dir>.kubedr-<stamp>).
      - Required with O(state=stopped); with O(state=started) it names the aside directory
        unless O(aside_dir) is given.
    type: str
  aside_dir:
    description:
      - With O(state=started), the moved-aside directory to bring back.
      - Defaults to C(<manifests_dir>.kubedr-<stamp>).
    type: path
  wait_for:
    description:
      - With O(state=stopped), the container names (as in the static pods' C(containers[].name))
        that must be gone, when a container runtime is used.
    type: list
    elements: str
    default: [etcd, kube-apiserver]
  process_patterns:
    description:
      - With O(state=stopped) and no container runtime that answers, Python regular
        expressions searched in each process's command line (its arguments joined by
        spaces); a matching process must be gone.
      - The defaults match executables named C(etcd) and C(kube-apiserver) in any directory.
    type: list
    elements: str
    default: ['^(\S*/)?etcd(\s|$)', '^(\S*/)?kube-apiserver(\s|$)']
  ports:
    description:
      - With O(state=stopped), TCP ports nothing may listen on any more (read from
        C(/proc/net/tcp) and C(/proc/net/tcp6), and by a connect to 127.0.0.1).
    type: list
    elements: int
    default: [2379, 2380, 6443]
  wait_ports:
    description:
      - With O(state=started), TCP ports to wait for until they listen. Nothing is waited
        for by default.
    type: list
    elements: int
    default: []
  timeout:
    description: Seconds to wait for the pods to go (or the ports to listen).
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: Checks everything it would refuse, then reports what it would move and what runs now.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Stopping again when the manifests are already aside only waits (not changed).
      - Starting again when they are back in place does nothing (not changed).
notes:
  - Code runs on the master with the Python standard library only.
  - The kubelet stops a pod after its C(terminationGracePeriodSeconds) (30 s by default) at
    worst; keep O(timeout) above that.
  - Stopping etcd on every master at the same instant can stall its graceful stop; stop the
    followers first and the leader last.
seealso:
  - module: kubedr.etcd.etcd_member_restore
  - module: kubedr.etcd.etcd_member_facts
extends_documentation_fragment:
  - kubedr.etcd.attributes
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Stop etcd and kube-apiserver on this master
  kubedr.etcd.static_pods:
    state: stopped
    stamp: "{{ kubedr_etcd_restore_stamp }}"
  register: stopped

- name: Start them again
  kubedr.etcd.static_pods:
    state: started
    aside_dir: "{{ stopped.moved_to }}"
    wait_ports: [2379]

- name: Stop a lab master whose kube-apiserver is a Python script
  kubedr.etcd.static_pods:
    state: stopped
    stamp: 20261126T030000Z
    process_patterns:
      - '^(\S*/)?etcd(\s|$)'
      - '/apiserver\.py(\s|$)'
"""

RETURN = r"""
moved_to:
  description:
    - Where the manifests are now (or would be in check mode) - the aside directory after
      O(state=stopped), O(manifests_dir) after O(state=started).
    - null when O(state=stopped) found neither directory.
  returned: always
  type: str
  sample: /etc/kubernetes/manifests.kubedr-20261126T030000Z
moved_from:
  description: The aside directory that was (or would be) moved back; null when none was.
  returned: when O(state=started)
  type: str
  sample: /etc/kubernetes/manifests.kubedr-20261126T030000Z
waited:
  description: Seconds spent waiting (0 in check mode).
  returned: always
  type: float
  sample: 4.5
method:
  description: How the pods were watched.
  returned: when O(state=stopped)
  type: str
  sample: crictl
running:
  description:
    - What runs now (check mode) or still ran at the timeout - containers (id, name),
      processes (pid, command), ports (port, pid) and errors of the runtime.
  returned: check mode with O(state=stopped), and on a timeout
  type: dict
  sample:
    containers: []
    processes: [{pid: 4242, command: "etcd --data-dir=/var/lib/etcd"}]
    ports: [{port: 2379, pid: 4242}]
    errors: []
notes:
  description: Runtimes present but not answering, duplicates found, empty directories.
  returned: always
  type: list
  elements: str
  sample: ["/usr/bin/docker does not answer (Cannot connect to the Docker daemon); not used"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.kubedr.etcd.plugins.module_utils._module_exit import (  # noqa: E402
    exit_from,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._static_pods import (  # noqa: E402
    DEFAULT_CONTAINERS,
    DEFAULT_PORTS,
    DEFAULT_PROCESS_PATTERNS,
    StaticPodsError,
    aside_path,
    start,
    stop,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["stopped", "started"], "required": True},
            "manifests_dir": {"type": "path", "default": "/etc/kubernetes/manifests"},
            "stamp": {"type": "str"},
            "aside_dir": {"type": "path"},
            "wait_for": {"type": "list", "elements": "str", "default": list(DEFAULT_CONTAINERS)},
            "process_patterns": {
                "type": "list",
                "elements": "str",
                "default": list(DEFAULT_PROCESS_PATTERNS),
            },
            "ports": {"type": "list", "elements": "int", "default": list(DEFAULT_PORTS)},
            "wait_ports": {"type": "list", "elements": "int", "default": []},
            "timeout": {"type": "int", "default": 120},
        },
        required_if=[("state", "stopped", ("stamp",))],
        supports_check_mode=True,
    )
    p = module.params
    if p["timeout"] < 0:
        module.fail_json(msg=f"timeout={p['timeout']}: give seconds, 0 or more")
    for option in ("ports", "wait_ports"):
        bad = [port for port in p[option] if not 0 < port < 65536]
        if bad:
            module.fail_json(msg=f"{option}: {bad} are not TCP ports (1-65535)")

    def work():
        if p["state"] == "stopped":
            return stop(
                p["manifests_dir"],
                p["stamp"],
                names=p["wait_for"],
                ports=p["ports"],
                process_patterns=p["process_patterns"],
                timeout=p["timeout"],
                check_mode=module.check_mode,
            )
        if not p["aside_dir"] and not p["stamp"]:
            module.fail_json(
                msg="state=started needs aside_dir (the moved-aside manifests directory)"
                " or the stamp that stopped the pods"
            )
        aside = p["aside_dir"] or aside_path(p["manifests_dir"], p["stamp"])
        return start(
            p["manifests_dir"],
            aside,
            wait_ports=p["wait_ports"],
            timeout=p["timeout"],
            check_mode=module.check_mode,
        )

    exit_from(module, work, StaticPodsError)


if __name__ == "__main__":
    main()
