"""The etcd_member_view module through its main(): a real etcd member's own view, a member
that does not answer (no failure: no view), and no etcdctl."""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.modules import etcd_member_view
from tests.support.etcd_process import running_cluster, tools_for
from tests.unit.plugins.modules.conftest import fail_module, run_module
from tests.unit.plugins.modules.test_etcd_snapshot import make_pki


def arguments(endpoint, tools, **extra):
    return {
        "endpoint": endpoint,
        "host": "m1",
        "ca_file": "/etc/kubernetes/pki/etcd/ca.crt",
        "cert_file": "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "key_file": "/etc/kubernetes/pki/etcd/healthcheck-client.key",
        "tools": tools,
        **extra,
    }


def test_a_member_reports_itself_over_tls(tmp_path_factory):
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    tls = (pki["ca"], pki["client_cert"], pki["client_key"])
    with running_cluster("3.5", tmp_path_factory, names=("m1",), pki=pki, client_tls=tls) as etcd:
        args = arguments(etcd.clients["m1"], etcd.tools)
        args.update(ca_file=pki["ca"], cert_file=pki["client_cert"], key_file=pki["client_key"])
        result = run_module(etcd_member_view.main, args)
    assert result["answered"] is True and result["changed"] is False and result["error"] is None
    view = result["view"]
    assert view["host"] == "m1" and view["healthy"] is True and view["alarms"] == []
    assert view["leader"] == view["member_id"] and len(view["members"]) == 1
    assert view["endpoint"].startswith("https://127.0.0.1:")


def test_a_member_that_does_not_answer_gives_no_view_without_failing(tmp_path):
    tools = tools_for("3.5")
    result = run_module(
        etcd_member_view.main,
        arguments(f"unix://{tmp_path}/nothing:2379", tools, timeout=3, settle=1),
    )
    assert result["answered"] is False and result["view"] is None
    assert result["error"].startswith("m1's etcd at unix://"), result["error"]


def test_no_etcdctl_fails_and_says_so():
    failed = fail_module(
        etcd_member_view.main, arguments("https://10.0.0.1:2379", {"etcdctl": None})
    )
    assert "etcdctl was not found" in failed["msg"]
