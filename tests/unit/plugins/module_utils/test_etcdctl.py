"""Unit tests of the etcdctl runner, parsers and command builders."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _etcdctl as E
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    EtcdctlTimeout,
    check,
    choose_healthy_endpoint,
    client_env,
    endpoint_hashkv_argv,
    endpoint_health_argv,
    endpoint_status_argv,
    error_summary,
    format_id,
    format_initial_cluster,
    member_list_argv,
    parse_endpoint_hashkv,
    parse_endpoint_health,
    parse_endpoint_status,
    parse_json,
    parse_member_list,
    parse_snapshot_status,
    run,
    snapshot_restore_argv,
    snapshot_save_argv,
    snapshot_status_argv,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "etcdctl"
CLUSTER_ID = "f6bdd115e86ccf90"
DEPRECATED = "Deprecated: Use `etcdutl snapshot status` instead.\n\n"

MEMBER_IDS = {
    "3.4": {
        "docker8": "7cc83eb522e18dda",
        "docker9": "2dc11067490aaaa6",
        "docker10": "e8683fda5bee69b4",
    },
    "3.5": {
        "docker8": "7cc83eb522e18dda",
        "docker9": "8c96fc37cbaacd07",
        "docker10": "8e0111023a1a858a",
    },
}
IP = {"docker8": "10.77.0.8", "docker9": "10.77.0.9", "docker10": "10.77.0.10"}


def fixture(version, name):
    return (FIXTURES / version / name).read_text()


def tools(etcdctl=None, etcdutl=None):
    """kubedr_etcd_tools as etcd_member_facts returns it."""

    def tool(name, version):
        if version is None:
            return None
        return {"path": f"/usr/bin/{name}", "version": version, "error": None}

    return {"etcdctl": tool("etcdctl", etcdctl), "etcdutl": tool("etcdutl", etcdutl)}


# --------------------------------------------------------------------------
# client_env
# --------------------------------------------------------------------------


def test_client_env_puts_tls_and_endpoints_in_environment():
    env = client_env(
        ["https://10.77.0.8:2379", "https://10.77.0.9:2379"],
        "/etc/kubernetes/pki/etcd/ca.crt",
        "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "/etc/kubernetes/pki/etcd/healthcheck-client.key",
    )
    assert env == {
        "ETCDCTL_API": "3",
        "ETCDCTL_ENDPOINTS": "https://10.77.0.8:2379,https://10.77.0.9:2379",
        "ETCDCTL_CACERT": "/etc/kubernetes/pki/etcd/ca.crt",
        "ETCDCTL_CERT": "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "ETCDCTL_KEY": "/etc/kubernetes/pki/etcd/healthcheck-client.key",
        "ETCDCTL_DIAL_TIMEOUT": "3s",
        "ETCDCTL_COMMAND_TIMEOUT": "10s",
    }


def test_client_env_plain_http_and_string_endpoints():
    env = client_env("http://127.0.0.1:2379", None, None, None, "1s", "5s")
    assert env["ETCDCTL_ENDPOINTS"] == "http://127.0.0.1:2379"
    assert "ETCDCTL_CACERT" not in env and "ETCDCTL_KEY" not in env
    assert env["ETCDCTL_DIAL_TIMEOUT"] == "1s" and env["ETCDCTL_COMMAND_TIMEOUT"] == "5s"
    with pytest.raises(EtcdctlError, match="no etcd endpoint given"):
        client_env([], None, None, None)


# --------------------------------------------------------------------------
# run / check
# --------------------------------------------------------------------------


def test_run_returns_rc_stdout_stderr_and_merges_env():
    rc, out, err = run(
        ["sh", "-c", 'echo "out $KUBEDR_X"; echo err >&2; exit 3'], env={"KUBEDR_X": "y"}
    )
    assert (rc, out, err) == (3, "out y\n", "err\n")
    rc, out, _unused = run(["sh", "-c", 'echo "$HOME"'])  # os.environ is kept
    assert out.strip() == os.environ["HOME"]


def test_run_cwd(tmp_path):
    assert run(["pwd"], cwd=str(tmp_path))[1].strip() == str(tmp_path)
    with pytest.raises(EtcdctlError, match="does not exist"):
        run(["pwd"], cwd=str(tmp_path / "missing"))


def test_run_missing_executable():
    with pytest.raises(EtcdctlError) as info:
        run(["/nonexistent/etcdctl", "version"])
    assert info.value.msg == "cannot run /nonexistent/etcdctl: not found"
    assert info.value.cmd == "/nonexistent/etcdctl version"
    assert not isinstance(info.value, EtcdctlTimeout)


def _processes_with(marker):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_run_timeout_kills_the_process_quickly():
    start = time.monotonic()
    with pytest.raises(EtcdctlTimeout) as info:
        run(["sleep", "30"], timeout=1)
    assert time.monotonic() - start < 5
    assert info.value.msg == "'sleep 30' did not finish in 1s; is the endpoint hanging?"
    assert info.value.rc is None
    assert isinstance(info.value, EtcdctlError)


def test_run_timeout_kills_the_whole_process_group():
    marker = f"KUBEDR_TEST_{uuid.uuid4().hex}"
    start = time.monotonic()
    with pytest.raises(EtcdctlTimeout, match=r"did not finish in 0\.5s"):
        # the shell's children (background and foreground sleep) must die with it
        run(["sh", "-c", "echo started; sleep 30 & sleep 30"], env={marker: "1"}, timeout=0.5)
    assert time.monotonic() - start < 5
    deadline = time.monotonic() + 3
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker) == []


def test_check_returns_stdout_or_raises_with_the_error_line():
    assert check(["sh", "-c", "echo fine"]) == "fine\n"
    with pytest.raises(EtcdctlError) as info:
        check(
            ["sh", "-c", 'echo \'{"level":"info","msg":"x"}\' >&2; echo "Error: boom" >&2; exit 1'],
            what="etcdctl member list",
        )
    assert info.value.msg == "etcdctl member list failed (rc=1): Error: boom"
    assert info.value.rc == 1
    assert "Error: boom" in info.value.stderr


def test_check_reports_a_signal():
    with pytest.raises(EtcdctlError, match=r"^sh -c 'kill -9 \$\$' was killed by signal 9"):
        check(["sh", "-c", "kill -9 $$"])


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_error_summary_of_raw_db_restore(version):
    summary = error_summary(fixture(version, "restore-rawdb.txt"))
    assert summary.startswith("Error: snapshot missing hash but --skip-hash-check=false (")
    assert "not a file written by `snapshot save`" in summary
    assert "restoring snapshot" not in summary and "Deprecated" not in summary


def test_error_summary_drops_usage_text_and_duplicates():
    summary = error_summary(fixture("3.4", "restore-bump-unsupported.txt"))
    assert summary == "Error: unknown flag: --bump-revision"


def test_error_summary_keeps_unhealthy_line_and_falls_back():
    stderr = (
        '{"level":"warn","ts":"x","msg":"retrying of unary invoker failed",'
        '"error":"rpc error: code = DeadlineExceeded"}\n'
        "https://10.77.0.9:2379 is unhealthy: failed to commit proposal: context deadline"
        " exceeded\nError: unhealthy cluster\n"
    )
    summary = error_summary(stderr)
    assert summary.startswith(
        "https://10.77.0.9:2379 is unhealthy: failed to commit proposal: context deadline"
        " exceeded; Error: unhealthy cluster (the endpoint did not answer in time"
    )
    assert error_summary("", "only on stdout\n") == "only on stdout"
    assert error_summary("", "") == "it printed nothing"


# --------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------


def test_parse_json_skips_preamble_and_names_garbage():
    assert parse_json(DEPRECATED + '{"a": 1}\n', "x") == {"a": 1}
    assert parse_json("[WARNING] not json\n[1, 2]", "x") == [1, 2]
    with pytest.raises(EtcdctlError, match=r"^etcdctl member list: expected JSON but got 'oops"):
        parse_json("oops\n{broken", "etcdctl member list")
    with pytest.raises(EtcdctlError, match=r"^snapshot status: printed nothing$"):
        parse_json("  \n", "snapshot status")


def test_format_id():
    assert format_id(8991505603740405210) == "7cc83eb522e18dda"
    assert format_id("1") == "0000000000000001"
    assert format_id(2**64 - 1) == "ffffffffffffffff"
    for bad in (-1, 2**64, True, 1.5):
        with pytest.raises(ValueError):
            format_id(bad)


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_parse_member_list(version):
    parsed = parse_member_list(fixture(version, "member-list.json"))
    assert parsed["cluster_id"] == CLUSTER_ID
    by_name = {member["name"]: member for member in parsed["members"]}
    assert set(by_name) == {"docker8", "docker9", "docker10"}
    for name, member in by_name.items():
        assert member == {
            "id": MEMBER_IDS[version][name],
            "name": name,
            "peer_urls": [f"https://{IP[name]}:2380"],
            "client_urls": [f"https://{IP[name]}:2379"],
            "is_learner": False,
            "started": True,
        }


def test_parse_member_list_unstarted_and_learner():
    text = (
        '{"header":{"cluster_id":1,"member_id":2},"members":['
        '{"ID":2,"name":"m1","peerURLs":["https://a:2380"],"clientURLs":["https://a:2379"]},'
        '{"ID":3,"peerURLs":["https://b:2380"],"isLearner":true}]}'
    )
    members = parse_member_list(text)["members"]
    assert members[1] == {
        "id": "0000000000000003",
        "name": "",
        "peer_urls": ["https://b:2380"],
        "client_urls": [],
        "is_learner": True,
        "started": False,
    }
    with pytest.raises(EtcdctlError, match=r"member list -w json: no 'ID' in"):
        parse_member_list('{"header":{"cluster_id":1},"members":[{"name":"x"}]}')


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_parse_endpoint_status(version):
    status = parse_endpoint_status(fixture(version, "endpoint-status.json"))
    assert len(status) == 3
    by_endpoint = {item["endpoint"]: item for item in status}
    leader = by_endpoint["https://10.77.0.8:2379"]
    assert leader["member_id"] == "7cc83eb522e18dda"
    assert leader["is_leader"] is True
    assert leader["leader"] == "7cc83eb522e18dda"
    assert leader["cluster_id"] == CLUSTER_ID
    assert leader["version"] == {"3.4": "3.4.23", "3.5": "3.5.16"}[version]
    assert leader["db_size"] == 2875392 and leader["db_size_in_use"] == 2875392
    assert leader["revision"] == 9
    assert leader["raft_term"] == {"3.4": 2, "3.5": 3}[version]
    assert leader["raft_index"] == leader["raft_applied_index"] == {"3.4": 19, "3.5": 20}[version]
    assert leader["errors"] == []
    follower = by_endpoint["https://10.77.0.10:2379"]
    assert follower["is_leader"] is False
    assert follower["member_id"] == MEMBER_IDS[version]["docker10"]
    assert follower["db_size"] == 2871296
    assert sum(item["is_leader"] for item in status) == 1


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_parse_endpoint_health(version):
    health = parse_endpoint_health(fixture(version, "endpoint-health.json"))
    assert [item["endpoint"] for item in health] == [
        "https://10.77.0.10:2379",
        {"3.4": "https://10.77.0.8:2379", "3.5": "https://10.77.0.9:2379"}[version],
        {"3.4": "https://10.77.0.9:2379", "3.5": "https://10.77.0.8:2379"}[version],
    ]
    assert all(item["health"] is True and item["error"] is None for item in health)
    assert health[0]["took"] == {"3.4": "8.05603ms", "3.5": "6.489769ms"}[version]


def test_parse_endpoint_health_unhealthy():
    text = (
        '[{"endpoint":"https://10.77.0.9:2379","health":false,"took":"5s",'
        '"error":"failed to commit proposal: context deadline exceeded"}]'
    )
    assert parse_endpoint_health(text) == [
        {
            "endpoint": "https://10.77.0.9:2379",
            "health": False,
            "took": "5s",
            "error": "failed to commit proposal: context deadline exceeded",
        }
    ]


@pytest.mark.parametrize("version", ["3.4", "3.5"])
def test_parse_endpoint_hashkv(version):
    hashkv = parse_endpoint_hashkv(fixture(version, "endpoint-hashkv.json"))
    assert len(hashkv) == 3
    assert {item["hash"] for item in hashkv} == {951756415}
    assert {item["revision"] for item in hashkv} == {9}
    assert {item["compact_revision"] for item in hashkv} == {-1}
    by_endpoint = {item["endpoint"]: item["member_id"] for item in hashkv}
    assert by_endpoint == {f"https://{IP[n]}:2379": i for n, i in MEMBER_IDS[version].items()}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("3.4", {"hash": 604985371, "revision": 9, "total_key": 738, "total_size": 2875392}),
        ("3.5", {"hash": 2291266268, "revision": 9, "total_key": 740, "total_size": 2875392}),
    ],
)
def test_parse_snapshot_status(version, expected):
    text = fixture(version, "snapshot-status.json")
    assert parse_snapshot_status(text) == expected
    # etcdctl 3.5 prints a deprecation notice before the JSON on stdout
    assert parse_snapshot_status(DEPRECATED + text) == expected


def test_parsers_reject_wrong_shapes():
    with pytest.raises(EtcdctlError, match="endpoint status -w json: expected a JSON list"):
        parse_endpoint_status('{"a": 1}')
    with pytest.raises(EtcdctlError, match="snapshot status -w json: no 'totalKey'"):
        parse_snapshot_status('{"hash":1,"revision":2,"totalSize":3}')
    with pytest.raises(EtcdctlError, match="endpoint hashkv -w json: no 'HashKV'"):
        parse_endpoint_hashkv('[{"Endpoint":"x"}]')


# --------------------------------------------------------------------------
# command lines
# --------------------------------------------------------------------------


def test_client_argv():
    assert member_list_argv("/usr/bin/etcdctl") == [
        "/usr/bin/etcdctl",
        "member",
        "list",
        "-w",
        "json",
    ]
    assert endpoint_status_argv("etcdctl") == ["etcdctl", "endpoint", "status", "-w", "json"]
    assert endpoint_health_argv("etcdctl", cluster=True) == [
        "etcdctl",
        "endpoint",
        "health",
        "-w",
        "json",
        "--cluster",
    ]
    assert endpoint_hashkv_argv({"path": "/x/etcdctl", "version": "3.5.16"})[:3] == [
        "/x/etcdctl",
        "endpoint",
        "hashkv",
    ]
    assert snapshot_save_argv("etcdctl", "/var/backups/etcd/a.db") == [
        "etcdctl",
        "snapshot",
        "save",
        "/var/backups/etcd/a.db",
    ]
    with pytest.raises(EtcdctlError, match="not a usable path"):
        snapshot_save_argv("etcdctl", "--help")


def test_snapshot_status_argv():
    path = "/var/backups/etcd/s.db"
    assert snapshot_status_argv(tools("3.5.16", "3.5.16"), path) == [
        "/usr/bin/etcdutl",
        "snapshot",
        "status",
        path,
        "-w",
        "json",
    ]
    assert snapshot_status_argv(tools("3.4.23"), path)[0] == "/usr/bin/etcdctl"
    with pytest.raises(EtcdctlError, match=r"etcdctl 3\.6\.0 has no 'snapshot status'.*etcdutl"):
        snapshot_status_argv(tools("3.6.0"), path)
    with pytest.raises(EtcdctlError, match="neither etcdutl nor etcdctl was found"):
        snapshot_status_argv(tools(), path)


RESTORE = {
    "snapshot": "/var/lib/etcd-restore/s.db",
    "data_dir": "/var/lib/etcd",
    "name": "docker8",
    "initial_cluster": [
        {"name": "docker8", "peer_urls": ["https://10.77.0.8:2380"]},
        {"name": "docker9", "peer_urls": ["https://10.77.0.9:2380"]},
        {"name": "docker10", "peer_urls": "https://10.77.0.10:2380"},
    ],
    "initial_advertise_peer_urls": "https://10.77.0.8:2380",
    "initial_cluster_token": "kubedr-1",
}
CLUSTER = (
    "docker8=https://10.77.0.8:2380,docker9=https://10.77.0.9:2380,docker10=https://10.77.0.10:2380"
)


def test_restore_with_etcdctl_34():
    result = snapshot_restore_argv(tools("3.4.23"), **RESTORE)
    assert result == {
        "argv": [
            "/usr/bin/etcdctl",
            "snapshot",
            "restore",
            "/var/lib/etcd-restore/s.db",
            "--data-dir",
            "/var/lib/etcd",
            "--name",
            "docker8",
            "--initial-cluster",
            CLUSTER,
            "--initial-advertise-peer-urls",
            "https://10.77.0.8:2380",
            "--initial-cluster-token",
            "kubedr-1",
        ],
        "env": {"ETCDCTL_API": "3"},
        "tool": "etcdctl",
        "path": "/usr/bin/etcdctl",
        "version": "3.4.23",
        "bump_revision": None,
        "notes": [],
    }


def test_restore_bump_unsupported_on_old_etcdctl():
    with pytest.raises(EtcdctlError) as info:
        snapshot_restore_argv(tools("3.4.23"), **RESTORE, bump_revision=1000000000)
    assert info.value.msg.startswith(
        "etcdctl 3.4.23 cannot --bump-revision (needs 3.4.27+); install etcdctl 3.4.27"
    )
    with pytest.raises(
        EtcdctlError, match=r"etcdutl 3\.5\.9 cannot --bump-revision \(needs 3\.5\.10"
    ):
        snapshot_restore_argv(tools(None, "3.5.9"), **RESTORE, bump_revision=5)


def test_restore_bump_on_new_etcdctl_and_etcdutl():
    result = snapshot_restore_argv(tools("3.4.27"), **RESTORE, bump_revision=1000000000)
    assert result["argv"][-3:] == ["--bump-revision", "1000000000", "--mark-compacted"]
    assert result["bump_revision"] == 1000000000
    result = snapshot_restore_argv(
        tools("3.5.16", "3.5.16"),
        **RESTORE,
        bump_revision=1000000000,
        mark_compacted=True,
        skip_hash_check=True,
    )
    assert result["tool"] == "etcdutl" and result["env"] == {}
    assert result["argv"][0] == "/usr/bin/etcdutl"
    assert result["argv"][-4:] == [
        "--bump-revision",
        "1000000000",
        "--mark-compacted",
        "--skip-hash-check",
    ]
    assert result["notes"] == ["--skip-hash-check: the snapshot's sha256 is not checked"]


def test_restore_35_falls_back_to_deprecated_etcdctl():
    result = snapshot_restore_argv(tools("3.5.16"), **RESTORE)
    assert result["tool"] == "etcdctl"
    assert result["env"] == {"ETCDCTL_API": "3"}
    assert result["notes"] == [
        "etcdutl was not found: restoring with etcdctl 3.5.16's deprecated 'snapshot restore';"
        " install etcdutl 3.5.16 on it to use the supported tool"
    ]


def test_restore_tool_follows_the_etcd_version():
    # a 3.4 cluster restores with its etcdctl even if an etcdutl is around
    result = snapshot_restore_argv(tools("3.4.23", "3.5.16"), **RESTORE, etcd_version="3.4.23")
    assert result["tool"] == "etcdctl"
    with pytest.raises(EtcdctlError, match=r"etcd 3\.4\.23 restores with etcdctl .*not found"):
        snapshot_restore_argv(tools(None, "3.5.16"), **RESTORE, etcd_version="3.4.23")
    with pytest.raises(
        EtcdctlError, match=r"etcd 3\.6\.1 restores with etcdutl, but etcdutl was not found"
    ):
        snapshot_restore_argv(tools("3.6.1"), **RESTORE)
    with pytest.raises(EtcdctlError, match=r"older than 3\.3"):
        snapshot_restore_argv(tools("3.2.32"), **RESTORE)


def test_restore_without_usable_tool():
    broken = {
        "etcdctl": {"path": "/usr/bin/etcdctl", "version": None, "error": "exited with 2"},
        "etcdutl": None,
    }
    with pytest.raises(EtcdctlError, match=r"etcdctl at /usr/bin/etcdctl: version unknown"):
        snapshot_restore_argv(broken, **RESTORE)
    with pytest.raises(EtcdctlError, match="neither etcdutl nor etcdctl was found"):
        snapshot_restore_argv(tools(), **RESTORE)


def test_restore_argument_checks():
    with pytest.raises(EtcdctlError, match="mark_compacted needs bump_revision"):
        snapshot_restore_argv(tools("3.5.16", "3.5.16"), **RESTORE, mark_compacted=True)
    with pytest.raises(EtcdctlError, match="bump_revision=-1"):
        snapshot_restore_argv(tools("3.5.16", "3.5.16"), **RESTORE, bump_revision=-1)
    with pytest.raises(EtcdctlError, match="member docker7 is not in initial_cluster"):
        snapshot_restore_argv(tools("3.4.23"), **{**RESTORE, "name": "docker7"})
    with pytest.raises(EtcdctlError, match=r"initial_advertise_peer_urls https://10\.77\.0\.9"):
        snapshot_restore_argv(
            tools("3.4.23"),
            **{**RESTORE, "initial_advertise_peer_urls": ["https://10.77.0.9:2380"]},
        )
    with pytest.raises(EtcdctlError, match="needs a name and peer_urls"):
        format_initial_cluster([{"name": "", "peer_urls": ["https://a:2380"]}])
    with pytest.raises(EtcdctlError, match="is not name=peer-url"):
        snapshot_restore_argv(tools("3.4.23"), **{**RESTORE, "initial_cluster": "docker8"})


def test_initial_cluster_as_string_is_kept():
    result = snapshot_restore_argv(tools("3.4.23"), **{**RESTORE, "initial_cluster": CLUSTER})
    assert result["argv"][result["argv"].index("--initial-cluster") + 1] == CLUSTER


# --------------------------------------------------------------------------
# choosing a member
# --------------------------------------------------------------------------

HEALTH = [
    {"endpoint": "https://10.77.0.8:2379", "health": True, "took": "5ms", "error": None},
    {
        "endpoint": "https://10.77.0.9:2379",
        "health": False,
        "took": "5s",
        "error": "context deadline exceeded",
    },
    {"endpoint": "https://10.77.0.10:2379", "health": True, "took": "6ms", "error": None},
]


def test_choose_preferred_when_healthy():
    endpoint, notes = choose_healthy_endpoint(HEALTH, preferred="https://10.77.0.10:2379")
    assert endpoint == "https://10.77.0.10:2379"
    assert notes == ["https://10.77.0.9:2379 skipped: context deadline exceeded"]


def test_choose_first_healthy_when_preferred_is_not():
    endpoint, notes = choose_healthy_endpoint(HEALTH, preferred="https://10.77.0.9:2379")
    assert endpoint == "https://10.77.0.8:2379"
    assert notes == ["https://10.77.0.9:2379 skipped: context deadline exceeded"]
    endpoint, _unused = choose_healthy_endpoint(HEALTH)
    assert endpoint == "https://10.77.0.8:2379"


def test_choose_none_healthy():
    down = [
        dict(item, health=False, error=item["error"] or "connection refused") for item in HEALTH
    ]
    with pytest.raises(EtcdctlError) as info:
        choose_healthy_endpoint(down)
    assert info.value.msg == (
        "no healthy etcd member: https://10.77.0.8:2379: connection refused;"
        " https://10.77.0.9:2379: context deadline exceeded;"
        " https://10.77.0.10:2379: connection refused"
    )
    with pytest.raises(EtcdctlError, match="no healthy etcd member: no endpoint answered"):
        choose_healthy_endpoint([])


@pytest.mark.skipif(not os.path.exists("/usr/bin/etcdctl"), reason="needs /usr/bin/etcdctl")
def test_real_etcdctl_unreachable_endpoint():
    env = client_env("http://127.0.0.1:1", None, None, None, "1s", "2s")
    argv = endpoint_health_argv("/usr/bin/etcdctl")
    with pytest.raises(EtcdctlError, match=r"^health failed \(rc=1\): Error: unhealthy cluster"):
        check(argv, env=env, timeout=30, what="health")
    # it exits 1 but still prints the JSON that says which endpoint failed and why
    rc, out, _unused = run(argv, env=env, timeout=30)
    assert rc == 1
    health = parse_endpoint_health(out)
    assert health[0]["endpoint"] == "http://127.0.0.1:1"
    assert health[0]["health"] is False
    assert health[0]["error"] == "context deadline exceeded"
    with pytest.raises(EtcdctlError) as info:
        choose_healthy_endpoint(health)
    assert info.value.msg == "no healthy etcd member: http://127.0.0.1:1: context deadline exceeded"


def test_restore_carries_out_the_plans_tool_choice():
    """The plan chooses (choose_restore_tool); the restore uses that choice as it is,
    even where it would choose otherwise from the tools alone."""
    chosen = {"name": "etcdctl", "path": "/opt/etcd-3.5/etcdctl", "version": "3.5.16"}
    result = snapshot_restore_argv(tools("3.5.16", "3.5.16"), **RESTORE, tool=chosen)
    assert result["tool"] == "etcdctl" and result["path"] == "/opt/etcd-3.5/etcdctl"
    assert result["argv"][0] == "/opt/etcd-3.5/etcdctl"
    assert result["env"] == {"ETCDCTL_API": "3"}
    with pytest.raises(EtcdctlError, match="the path and the version are both needed"):
        snapshot_restore_argv(None, **RESTORE, tool={"name": "etcdutl", "path": "/x"})
    with pytest.raises(EtcdctlError, match="give the plan's"):
        snapshot_restore_argv(None, **RESTORE, tool={"name": "etcd", "path": "/x", "version": "3"})


def test_etcd_36_restores_with_etcdutl_only():
    """etcd 3.6 removed etcdctl's snapshot restore: an etcdctl 3.6 alone is refused, and
    the 3.5 fallback does not apply."""
    result = snapshot_restore_argv(tools("3.6.4", "3.6.4"), **RESTORE, etcd_version="3.6.4")
    assert result["tool"] == "etcdutl" and result["env"] == {}
    with pytest.raises(EtcdctlError, match=r"etcd 3\.6\.4 restores with etcdutl"):
        snapshot_restore_argv(tools("3.6.4", None), **RESTORE, etcd_version="3.6.4")


# -- membership changes (replace-member) ----------------------------------------------------
# What etcdctl 3.5.16 printed against a one-member etcd (alarm list with none raised; a
# learner added; a promotion refused before the learner caught up).
ADDED = (
    '{"header":{"cluster_id":12183759153367385384,"member_id":5121647004910218881,'
    '"raft_term":2},"member":{"ID":9144011491056787151,"peerURLs":["http://10.9.9.9:2380"],'
    '"isLearner":true},"members":[{"ID":5121647004910218881,"name":"a","peerURLs":'
    '["unix://localhost:2380"],"clientURLs":["unix://localhost:2379"]},'
    '{"ID":9144011491056787151,"peerURLs":["http://10.9.9.9:2380"],"isLearner":true}]}'
)


def test_alarm_list_none_raised_and_each_kind():
    header = '"header":{"cluster_id":1,"member_id":2,"revision":1,"raft_term":2}'
    assert E.parse_alarm_list("{" + header + "}") == []
    raised = (
        "{" + header + ',"alarms":[{"memberID":5121647004910218881,"alarm":1},'
        '{"memberID":2,"alarm":"CORRUPT"},{"memberID":3,"alarm":0}]}'
    )
    assert E.parse_alarm_list(raised) == [
        {"member_id": "4713bed0b89dee81", "alarm": "NOSPACE"},
        {"member_id": "0000000000000002", "alarm": "CORRUPT"},
    ]


def test_member_add_gives_the_new_learners_id_and_the_list():
    added = E.parse_member_add(ADDED)
    assert added["id"] == "7ee60e010a879ecf" and added["is_learner"] is True
    assert added["peer_urls"] == ["http://10.9.9.9:2380"]
    unstarted = next(m for m in added["members"] if m["id"] == added["id"])
    assert unstarted["started"] is False and unstarted["name"] == ""


def test_membership_command_lines_take_ids_never_names():
    assert E.member_remove_argv("/usr/bin/etcdctl", "7ee60e010a879ecf") == [
        "/usr/bin/etcdctl", "member", "remove", "7ee60e010a879ecf", "-w", "json",
    ]  # fmt: skip
    assert E.member_promote_argv("etcdctl", "7ee60e010a879ecf")[2:4] == [
        "promote",
        "7ee60e010a879ecf",
    ]
    for bad in ("cp-b", "-x", "", "1" * 17):
        with pytest.raises(EtcdctlError, match="not an etcd member id"):
            E.member_remove_argv("etcdctl", bad)
    assert E.member_add_learner_argv(
        "etcdctl", "cp-b", ["https://10.0.0.2:2380", "https://[fd00::2]:2380"]
    ) == [
        "etcdctl", "member", "add", "cp-b", "--learner",
        "--peer-urls=https://10.0.0.2:2380,https://[fd00::2]:2380", "-w", "json",
    ]  # fmt: skip
    with pytest.raises(EtcdctlError, match="not usable peer URLs"):
        E.member_add_learner_argv("etcdctl", "cp-b", [])
    with pytest.raises(EtcdctlError, match="not a usable etcd member name"):
        E.member_add_learner_argv("etcdctl", "--cp-b", ["https://10.0.0.2:2380"])
    assert "in sync with leader" in E.LEARNER_NOT_READY


def test_a_transient_refusal_is_tried_again_any_other_is_not(tmp_path):
    count = tmp_path / "tries"
    script = tmp_path / "flaky"
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}\n"
        '[ "$n" -ge 3 ] && { echo done; exit 0; }\n'
        'echo "Error: $1" >&2; exit 1\n'
    )
    script.chmod(0o755)
    assert (
        E.check_retrying(
            [str(script), E.UNHEALTHY_CLUSTER], None, 10, "add", [E.UNHEALTHY_CLUSTER], poll=0.05
        )
        == "done\n"
    )
    assert count.read_text().strip() == "3"
    count.unlink()
    with pytest.raises(EtcdctlError, match="member not found") as other:
        E.check_retrying(
            [str(script), "member not found"], None, 10, "rm", [E.UNHEALTHY_CLUSTER], poll=0.05
        )
    assert count.read_text().strip() == "1" and "tries" not in other.value.msg
    count.write_text("-100")
    with pytest.raises(EtcdctlError, match=r"still so after \d+ tries in 0.3 s"):
        E.check_retrying(
            [str(script), E.LEARNER_NOT_READY],
            None,
            0.3,
            "promote",
            [E.LEARNER_NOT_READY],
            poll=0.05,
        )
