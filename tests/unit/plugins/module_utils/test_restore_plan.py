"""Unit tests of the cluster-wide restore plan."""

from __future__ import annotations

import copy
import re

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._disk_space import MIB
from ansible_collections.kubedr.etcd.plugins.module_utils._restore_plan import (
    build_plan,
    plan_diff,
)
from tests.support.restore_plan_data import (
    SNAPSHOT_SIZE,
    STAMP,
    master,
    member,
    metadata,
    three,
    tools,
)


def plan_of(masters, meta=None, **kwargs):
    kwargs.setdefault("stamp", STAMP)
    kwargs.setdefault("random_hex", "abc123")
    return build_plan(masters, metadata() if meta is None else meta, **kwargs)


def refused(masters, meta=None, **kwargs):
    result = plan_of(masters, meta, **kwargs)
    assert result["ok"] is False
    assert result["plan"] is None
    assert result["problems"]
    for problem in result["problems"]:
        assert "\n" not in problem
    return result


def only_problem(masters, meta=None, **kwargs):
    problems = refused(masters, meta, **kwargs)["problems"]
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------
# Good plans
# --------------------------------------------------------------------------


def test_three_masters_exact_plan():
    result = plan_of(three())
    assert result == {
        "ok": True,
        "problems": [],
        "warnings": [],
        "plan": {
            "stamp": STAMP,
            "token": "kubedr-restore-20261126T031500Z-abc123",
            "initial_cluster": "master-1=https://10.0.0.1:2380,master-2=https://10.0.0.2:2380,"
            "master-3=https://10.0.0.3:2380",
            "bump_revision": 1000000000,
            "members": [
                {
                    "host": f"docker{n}",
                    "name": f"master-{n}",
                    "address": f"10.0.0.{n}",
                    "peer_urls": [f"https://10.0.0.{n}:2380"],
                    "peer_ports": [2380],
                    "client_urls": [f"https://10.0.0.{n}:2379"],
                    "client_ports": [2379],
                    "apiserver_port": None,
                    "data_dir": "/var/lib/etcd",
                    "etcd_version": "3.5.16",
                    "tool": {
                        "name": "etcdutl",
                        "path": "/usr/local/bin/etcdutl",
                        "version": "3.5.16",
                    },
                    "peer_tls": {
                        "cert_file": "/etc/kubernetes/pki/etcd/peer.crt",
                        "key_file": "/etc/kubernetes/pki/etcd/peer.key",
                    },
                }
                for n in (1, 2, 3)
            ],
            "stop_order": ["docker1", "docker3", "docker2"],
            "start_order": ["docker1", "docker2", "docker3"],
            "expected_revision_min": 1000012345,
            "snapshot": {
                "size": SNAPSHOT_SIZE,
                "revision": 12345,
                "total_key": 1024,
                "etcd_version": "3.5.16",
            },
        },
    }


def test_one_master():
    result = plan_of([master(1, leader=True)], metadata(names=["master-1"]))
    assert result["ok"], result["problems"]
    assert result["warnings"] == []
    plan = result["plan"]
    assert plan["initial_cluster"] == "master-1=https://10.0.0.1:2380"
    assert plan["stop_order"] == plan["start_order"] == ["docker1"]
    assert [m["name"] for m in plan["members"]] == ["master-1"]


def test_five_masters():
    masters = [master(n, leader=n == 4) for n in range(1, 6)]
    names = [f"master-{n}" for n in range(1, 6)]
    result = plan_of(masters, metadata(names=names))
    assert result["ok"], result["problems"]
    assert result["warnings"] == []
    plan = result["plan"]
    assert plan["initial_cluster"] == ",".join(
        f"master-{n}=https://10.0.0.{n}:2380" for n in range(1, 6)
    )
    assert plan["stop_order"] == ["docker1", "docker2", "docker3", "docker5", "docker4"]
    assert plan["start_order"] == [f"docker{n}" for n in range(1, 6)]


def test_inventory_order_kept():
    masters = [master(3), master(1), master(2)]
    plan = plan_of(masters)["plan"]
    assert [m["host"] for m in plan["members"]] == ["docker3", "docker1", "docker2"]
    assert plan["initial_cluster"].startswith("master-3=https://10.0.0.3:2380,master-1=")
    assert plan["start_order"] == ["docker3", "docker1", "docker2"]
    assert plan["stop_order"] == ["docker3", "docker1", "docker2"]


def test_the_start_waits_on_the_ports_etcd_listens_on_for_its_peers():
    masters = three()
    masters[0]["member"]["listen_peer_urls"] = ["https://10.0.0.1:12380", "https://[::1]:12381"]
    masters[1]["member"]["listen_peer_urls"] = []  # only the advertised URL: its port
    masters[1]["member"]["initial_advertise_peer_urls"] = ["https://10.0.0.2:22380"]
    masters[1]["preflight"]["peer_cert_ips"] = ["10.0.0.2"]
    masters[0]["member"]["listen_client_urls"] = ["http://127.0.0.1:12379"]
    masters[0]["member"]["apiserver"] = {"address": "10.0.0.1", "port": 16443}
    plan = plan_of(masters)["plan"]
    ports = {m["host"]: m["peer_ports"] for m in plan["members"]}
    assert ports == {"docker1": [12380, 12381], "docker2": [22380], "docker3": [2380]}
    first = plan["members"][0]
    assert (first["client_ports"], first["apiserver_port"]) == ([12379], 16443)


def test_member_with_two_peer_urls_lists_both():
    masters = three()
    masters[0]["member"]["initial_advertise_peer_urls"].append("https://10.1.0.1:2380")
    masters[0]["preflight"]["addresses"].append("10.1.0.1")
    masters[0]["preflight"]["peer_cert_ips"].append("10.1.0.1")
    plan = plan_of(masters)["plan"]
    assert plan["initial_cluster"].startswith(
        "master-1=https://10.0.0.1:2380,master-1=https://10.1.0.1:2380,master-2="
    )


def test_ipv6_peer_url():
    masters = [master(1, ip="fd00::1"), master(2, ip="fd00::2"), master(3, ip="fd00::3")]
    for m in masters:
        ip = m["address"]
        m["member"]["initial_advertise_peer_urls"] = [f"https://[{ip}]:2380"]
        m["member"]["advertise_client_urls"] = [f"https://[{ip}]:2379"]
        m["preflight"]["addresses"] = [ip.replace("fd00::", "fd00:0:0::")]
    result = plan_of(masters)
    assert result["ok"], result["problems"]
    assert "master-2=https://[fd00::2]:2380" in result["plan"]["initial_cluster"]


# --------------------------------------------------------------------------
# Leader, token, bump
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaders", "stop_order"),
    [
        ((True, False, False), ["docker2", "docker3", "docker1"]),
        ((False, False, True), ["docker1", "docker2", "docker3"]),
        ((None, None, None), ["docker1", "docker2", "docker3"]),
        ((False, False, False), ["docker1", "docker2", "docker3"]),
        ((None, True, None), ["docker1", "docker3", "docker2"]),
    ],
)
def test_stop_order_leader_last(leaders, stop_order):
    masters = [master(n, leader=leader) for n, leader in zip((1, 2, 3), leaders, strict=True)]
    result = plan_of(masters)
    assert result["plan"]["stop_order"] == stop_order
    assert result["plan"]["start_order"] == ["docker1", "docker2", "docker3"]


def test_two_leaders_stop_in_inventory_order_with_warning():
    masters = [master(1, leader=True), master(2, leader=True), master(3)]
    result = plan_of(masters)
    assert result["plan"]["stop_order"] == ["docker1", "docker2", "docker3"]
    assert result["warnings"] == [
        "docker1 and docker2 each report being the etcd leader: stopping in inventory order"
    ]


def test_default_token_is_fresh_and_well_formed():
    first = build_plan(three(), metadata(), stamp=STAMP)["plan"]["token"]
    second = build_plan(three(), metadata(), stamp=STAMP)["plan"]["token"]
    assert re.fullmatch(r"kubedr-restore-20261126T031500Z-[0-9a-f]{6}", first)
    assert first != second


def test_token_random_hex_callable_and_given_token():
    plan = plan_of(three(), random_hex=lambda: "0f0f0f")["plan"]
    assert plan["token"] == "kubedr-restore-20261126T031500Z-0f0f0f"
    plan = plan_of(three(), token="my-cluster-2")["plan"]
    assert plan["token"] == "my-cluster-2"


@pytest.mark.parametrize("token", ["", "two words", "a,b"])
def test_bad_token_refused(token):
    assert only_problem(three(), token=token).startswith(f"token {token!r} is not usable")


@pytest.mark.parametrize("stamp", ["", "../x", "a b"])
def test_bad_stamp_refused(stamp):
    assert only_problem(three(), stamp=stamp).startswith(f"stamp {stamp!r} is not usable")


def test_bump_disabled_when_one_master_has_etcdctl_3_4_23():
    new = {"etcdctl": "3.4.27", "etcdutl": None}
    masters = [
        master(1, version="3.4.27", tool_versions=new),
        master(2, version="3.4.27", tool_versions=new),
        master(3, version="3.4.23", tool_versions={"etcdctl": "3.4.23", "etcdutl": None}),
    ]
    result = plan_of(masters, metadata(version="3.4.27"))
    assert result["ok"], result["problems"]
    plan = result["plan"]
    assert plan["bump_revision"] is None
    assert plan["expected_revision_min"] == 12345
    assert [m["tool"]["name"] for m in plan["members"]] == ["etcdctl"] * 3
    assert plan["members"][2]["tool"]["version"] == "3.4.23"
    assert len(result["warnings"]) == 2
    assert "master runs etcd" not in " ".join(result["warnings"])
    bump = result["warnings"][1]
    assert bump.startswith(
        "restoring without --bump-revision: docker3's etcdctl 3.4.23 (needs 3.4.27+) cannot"
        " bump the revision; Kubernetes watch caches and informers may miss changes"
    )
    assert "kubelet" in bump
    assert result["warnings"][0].startswith("the masters run different etcd versions")


def test_bump_disabled_for_old_etcdutl():
    masters = three(tool_versions={"etcdutl": "3.5.9", "etcdctl": "3.5.9"})
    result = plan_of(masters)
    assert result["plan"]["bump_revision"] is None
    assert "docker1's etcdutl 3.5.9 (needs 3.5.10+), docker2's" in result["warnings"][0]


def test_bump_zero_disables_with_warning():
    result = plan_of(three(), bump_revision=0)
    assert result["plan"]["bump_revision"] is None
    assert result["plan"]["expected_revision_min"] == 12345
    assert result["warnings"][0].startswith("bump_revision is 0: the revision is not bumped;")


def test_bump_custom_value():
    plan = plan_of(three(), bump_revision=5000)["plan"]
    assert plan["bump_revision"] == 5000
    assert plan["expected_revision_min"] == 17345


@pytest.mark.parametrize("bump", [-1, True, "many"])
def test_bad_bump_refused(bump):
    assert only_problem(three(), bump_revision=bump).startswith(f"bump_revision={bump!r}:")


# --------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------


def test_zero_masters_refused():
    assert only_problem([]).startswith("no masters given")


def test_no_member_facts_refused():
    masters = three()
    masters.append({"host": "docker9", "address": "10.0.0.9"})  # member/tools/preflight None
    result = refused(masters)
    assert result["problems"] == [
        "docker9: no etcd member facts (kubedr_etcd_member): no etcd manifest found there (or"
        " the master did not answer); restore /etc/kubernetes from the control-plane archive"
        " first, then run the restore again"
    ]
    assert result["warnings"][0].startswith("4 members tolerate")


def test_no_tools_and_no_preflight_refused():
    masters = three()
    masters[1]["tools"] = None
    masters[2]["preflight"] = None
    problems = refused(masters)["problems"]
    assert problems == [
        "docker2: no etcd tool facts (kubedr_etcd_tools): run kubedr.etcd.etcd_member_facts on"
        " it first",
        "docker3: no preflight facts (kubedr_etcd_preflight): run"
        " kubedr.etcd.etcd_restore_preflight on it first",
    ]


def test_duplicate_member_names_refused():
    masters = three()
    masters[2]["member"]["name"] = "master-1"
    masters[2]["preflight"]["hostname"] = "master-1"
    problem = only_problem(masters)
    assert problem.startswith("docker1 and docker3: share the etcd member name master-1;")


def test_duplicate_peer_urls_refused():
    masters = three()
    masters[2]["member"]["initial_advertise_peer_urls"] = ["https://10.0.0.2:2380"]
    masters[2]["preflight"]["addresses"].append("10.0.0.2")
    masters[2]["preflight"]["peer_cert_ips"].append("10.0.0.2")
    problem = only_problem(masters)
    assert problem.startswith(
        "docker2 and docker3: peer URL https://10.0.0.2:2380 appears 2 times;"
    )


def test_master_on_another_address_refused():
    masters = three()
    masters[2]["member"] = member("master-3", "10.0.0.9")
    masters[2]["preflight"]["addresses"] = ["10.77.0.9"]
    masters[2]["preflight"]["peer_cert_ips"] = ["10.0.0.9"]
    masters[2]["address"] = "10.77.0.9"
    problem = only_problem(masters)
    assert problem == (
        "docker3: the data and certificates were written for 10.0.0.9; this master has"
        " 10.77.0.9: a restore needs each master back on its old address (give it 10.0.0.9"
        " again, or point the inventory entry at the master that has it)"
    )


def test_inventory_address_not_on_master_refused():
    masters = three()
    masters[1]["address"] = "10.0.0.22"
    problem = only_problem(masters)
    assert problem.startswith(
        "docker2: Ansible connects to 10.0.0.22, but this master has 10.0.0.2"
    )
    assert "set ansible_host of docker2" in problem


@pytest.mark.parametrize("address", ["docker2.example.com", "127.0.0.1", "::1"])
def test_inventory_address_name_or_loopback_not_checked(address):
    masters = three()
    masters[1]["address"] = address
    assert plan_of(masters)["ok"]


def test_peer_ip_not_in_peer_certificate_refused():
    masters = three()
    masters[0]["preflight"]["peer_cert_ips"] = ["10.0.0.99", "127.0.0.1"]
    problem = only_problem(masters)
    assert problem == (
        "docker1: /etc/kubernetes/pki/etcd/peer.crt is for 10.0.0.99, 127.0.0.1, not for"
        " 10.0.0.1 (the member's peer URL): the other members would refuse it; restore"
        " /etc/kubernetes/pki from this master's control-plane archive"
    )


def test_unknown_peer_certificate_ips_not_checked():
    masters = three()
    masters[0]["preflight"]["peer_cert_ips"] = []
    assert plan_of(masters)["ok"]


def test_client_ip_not_in_server_certificate_warns():
    masters = three()
    masters[0]["preflight"]["server_cert_ips"] = ["127.0.0.1"]
    result = plan_of(masters)
    assert result["ok"]
    assert result["warnings"] == [
        "docker1: /etc/kubernetes/pki/etcd/server.crt is for 127.0.0.1, not for 10.0.0.1"
        " (https://10.0.0.1:2379): clients dialling that URL, such as the checks after the"
        " restore, will fail TLS"
    ]


def test_etcd_35_without_etcdutl_and_only_etcdctl_34_refused():
    masters = three()
    masters[0]["tools"] = tools(etcdutl=None, etcdctl="3.4.23")
    assert only_problem(masters) == (
        "docker1: etcd 3.5.16 restores with etcdutl, but etcdutl was not found; install etcdutl"
        " from the etcd 3.5.16 release on this master (etcdutl_path when it is not on PATH)"
    )


def test_etcdutl_without_version_refused():
    masters = three()
    masters[0]["tools"] = tools(etcdctl=None)
    masters[0]["tools"]["etcdutl"].update(version=None, error="exec format error")
    problem = only_problem(masters)
    assert "etcdutl at /usr/local/bin/etcdutl gave no version (exec format error)" in problem


def test_etcdctl_35_fallback_warns():
    masters = three()
    masters[1]["tools"] = tools(etcdutl=None, etcdctl="3.5.16")
    result = plan_of(masters)
    assert result["ok"], result["problems"]
    assert result["plan"]["members"][1]["tool"] == {
        "name": "etcdctl",
        "path": "/usr/local/bin/etcdctl",
        "version": "3.5.16",
    }
    assert result["plan"]["bump_revision"] == 1000000000
    assert result["warnings"] == [
        "docker2: etcdutl was not found: restoring with etcdctl 3.5.16's deprecated 'snapshot"
        " restore'; install etcdutl 3.5.16 on it to use the supported tool"
    ]


def test_etcd_34_without_etcdctl_refused():
    masters = [master(n, version="3.4.23", tool_versions={"etcdutl": "3.5.16"}) for n in (1, 2, 3)]
    masters[1]["tools"] = tools(etcdutl=None, etcdctl="3.4.23")
    masters[2]["tools"] = tools(etcdutl=None, etcdctl="3.4.23")
    masters[0]["tools"]["etcdctl"] = None
    problem = only_problem(masters, metadata(version="3.4.23"))
    assert problem.startswith(
        "docker1: etcd 3.4.23 restores with etcdctl (ETCDCTL_API=3), but etcdctl was not found;"
    )


def test_etcd_36_with_only_etcdctl_refused():
    masters = three(version="3.6.0", tool_versions={"etcdutl": "3.6.0", "etcdctl": "3.6.0"})
    masters[2]["tools"]["etcdutl"] = None
    problem = only_problem(masters)
    assert problem.startswith("docker3: etcd 3.6.0 restores with etcdutl, but etcdutl was not")


def test_etcd_older_than_33_refused():
    masters = three()
    masters[0]["member"]["version"] = "3.2.32"
    problems = refused(masters, metadata(version="3.2.32"))["problems"]
    assert problems == [
        "docker1: etcd 3.2.32 is older than 3.3; kubedr.etcd restores etcd 3.3 and newer"
    ]


def test_unknown_etcd_version_taken_from_the_tool():
    masters = three()
    masters[0]["member"]["version"] = None
    result = plan_of(masters)
    assert result["ok"]
    assert result["plan"]["members"][0]["etcd_version"] == "3.5.16"
    assert result["warnings"] == [
        "docker1: the etcd image tag does not tell the etcd version; assuming 3.5.16 from"
        " etcdutl /usr/local/bin/etcdutl"
    ]


def test_unknown_etcd_version_without_tools_refused():
    masters = three()
    masters[0]["member"]["version"] = None
    masters[0]["tools"] = tools(etcdutl=None, etcdctl=None)
    assert only_problem(masters).startswith(
        "docker1: neither the etcd image tag nor an etcdutl/etcdctl on the master tells"
    )


def test_not_enough_space_refused():
    need = SNAPSHOT_SIZE + 80 * MIB
    masters = three()
    masters[2]["preflight"]["data_dir_free"] = need - 1
    problem = only_problem(masters)
    assert problem.startswith(
        "docker3: /var/lib/etcd's file system has 104857599 bytes free but the restore needs"
        " 104857600 bytes (the 20 MiB snapshot restored beside the current data"
    )
    masters[2]["preflight"]["data_dir_free"] = need
    assert plan_of(masters)["ok"]


def test_space_message_readable():
    masters = three()
    masters[0]["preflight"]["data_dir_free"] = 50 * MIB
    assert only_problem(masters) == (
        "docker1: /var/lib/etcd's file system has 50 MiB free but the restore needs 100 MiB"
        " (the 20 MiB snapshot restored beside the current data, which is moved aside and kept,"
        " plus 80 MiB for its WAL); free some space there"
    )


def test_a_copy_on_the_data_dir_file_system_counts_twice():
    """The default snapshot dir shares /var/lib with the data dir: the copy and the staged
    restore need 2S + 96 MiB there, not S + 80 MiB (which used to pass, and the stage
    step refused after the upload)."""
    need = 2 * SNAPSHOT_SIZE + 96 * MIB
    masters = three()
    masters[1]["preflight"].update(
        data_dir_free=SNAPSHOT_SIZE + 80 * MIB,
        snapshot_dir="/var/lib/kubedr-etcd/restore",
        snapshot_dir_free=SNAPSHOT_SIZE + 80 * MIB,
        snapshot_dir_on_data_dir_fs=True,
    )
    assert only_problem(masters) == (
        "docker2: /var/lib/etcd's file system, which also holds /var/lib/kubedr-etcd/restore,"
        " has 100 MiB free but the restore needs 136 MiB there (the copy of the 20 MiB"
        " snapshot, and the snapshot restored beside the current data, which is moved aside"
        " and kept, plus 96 MiB for its WAL and headroom); free some space there or set"
        " etcd_restore_snapshot_dir to another file system"
    )
    masters[1]["preflight"].update(data_dir_free=need, snapshot_dir_free=need)
    assert plan_of(masters)["ok"]
    # on two file systems each is checked for its own part
    masters[1]["preflight"].update(
        data_dir_free=SNAPSHOT_SIZE + 80 * MIB,
        snapshot_dir_free=SNAPSHOT_SIZE + 16 * MIB,
        snapshot_dir_on_data_dir_fs=False,
    )
    assert plan_of(masters)["ok"]


def test_snapshot_newer_than_master_refused():
    masters = three()
    masters[1] = master(2, version="3.4.23", tool_versions={"etcdutl": None, "etcdctl": "3.4.23"})
    problem = only_problem(masters)
    assert problem == (
        "docker2: the snapshot comes from etcd 3.5.16 but this master runs etcd 3.4.23: etcd"
        " cannot restore a newer release's snapshot; upgrade etcd on the masters to 3.5 first"
        " (the etcd image in the manifest), or restore an older snapshot"
    )


def test_older_snapshot_onto_newer_etcd_fine():
    result = plan_of(three(), metadata(version="3.4.23"))
    assert result["ok"], result["problems"]
    assert result["warnings"] == []


def test_newer_patch_release_snapshot_fine():
    masters = three(version="3.5.9", tool_versions={"etcdutl": "3.5.9", "etcdctl": "3.5.9"})
    result = plan_of(masters, metadata(version="3.5.16"))
    assert result["ok"], result["problems"]


def test_every_problem_reported_at_once():
    masters = three()
    masters[0]["preflight"]["data_dir_free"] = 0
    masters[1]["tools"] = tools(etcdutl=None, etcdctl=None)
    masters[2]["preflight"]["addresses"] = ["10.77.0.3"]
    masters[2]["address"] = "10.77.0.3"
    problems = refused(masters)["problems"]
    assert [p.split(":")[0] for p in problems] == ["docker1", "docker2", "docker3"]


def test_bad_peer_url_refused():
    masters = three()
    masters[0]["member"]["initial_advertise_peer_urls"] = ["https://10.0.0.1"]
    assert only_problem(masters) == (
        "docker1: peer URL 'https://10.0.0.1' is not an etcd URL (http[s]://host:port);"
        " correct its etcd manifest"
    )


def test_bad_member_name_refused():
    masters = three()
    masters[0]["member"]["name"] = "a,b"
    assert only_problem(masters).startswith("docker1: the etcd member name 'a,b' cannot go into")


def test_host_listed_twice_refused():
    masters = [*three(), master(1)]
    problems = refused(masters)["problems"]
    assert problems[0] == "docker1: listed more than once in hosts; list each master once"


def test_bad_metadata_refused():
    meta = metadata()
    meta["snapshot"]["revision"] = "12345"
    problem = only_problem(three(), meta)
    assert problem.startswith("the snapshot metadata has snapshot.revision='12345'")
    assert only_problem(three(), ["not", "a", "dict"]).startswith("snapshot_metadata is a list")


# --------------------------------------------------------------------------
# Warnings
# --------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 4])
def test_even_number_of_members_warns(count):
    names = [f"master-{n}" for n in range(1, count + 1)]
    masters = [master(n) for n in range(1, count + 1)]
    result = plan_of(masters, metadata(names=names))
    assert result["ok"]
    assert result["warnings"] == [
        f"{count} members tolerate no more failures than {count - 1} ({(count - 2) // 2} of"
        " them): an odd number of masters is the usual layout"
    ]


def test_hostname_differs_from_member_name_warns():
    masters = three()
    masters[1]["preflight"]["hostname"] = "node-b"
    result = plan_of(masters)
    assert result["ok"]
    assert result["warnings"] == [
        "docker2: the member is named master-2 but the hostname is node-b: kubeadm names the"
        " member after the node; check that this is the right master"
    ]


def test_fqdn_hostname_matches_member_name():
    masters = three()
    masters[1]["preflight"]["hostname"] = "Master-2.example.com"
    assert plan_of(masters)["warnings"] == []


def test_snapshot_of_other_members_is_refused_unless_allowed():
    other = metadata(names=("etcd-a", "etcd-b", "etcd-c"))
    assert only_problem(three(), other) == (
        "the snapshot was taken from members etcd-a, etcd-b, etcd-c but the plan restores"
        " master-1, master-2, master-3: check that it is this cluster's backup (set"
        " etcd_restore_allow_other_cluster=true to restore it anyway)"
    )
    result = build_plan(three(), other, stamp=STAMP, random_hex="abc123", allow_other_cluster=True)
    assert result["ok"]
    assert result["warnings"] == [
        "the snapshot was taken from members etcd-a, etcd-b, etcd-c but the plan restores"
        " master-1, master-2, master-3: check that it is this cluster's backup"
    ]


def live(masters, members, cluster_id="a1b2c3d4e5f60718"):
    for m in masters:
        m["preflight"].update(members=members, cluster_id=cluster_id)
    return masters


def voting(*names):
    return [{"name": n, "id": str(i), "is_learner": False} for i, n in enumerate(names)]


def test_a_voting_member_the_inventory_leaves_out_is_refused():
    masters = live(three(), voting("master-1", "master-2", "master-3", "master-4"))
    assert only_problem(masters).startswith(
        "the live cluster has voting member master-4, which the inventory leaves out"
    )


def test_a_learner_is_refused():
    members = [*voting("master-1", "master-2"), {"name": "master-3", "id": "9", "is_learner": True}]
    assert only_problem(live(three(), members)).startswith(
        "master-3: still a learner in the live cluster"
    )


def test_a_snapshot_of_another_cluster_id_is_refused_unless_a_restore_made_the_live_one():
    masters = live(three(), voting("master-1", "master-2", "master-3"), cluster_id="1111")
    record = metadata()
    record["etcd"]["cluster_id"] = "2222"
    assert only_problem(masters, record).startswith(
        "the snapshot comes from etcd cluster 2222 but the live cluster is 1111: check"
    )
    masters[0]["preflight"]["journal"] = {"phase": "done"}
    result = plan_of(masters, record)
    assert result["ok"] and "made by an earlier restore" in result["warnings"][0]
    # rolled back since, the journal says rolled-back; the marker of the restore that
    # made the live cluster is still in the data dir
    masters[0]["preflight"]["journal"] = {"phase": "rolled-back"}
    assert not plan_of(masters, record)["ok"]
    masters[1]["preflight"]["last_restore"] = {"stamp": "20261126T010000Z"}
    assert plan_of(masters, record)["ok"]


def test_snapshot_member_order_does_not_matter():
    result = plan_of(three(), metadata(names=("master-3", "master-1", "master-2")))
    assert result["warnings"] == []


def test_missing_metadata_warns_and_skips_size_checks():
    masters = three()
    masters[0]["preflight"]["data_dir_free"] = 0  # not checked without a size
    result = build_plan(masters, None, stamp=STAMP, random_hex="abc123")
    assert result["ok"], result["problems"]
    assert len(result["warnings"]) == 1
    assert result["warnings"][0].startswith(
        "the snapshot has no metadata record: only the sha256 trailer can be checked"
    )
    plan = result["plan"]
    assert plan["snapshot"] == {
        "size": None,
        "revision": None,
        "total_key": None,
        "etcd_version": None,
    }
    assert plan["expected_revision_min"] is None
    assert plan["bump_revision"] == 1000000000


def test_peer_url_by_name_warns():
    masters = three()
    masters[0]["member"]["initial_advertise_peer_urls"] = ["https://etcd-1.example.com:2380"]
    result = plan_of(masters)
    assert result["ok"]
    assert result["warnings"] == [
        "docker1: the peer URL names the host etcd-1.example.com, not an IP: check that it"
        " resolves to this master on every master"
    ]


def test_inputs_not_modified():
    masters = three()
    meta = metadata()
    before = copy.deepcopy((masters, meta))
    plan_of(masters, meta)
    assert (masters, meta) == before


def test_a_member_that_started_alone_after_the_disaster_is_no_other_cluster():
    """After the data is lost, the first master may start as a new empty one-member
    cluster: another cluster id, but not the cluster the snapshot is compared with."""
    masters = live(three(), voting("master-1"), cluster_id="1111")
    record = metadata()
    record["etcd"]["cluster_id"] = "2222"
    result = plan_of(masters, record)
    assert result["ok"], result["problems"]
    assert "the live cluster is not whole, its id is not compared" in result["warnings"][0]


def test_plan_diff_shows_the_live_flags_against_the_planned_ones():
    masters = three()  # docker2 leads
    live_cluster = ",".join(f"master-{n}=https://10.0.0.{n}:2380" for n in (1, 2, 3))
    for m in masters:
        m["member"].update(
            initial_cluster_string=live_cluster, initial_cluster_token="etcd-cluster"
        )
    masters[0]["preflight"]["etcd_running"] = False
    plan = plan_of(masters)["plan"]
    diff = plan_diff(masters, plan)
    before, after = diff["before"]["members"]["docker1"], diff["after"]["members"]["docker1"]
    assert (before["initial_cluster_token"], after["initial_cluster_token"]) == (
        "etcd-cluster",
        plan["token"],
    )
    assert before["initial_cluster"] == live_cluster
    assert after["initial_cluster"] == plan["initial_cluster"]
    assert before["member_dir"] == "/var/lib/etcd/member"
    assert after["old_member_moved_to"] == f"/var/lib/etcd/member.kubedr-{STAMP}"
    assert diff["before"]["order"] == {
        "etcd_running_on": ["docker2", "docker3"],
        "leader": "docker2",
    }
    assert diff["after"]["order"] == {
        "stop_order": ["docker1", "docker3", "docker2"],
        "start_order": ["docker1", "docker2", "docker3"],
    }
    assert diff["after_header"] == f"etcd members after restore {STAMP}"
