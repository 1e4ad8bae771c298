"""Setting etcd's flags in its static pod manifest as text (_etcd_manifest_edit): the flags
asked for change, every other byte stays, and what cannot be edited safely is refused."""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (
    ManifestError,
    etcd_member_config,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest_edit import set_flags
from ansible_collections.kubedr.etcd.plugins.module_utils._manifest_yaml import load_yaml
from tests.lab import manifests

CLUSTER = "cp-a=https://10.0.0.1:2380,cp-b=https://10.0.0.2:2380,cp-c=https://10.0.0.3:2380"
JOIN = {"initial-cluster": CLUSTER, "initial-cluster-state": "existing"}

HAND_WRITTEN = """\
# kept by the platform team: do not reorder
apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.16-0
    command:
    - etcd
    - --name=cp-b   # this master
    - "--data-dir=/var/lib/etcd"
    - --initial-cluster=cp-b=https://10.0.0.2:2380
    - --initial-advertise-peer-urls=https://10.0.0.2:2380
    - --listen-peer-urls=https://10.0.0.2:2380
    - --advertise-client-urls=https://10.0.0.2:2379
    - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.2:2379
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
  volumes:
  - hostPath:
      path: /var/lib/etcd
    name: etcd-data
"""


def member_of(text):
    return etcd_member_config(load_yaml(text), "etcd.yaml")


def test_a_first_masters_manifest_becomes_a_joining_members():
    text = manifests.etcd("cp-b", "10.0.0.2", "cp-b=https://10.0.0.2:2380", "new", "3.5")
    result, changed = set_flags(text, JOIN)
    assert changed == ["initial-cluster", "initial-cluster-state"]
    member = member_of(result)
    assert member["initial_cluster_state"] == "existing"
    assert [m["name"] for m in member["initial_cluster"]] == ["cp-a", "cp-b", "cp-c"]
    # nothing else moved: the old text minus the one line changed, plus the one added
    gone = set(text.splitlines()) - set(result.splitlines())
    new = set(result.splitlines()) - set(text.splitlines())
    assert gone == {"    - --initial-cluster=cp-b=https://10.0.0.2:2380"}
    assert new == {f"    - --initial-cluster={CLUSTER}", "    - --initial-cluster-state=existing"}


def test_comments_quotes_and_order_of_a_hand_written_manifest_stay():
    result, _changed = set_flags(HAND_WRITTEN, JOIN)
    assert result.startswith("# kept by the platform team: do not reorder\n")
    assert '    - "--data-dir=/var/lib/etcd"\n' in result
    assert "    - --name=cp-b   # this master\n" in result
    lines = result.splitlines()
    at = lines.index("    - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.2:2379")
    assert lines[at + 1] == "    - --initial-cluster-state=existing"
    assert lines[at + 2] == "    volumeMounts:"
    assert member_of(result)["name"] == "cp-b"


def test_setting_what_is_set_already_changes_nothing():
    once = set_flags(HAND_WRITTEN, JOIN)[0]
    twice, changed = set_flags(once, JOIN)
    assert twice == once and changed == []


def test_a_value_yaml_would_misread_is_quoted():
    result = set_flags(HAND_WRITTEN, {"initial-cluster-token": "a: b # c"})[0]
    assert '    - "--initial-cluster-token=a: b # c"\n' in result
    assert member_of(result)["name"] == "cp-b"


def test_a_flag_with_its_value_apart_is_refused():
    text = HAND_WRITTEN.replace(
        "    - --initial-cluster=cp-b=https://10.0.0.2:2380\n",
        "    - --initial-cluster\n    - cp-b=https://10.0.0.2:2380\n",
    )
    with pytest.raises(ManifestError, match="written with its value apart"):
        set_flags(text, JOIN)


def test_flags_of_another_container_are_refused():
    sidecar = (
        "  - name: backup\n    image: busybox\n    command:\n    - sh\n    - --initial-cluster=x\n"
    )
    text = HAND_WRITTEN.replace("  volumes:\n", sidecar + "  volumes:\n")
    with pytest.raises(ManifestError, match="more than the etcd container"):
        set_flags(text, JOIN)


def test_crlf_line_ends_are_kept():
    text = HAND_WRITTEN.replace("\n", "\r\n")
    result = set_flags(text, JOIN)[0]
    assert "\r\n    - --initial-cluster-state=existing\r\n" in result
    assert "\n" not in result.replace("\r\n", "")
