"""Readying a replaced master to join again (_member_join): its own etcd gone, its old
member moved aside and never deleted, its manifest given the cluster it joins - and run
again after a kill at any point, the same result."""

from __future__ import annotations

import os

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (
    etcd_member_config,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._manifest_yaml import load_yaml
from ansible_collections.kubedr.etcd.plugins.module_utils._member_join import (
    JoinError,
    prepare_join,
)
from tests.lab import manifests
from tests.unit.plugins.module_utils.test_restore import fake_etcd

STAMP = "20261207T230000Z"
CLUSTER = "cp-a=https://10.0.0.1:2380,cp-b=https://10.0.0.2:2380,cp-c=https://10.0.0.3:2380"


@pytest.fixture
def master(tmp_path):
    data = tmp_path / "var-lib-etcd"
    (data / "member" / "snap").mkdir(parents=True)
    (data / "member" / "snap" / "db").write_bytes(b"old data")
    manifest = tmp_path / "manifests" / "etcd.yaml"
    manifest.parent.mkdir()
    manifest.write_text(
        manifests.etcd("cp-b", "10.0.0.2", "cp-b=https://10.0.0.2:2380", "new", "3.5")
    )
    manifest.chmod(0o600)
    return {"data": data, "manifest": manifest, "keep": tmp_path / "state" / STAMP}


def run(master, **kwargs):
    kwargs.setdefault("kubelet_manifests_dir", "/etc/kubernetes/manifests")
    return prepare_join(
        str(master["data"]), str(master["manifest"]), CLUSTER, STAMP, str(master["keep"]), **kwargs
    )


def test_the_old_member_goes_aside_and_the_manifest_joins_the_cluster(master):
    original = master["manifest"].read_text()
    done = run(master)
    assert done["changed"] and done["moved"] == str(master["data"] / "member")
    aside = master["data"] / f"member.kubedr-{STAMP}"
    assert done["to"] == str(aside) and (aside / "snap" / "db").read_bytes() == b"old data"
    assert not (master["data"] / "member").exists()
    member = etcd_member_config(load_yaml(master["manifest"].read_text()), "etcd.yaml")
    assert member["initial_cluster_state"] == "existing"
    assert [m["name"] for m in member["initial_cluster"]] == ["cp-a", "cp-b", "cp-c"]
    assert (master["keep"] / "etcd.yaml").read_text() == original
    assert oct(master["manifest"].stat().st_mode & 0o777) == "0o600"
    # the manifests dir holds etcd.yaml only: no copy the kubelet would run
    assert os.listdir(master["manifest"].parent) == ["etcd.yaml"]
    again = run(master)
    assert again["changed"] is False and again["moved"] is None and again["to"] == str(aside)
    assert (master["keep"] / "etcd.yaml").read_text() == original


def test_check_mode_changes_nothing(master):
    before = master["manifest"].read_text()
    done = run(master, check_mode=True)
    assert done["changed"] and done["changed_flags"] == ["initial-cluster", "initial-cluster-state"]
    assert (master["data"] / "member").is_dir() and master["manifest"].read_text() == before
    assert not master["keep"].exists()


def test_a_rebuilt_master_without_a_data_dir_gets_one(master, tmp_path):
    master["data"] = tmp_path / "new" / "etcd"
    (tmp_path / "new").mkdir()
    done = run(master)
    assert done["data_dir_made"] and done["moved"] is None and done["to"] is None
    assert oct(master["data"].stat().st_mode & 0o777) == "0o700"


def test_an_etcd_still_running_on_the_data_dir_is_refused_nothing_changed(master):
    before = master["manifest"].read_text()
    proc = fake_etcd([f"--data-dir={master['data']}"])
    try:
        with pytest.raises(JoinError, match=f"etcd still runs on {master['data']}.*pid {proc.pid}"):
            run(master)
    finally:
        proc.kill()
        proc.wait()
    assert (master["data"] / "member").is_dir() and master["manifest"].read_text() == before


def test_a_member_made_after_the_old_one_went_aside_is_not_touched(master):
    run(master)
    (master["data"] / "member").mkdir()  # e.g. an etcd started by hand in between
    with pytest.raises(JoinError, match=r"move .* away yourself"):
        run(master)
    assert (master["data"] / f"member.kubedr-{STAMP}" / "snap" / "db").exists()


def test_killed_between_the_rename_and_the_manifest_the_rerun_finishes(master):
    os.rename(master["data"] / "member", master["data"] / f"member.kubedr-{STAMP}")
    done = run(master)
    assert done["moved"] is None and done["changed_flags"] == [
        "initial-cluster",
        "initial-cluster-state",
    ]


def test_a_manifest_that_cannot_be_edited_safely_is_refused_before_anything_moves(master):
    text = (
        master["manifest"]
        .read_text()
        .replace("- --initial-cluster=cp-b=https://10.0.0.2:2380", "- --initial-cluster\n    - x=y")
    )
    master["manifest"].write_text(text)
    with pytest.raises(JoinError, match=r"value apart.*nothing was changed"):
        run(master)
    assert master["manifest"].read_text() == text
    assert (master["data"] / "member" / "snap" / "db").exists()
    assert not (master["data"] / f"member.kubedr-{STAMP}").exists()


def test_a_manifest_the_kubelet_still_runs_is_refused_before_anything_moves(master):
    with pytest.raises(JoinError, match="in the kubelet's manifests directory"):
        run(master, kubelet_manifests_dir=str(master["manifest"].parent))
    assert (master["data"] / "member").is_dir()
