"""Unit tests of _backup against real etcd (3.4 and 3.5) on 127.0.0.1: a small cluster of
real etcd processes (tests.support.etcd_process) on free ports, plain http."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import time

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _backup
from ansible_collections.kubedr.etcd.plugins.module_utils._backup import (
    BackupError,
    save_verified_snapshot,
    trial_restore,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    check,
    client_env,
    parse_snapshot_status,
    snapshot_save_argv,
    snapshot_status_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._fingerprint import take
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    compare_with_metadata,
    load_metadata,
    metadata_path,
    verify_trailer,
)
from tests.support.etcd_process import NO_TLS, VERSIONS, pod_keys, running_cluster, seed
from tests.support.files import listing
from tests.support.ports import free_ports
from tests.unit.plugins.modules.conftest import make_backup, snap

pytestmark = pytest.mark.timeout(180)

UTC = dt.timezone.utc  # noqa: UP017 - the code under test supports Python 3.9
WHEN = dt.datetime(2026, 11, 26, 3, tzinfo=UTC)
NAME = "etcd-snapshot-20261126T030000Z.db"
SEEDED_KEYS = 20


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def cluster(request, tmp_path_factory):
    """Three etcd members of one release, plain http, with some keys."""
    with running_cluster(request.param, tmp_path_factory) as started:
        seed(started, pod_keys(SEEDED_KEYS))
        yield started


def save(cluster, dest, **kwargs):
    args = {
        "tools": cluster.tools,
        "endpoints": cluster.urls,
        "tls": NO_TLS,
        "dest_dir": str(dest),
        "source_host": "cp-1",
        "when": WHEN,
        "save_timeout": 120,
    }
    args.update(kwargs)
    return save_verified_snapshot(**args)


# --------------------------------------------------------------------------


def test_plain_http_env_has_no_tls_files():
    env = client_env(["http://127.0.0.1:2379"], *NO_TLS)
    assert env == {
        "ETCDCTL_API": "3",
        "ETCDCTL_ENDPOINTS": "http://127.0.0.1:2379",
        "ETCDCTL_DIAL_TIMEOUT": "3s",
        "ETCDCTL_COMMAND_TIMEOUT": "10s",
    }


def test_saved_snapshot_verifies_and_records_the_cluster(cluster, tmp_path):
    dest = tmp_path / "backups"
    archives = [
        {"host": "cp-1", "file": "kubernetes-cp-1-x.tar.gz", "size": 9, "sha256": "ab" * 32}
    ]
    revision = cluster.status("m1")["revision"]
    result = save(
        cluster,
        dest,
        preferred_endpoint=cluster.clients["m2"],
        kubernetes_version="v1.31.2",
        collection_version="0.1.0",
        control_plane_archives=archives,
    )
    snapshot = dest / NAME
    assert result["snapshot"] == str(snapshot)
    assert result["metadata_file"] == f"{snapshot}.json"
    assert result["endpoint"] == cluster.clients["m2"]
    assert result["notes"] == []
    assert set(result["timings"]) == {
        "choose_member",
        "save",
        "verify",
        "fingerprint",
        "trial_restore",
        "total",
    }
    # no temporary file, no trial restore directory left
    assert listing(dest) == [NAME, f"{NAME}.json"]
    assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
    assert stat.S_IMODE(os.stat(f"{snapshot}.json").st_mode) == 0o600

    record = load_metadata(metadata_path(str(snapshot)))
    assert record == result["metadata"]
    assert compare_with_metadata(verify_trailer(str(snapshot)), record) == []
    status = parse_snapshot_status(
        check(snapshot_status_argv(cluster.tools, str(snapshot)), {"ETCDCTL_API": "3"}, 60)
    )
    members = cluster.members()
    assert record["snapshot"]["revision"] == revision == status["revision"]
    assert record["snapshot"]["total_key"] == status["total_key"] > SEEDED_KEYS
    assert record["snapshot"]["hash"] == status["hash"]
    assert record["etcd"]["version"] == VERSIONS[cluster.version]["version"]
    assert record["etcd"]["cluster_id"] == members["cluster_id"]
    assert sorted(
        (member["name"], tuple(member["peer_urls"])) for member in record["etcd"]["members"]
    ) == [(name, (cluster.peers[name],)) for name in ("m1", "m2", "m3")]
    assert {member["id"] for member in record["etcd"]["members"]} == {
        member["id"] for member in members["members"]
    }
    assert record["trial_restore"] is True
    assert record["source_host"] == "cp-1"
    assert record["kubernetes_version"] == "v1.31.2"
    assert record["collection_version"] == "0.1.0"
    assert record["created"] == "2026-11-26T03:00:00Z"
    assert record["control_plane_archives"] == archives
    # the fingerprint at the snapshot's revision, from the member it was saved from
    env = client_env([cluster.clients["m2"]], *NO_TLS)
    assert record["fingerprint"] == take(cluster.etcdctl, env, revision)
    assert record["fingerprint"]["keys"]["pods"] == SEEDED_KEYS


def test_trial_restore_leaves_no_scratch(cluster, tmp_path):
    snapshot = tmp_path / NAME
    check(
        snapshot_save_argv(cluster.etcdctl, str(snapshot)),
        cluster.env([cluster.clients["m1"]]),
        60,
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    seconds = trial_restore(cluster.tools, str(snapshot), str(scratch), cluster.version, 60)
    assert 0 < seconds < 60
    assert listing(scratch) == []

    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0x01
    snapshot.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=rf"^trial restore of {snapshot} failed: trial restore"):
        trial_restore(cluster.tools, str(snapshot), str(scratch), cluster.version, 60)
    assert listing(scratch) == []


def test_hanging_preferred_member_is_skipped(cluster, tmp_path):
    dest = tmp_path / "backups"
    hanging, other = cluster.clients["m1"], cluster.clients["m2"]
    with cluster.paused("m1"):
        started = time.monotonic()
        result = save(
            cluster,
            dest,
            endpoints=[hanging, other],
            preferred_endpoint=hanging,
            do_trial_restore=False,
        )
        took = time.monotonic() - started
    assert result["endpoint"] == other
    assert result["notes"] == [f"{hanging} skipped: context deadline exceeded"]
    assert took < 12, f"choosing past a hanging member took {took:.1f}s"
    assert result["metadata"]["trial_restore"] is None
    assert listing(dest) == [NAME, f"{NAME}.json"]


def test_all_endpoints_down(cluster, tmp_path):
    dest = tmp_path / "backups"
    down = [f"http://127.0.0.1:{port}" for port in free_ports(2)]
    with pytest.raises(BackupError) as caught:
        save(cluster, dest, endpoints=down)
    assert str(caught.value) == (
        f"no healthy etcd member: {down[0]}: context deadline exceeded; {down[1]}: context"
        " deadline exceeded; nothing was saved"
    )
    assert listing(dest) is None


@pytest.mark.parametrize("existing", [NAME, f"{NAME}.json"])
def test_existing_final_name_is_refused(cluster, tmp_path, existing):
    dest = tmp_path / "backups"
    dest.mkdir()
    (dest / existing).write_bytes(b"an earlier backup")
    with pytest.raises(BackupError) as caught:
        save(cluster, dest, do_trial_restore=False)
    assert str(caught.value) == f"{dest / NAME} exists already; a backup is never overwritten"
    assert listing(dest) == [existing]
    assert (dest / existing).read_bytes() == b"an earlier backup"


def test_save_timeout(cluster, tmp_path, monkeypatch):
    dest = tmp_path / "backups"
    member = cluster.clients["m3"]
    info = _backup.cluster_info(cluster.tools["etcdctl"], member, NO_TLS)
    # the health check passed and the cluster was read; then the member hangs
    monkeypatch.setattr(_backup, "pick_endpoint", lambda *_a, **_k: (member, []))
    monkeypatch.setattr(_backup, "cluster_info", lambda *_a, **_k: info)
    with cluster.paused("m3"):
        started = time.monotonic()
        with pytest.raises(BackupError) as caught:
            save(cluster, dest, save_timeout=3)
        took = time.monotonic() - started
    # the save's own temporary name: two backups of the same second never share one
    assert re.fullmatch(
        f"'{re.escape(cluster.etcdctl)} snapshot save {re.escape(str(dest))}/\\.{NAME}"
        "\\.[0-9a-f]{8}\\.tmp' did not finish in 3s; is the endpoint hanging\\?; nothing was kept",
        str(caught.value),
    ), str(caught.value)
    assert took < 10
    assert listing(dest) == []


def test_not_enough_space(cluster, tmp_path, monkeypatch):
    dest = tmp_path / "backups"
    monkeypatch.setattr(_backup, "free_space", lambda _path: 1)
    with pytest.raises(BackupError) as caught:
        save(cluster, dest)
    message = str(caught.value)
    assert message.startswith(f"not enough free space in {dest}: 0.0 MiB free, about ")
    assert ", plus a trial restore); free some space or choose another backup directory;" in (
        message
    )
    assert message.endswith("nothing was saved")
    assert listing(dest) == []


def test_damaged_save_is_refused_with_the_trailer_as_reason(cluster, tmp_path):
    """The trailer is read in a thread while `snapshot status` runs; when both fail, the
    reason given is the damaged file, not the status tool's complaint about it."""
    saved = save(cluster, tmp_path / "a", fingerprint=False)
    damaged = tmp_path / "damaged.db"
    with open(saved["snapshot"], "rb") as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError) as caught:
        _backup.verify_saved(cluster.tools, str(damaged), "http://m1")
    assert "the snapshot saved from http://m1 failed verification" in str(caught.value)
    assert "is corrupt: the sha256 of its content does not match" in str(caught.value)

    verified, status = _backup.verify_saved(cluster.tools, saved["snapshot"], "http://m1")
    assert verified["sha256"] == saved["metadata"]["snapshot"]["sha256"]
    assert status["revision"] == saved["metadata"]["snapshot"]["revision"]


def test_retention_prunes_once_the_new_backup_is_complete(cluster, tmp_path):
    dest = tmp_path / "backups"
    dest.mkdir()
    for stamp in ("20261124T030000Z", "20261125T030000Z"):
        make_backup(dest, stamp, hosts=())
    result = save(cluster, dest, do_trial_restore=False, retention={"keep_last": 2})
    assert listing(dest) == sorted(
        [NAME, f"{NAME}.json", snap("20261125T030000Z"), f"{snap('20261125T030000Z')}.json"]
    )
    assert result["retention"]["msg"] == "pruned 1 backup(s) (2 files), kept 2"
    assert "retention" in result["timings"]


def test_a_rule_that_would_delete_everything_is_refused_before_saving(cluster, tmp_path):
    dest = tmp_path / "backups"
    with pytest.raises(BackupError, match=r"^keep_last=0 would delete every backup; use at least"):
        save(cluster, dest, do_trial_restore=False, retention={"keep_last": 0})
    assert listing(dest) is None


def test_without_rules_nothing_is_pruned(cluster, tmp_path):
    dest = tmp_path / "backups"
    dest.mkdir()
    make_backup(dest, "20261124T030000Z", hosts=())
    result = save(cluster, dest, do_trial_restore=False, retention={"keep_last": None})
    assert "retention" not in result
    assert snap("20261124T030000Z") in listing(dest)


def test_a_backup_of_the_same_second_that_got_there_first_is_kept(cluster, tmp_path, monkeypatch):
    """Two backups in one second: the one that names its file first keeps it; the other
    is refused, overwrites nothing and leaves no temporary file."""
    dest = tmp_path / "backups"
    real = _backup.verify_saved

    def the_other_backup_lands(tools, path, endpoint):
        (dest / NAME).write_bytes(b"the other backup")
        return real(tools, path, endpoint)

    monkeypatch.setattr(_backup, "verify_saved", the_other_backup_lands)
    with pytest.raises(BackupError, match="appeared while this backup was taken"):
        save(cluster, dest, do_trial_restore=False)
    assert (dest / NAME).read_bytes() == b"the other backup"
    assert listing(dest) == [NAME]


def test_a_backup_while_another_holds_the_directory_lock_is_refused(cluster, tmp_path):
    """backup.yml (etcd_snapshot) takes the lock the scheduled script holds for its run:
    the second of two backups at the same time saves nothing."""
    dest = tmp_path / "backups"
    dest.mkdir()
    held = _backup.take_lock(str(dest))
    try:
        assert _backup.lock_is_held(str(dest))
        with pytest.raises(BackupError, match="another backup is running on this master"):
            save(cluster, dest, do_trial_restore=False)
        assert listing(dest) == []
    finally:
        os.close(held)
    assert not _backup.lock_is_held(str(dest))
    save(cluster, dest, do_trial_restore=False)
    assert NAME in listing(dest)
