"""Unit tests of snapshot integrity, names and metadata (and one real etcd round trip)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    check,
    endpoint_status_argv,
    member_list_argv,
    parse_endpoint_status,
    parse_member_list,
    parse_snapshot_status,
    snapshot_restore_argv,
    snapshot_save_argv,
    snapshot_status_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._snapshot import (
    METADATA_FORMAT,
    STAMP_FORMAT,
    SnapshotError,
    build_metadata,
    check_stamp,
    compare_with_metadata,
    load_metadata,
    metadata_path,
    new_stamp,
    parse_snapshot_time,
    sha256_file,
    snapshot_file_name,
    stamp_time,
    verify_trailer,
    write_json_atomic,
)
from tests.support.etcd_process import binaries, pod_keys, running_cluster, seed

UTC = dt.timezone.utc  # noqa: UP017 - the module under test supports Python 3.9
NO_TRAILER = "has no sha256 trailer: not a file written by `etcdctl snapshot save`"
CORRUPT = "is corrupt: the sha256 of its content does not match the trailer"


def make_snapshot(path, pages=8, seed=1):
    """A file shaped like a saved snapshot: N*4096 random bytes + sha256(body)."""
    body = hashlib.shake_256(f"kubedr-{seed}".encode()).digest(pages * 4096)
    path.write_bytes(body + hashlib.sha256(body).digest())
    return body


# --------------------------------------------------------------------------
# verify_trailer
# --------------------------------------------------------------------------


def test_valid_snapshot(tmp_path):
    path = tmp_path / "s.db"
    body = make_snapshot(path)
    data = path.read_bytes()
    assert verify_trailer(str(path)) == {
        "size": 8 * 4096 + 32,
        "sha256": hashlib.sha256(data).hexdigest(),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }


@pytest.mark.parametrize("chunk_size", [1, 7, 31, 32, 33, 4096, 4097, 1 << 20])
def test_chunk_boundaries(tmp_path, chunk_size):
    path = tmp_path / "s.db"
    body = make_snapshot(path, pages=3, seed=chunk_size)
    result = verify_trailer(str(path), chunk_size=chunk_size)
    assert result["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result["sha256"] == sha256_file(str(path), chunk_size=chunk_size)


def test_large_file_small_chunks(tmp_path):
    path = tmp_path / "big.db"
    make_snapshot(path, pages=2048)  # 8 MiB
    result = verify_trailer(str(path), chunk_size=65536 + 17)  # trailer straddles chunks
    assert result["size"] == 2048 * 4096 + 32
    assert result["sha256"] == sha256_file(str(path))


def test_corrupt_byte_in_the_middle(tmp_path):
    path = tmp_path / "s.db"
    make_snapshot(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError) as info:
        verify_trailer(str(path), chunk_size=4096)
    assert str(info.value) == (
        f"snapshot {path} is corrupt: the sha256 of its content does not match the trailer"
        " etcd wrote when saving it"
    )


def test_corrupt_trailer(tmp_path):
    path = tmp_path / "s.db"
    make_snapshot(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=CORRUPT):
        verify_trailer(str(path))


def test_truncated_by_one_byte(tmp_path):
    path = tmp_path / "s.db"
    make_snapshot(path)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(SnapshotError) as info:
        verify_trailer(str(path))
    message = str(info.value)
    assert message.startswith(f"snapshot {path} ({8 * 4096 + 31} bytes) {NO_TRAILER}")
    assert message.endswith("(a copy of member/snap/db has none), or it was truncated")


@pytest.mark.parametrize("cut", [512, 4096])
def test_truncated_by_whole_blocks_is_corrupt(tmp_path, cut):
    # the size still looks like a snapshot (size % 512 == 32); the hash check catches it
    path = tmp_path / "s.db"
    make_snapshot(path)
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(SnapshotError, match=CORRUPT):
        verify_trailer(str(path))


def test_body_only_has_no_trailer(tmp_path):
    path = tmp_path / "db"
    path.write_bytes(hashlib.shake_256(b"x").digest(4 * 4096))
    with pytest.raises(SnapshotError, match=NO_TRAILER):
        verify_trailer(str(path))


def test_empty_missing_unreadable(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(SnapshotError, match=r"is empty \(0 bytes\)"):
        verify_trailer(str(empty))
    with pytest.raises(SnapshotError, match=r"snapshot .*/nope\.db does not exist"):
        verify_trailer(str(tmp_path / "nope.db"))
    with pytest.raises(SnapshotError, match="is not a regular file"):
        verify_trailer(str(tmp_path))


def test_unreadable(tmp_path, monkeypatch):
    path = tmp_path / "locked.db"
    make_snapshot(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(SnapshotError) as info:
        verify_trailer(str(path))
    assert str(info.value) == (
        f"cannot read snapshot {path}: permission denied (run as root / with become)"
    )


def test_verify_reads_in_chunks_not_whole(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    make_snapshot(path, pages=64)
    reads = []
    real_open = open

    class Spy:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def fileno(self):
            return self.handle.fileno()

        def readinto(self, buffer):
            reads.append(len(buffer))
            return self.handle.readinto(buffer)

    monkeypatch.setattr("builtins.open", lambda *a, **k: Spy(real_open(*a, **k)))
    verify_trailer(str(path), chunk_size=8192)
    assert set(reads) == {8192}
    assert len(reads) == (64 * 4096 + 32) // 8192 + 2  # full chunks, the tail, then EOF


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------


def test_new_stamp():
    when = dt.datetime(2026, 11, 26, 3, 0, 0, 999999, tzinfo=UTC)
    assert new_stamp(when) == "20261126T030000Z"
    plus_one = dt.timezone(dt.timedelta(hours=1))
    assert new_stamp(dt.datetime(2026, 11, 26, 4, tzinfo=plus_one)) == "20261126T030000Z"
    assert new_stamp(when.timestamp()) == "20261126T030000Z"
    before = dt.datetime.now(UTC).replace(microsecond=0)
    now = new_stamp()
    after = dt.datetime.now(UTC)
    assert before <= dt.datetime.strptime(now, STAMP_FORMAT).replace(tzinfo=UTC) <= after
    assert check_stamp(now) == now
    assert snapshot_file_name(when) == f"etcd-snapshot-{new_stamp(when)}.db"
    with pytest.raises(ValueError, match="has no time zone"):
        new_stamp(dt.datetime(2026, 11, 26, 3))


def test_check_stamp_and_stamp_time():
    assert check_stamp("20261126T030000Z") == "20261126T030000Z"
    assert check_stamp("20240229T235959Z") == "20240229T235959Z"  # a leap day
    assert stamp_time("20261126T030000Z") == dt.datetime(2026, 11, 26, 3, tzinfo=UTC)
    assert parse_snapshot_time(f"etcd-snapshot-{check_stamp('20261126T030000Z')}.db") == (
        stamp_time("20261126T030000Z")
    )
    for bad in (
        None,
        "",
        "now",
        "2026-11-26",
        "2026-11-26T03:00:00Z",
        "20261126T030000",  # no Z: not said to be UTC
        "20261126t030000z",
        "20261126T030000Z\n",
        " 20261126T030000Z",
        "20261126T030000Z.db",
        "202611T000Z",  # strptime alone would read 2026-01-01 00:00:00
        "2026112T030000Z",
        20261126,
    ):
        message = f"stamp={bad!r} is not a UTC time like 20261126T030000Z"
        for read in (check_stamp, stamp_time):
            with pytest.raises(ValueError) as caught:
                read(bad)
            assert str(caught.value) == message
    for bad in (
        "20261326T030000Z",  # month 13
        "20261100T030000Z",
        "20250229T030000Z",  # not a leap year
        "20261126T240000Z",
        "20261126T036000Z",
        "20261126T030060Z",
    ):
        message = f"stamp={bad!r} is not a UTC time like 20261126T030000Z: no such date or time"
        for read in (check_stamp, stamp_time):
            with pytest.raises(ValueError) as caught:
                read(bad)
            assert str(caught.value) == message


def test_snapshot_file_name_and_time():
    when = dt.datetime(2026, 11, 26, 3, 0, 0, tzinfo=UTC)
    assert snapshot_file_name(when) == "etcd-snapshot-20261126T030000Z.db"
    plus_one = dt.timezone(dt.timedelta(hours=1))
    assert snapshot_file_name(dt.datetime(2026, 11, 26, 4, tzinfo=plus_one)) == (
        "etcd-snapshot-20261126T030000Z.db"
    )
    assert snapshot_file_name(when.timestamp()) == "etcd-snapshot-20261126T030000Z.db"
    assert ":" not in snapshot_file_name()
    with pytest.raises(ValueError, match="has no time zone"):
        snapshot_file_name(dt.datetime(2026, 11, 26, 3))
    assert parse_snapshot_time("etcd-snapshot-20261126T030000Z.db") == when
    assert parse_snapshot_time("/backups/etcd-snapshot-20261126T030000Z.db") == when
    assert parse_snapshot_time("etcd-snapshot-2026-11-26_03:00:00_UTC.db") == when
    for bad in (
        "etcd-snapshot-20261326T030000Z.db",
        "etcd-snapshot-latest.db",
        "etcd-snapshot-20261126T030000Z.db.part",
        "other-20261126T030000Z.db",
        "etcd-snapshot-.db",
    ):
        assert parse_snapshot_time(bad) is None, bad
    assert parse_snapshot_time("x-20261126T030000Z.snap", prefix="x-", suffix=".snap") == when
    assert metadata_path("/b/etcd-snapshot-20261126T030000Z.db") == (
        "/b/etcd-snapshot-20261126T030000Z.db.json"
    )


# --------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------

MEMBERS = [
    {
        "id": "7cc83eb522e18dda",
        "name": "docker8",
        "peer_urls": ["https://10.77.0.8:2380"],
        "client_urls": ["https://10.77.0.8:2379"],
        "is_learner": False,
        "started": True,
    }
]
STATUS = {"hash": 604985371, "revision": 9, "total_key": 738, "total_size": 2875392}


def metadata(verified, **overrides):
    args = {
        "created": dt.datetime(2026, 11, 26, 3, tzinfo=UTC),
        "etcd_version": "3.4.23",
        "cluster_id": "f6bdd115e86ccf90",
        "members": MEMBERS,
        "source_host": "docker8",
        "kubernetes_version": "v1.31.2",
        "collection_version": "1.0.0",
        "control_plane_archives": [
            {"host": "docker8", "file": "k.tar.gz", "size": 10, "sha256": "a" * 64, "x": 1}
        ],
        "trial_restore": True,
    }
    args.update(overrides)
    return build_metadata("/b/etcd-snapshot-20261126T030000Z.db", verified, STATUS, **args)


VERIFIED = {"size": 2875424, "sha256": "b" * 64, "body_sha256": "c" * 64}


def test_build_metadata():
    assert metadata(VERIFIED) == {
        "format": "kubedr.etcd/snapshot-metadata/v1",
        "created": "2026-11-26T03:00:00Z",
        "collection_version": "1.0.0",
        "source_host": "docker8",
        "kubernetes_version": "v1.31.2",
        "snapshot": {
            "file": "etcd-snapshot-20261126T030000Z.db",
            "size": 2875424,
            "sha256": "b" * 64,
            "revision": 9,
            "total_key": 738,
            "total_size": 2875392,
            "hash": 604985371,
        },
        "etcd": {
            "version": "3.4.23",
            "cluster_id": "f6bdd115e86ccf90",
            "members": [
                {
                    "name": "docker8",
                    "id": "7cc83eb522e18dda",
                    "peer_urls": ["https://10.77.0.8:2380"],
                }
            ],
        },
        "control_plane_archives": [
            {"host": "docker8", "file": "k.tar.gz", "size": 10, "sha256": "a" * 64}
        ],
        "trial_restore": True,
    }
    with pytest.raises(ValueError, match="lacks sha256"):
        metadata(VERIFIED, control_plane_archives=[{"host": "h", "file": "f", "size": 1}])


def test_write_and_load_metadata(tmp_path):
    path = tmp_path / "etcd-snapshot-20261126T030000Z.db.json"
    record = metadata(VERIFIED)
    write_json_atomic(str(path), record)
    assert load_metadata(str(path)) == record
    assert (path.stat().st_mode & 0o777) == 0o600
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temp file left
    write_json_atomic(str(path), {**record, "trial_restore": False}, mode=0o640)
    assert load_metadata(str(path))["trial_restore"] is False
    assert (path.stat().st_mode & 0o777) == 0o640


def test_write_json_atomic_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "m.json"
    write_json_atomic(str(path), {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(str(path), {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["m.json"]


def test_load_metadata_errors(tmp_path):
    path = tmp_path / "m.json"
    with pytest.raises(SnapshotError, match=r"m\.json does not exist: the backup is incomplete"):
        load_metadata(str(path))
    path.write_text("{not json")
    with pytest.raises(SnapshotError, match="is not valid JSON"):
        load_metadata(str(path))
    path.write_text(json.dumps({"format": "other/v9", "snapshot": {}}))
    with pytest.raises(SnapshotError, match=r"has format 'other/v9', expected 'kubedr\.etcd/"):
        load_metadata(str(path))
    record = metadata(VERIFIED)
    del record["snapshot"]["revision"], record["snapshot"]["total_key"]
    path.write_text(json.dumps(record))
    with pytest.raises(SnapshotError, match=r"lacks snapshot\.revision, snapshot\.total_key$"):
        load_metadata(str(path))
    path.write_text(json.dumps({"format": METADATA_FORMAT}))
    with pytest.raises(SnapshotError, match="has no 'snapshot' object"):
        load_metadata(str(path))
    record = metadata({**VERIFIED, "sha256": "XYZ"})
    path.write_text(json.dumps(record))
    with pytest.raises(SnapshotError, match=r"snapshot\.sha256 is not a sha256 hex digest"):
        load_metadata(str(path))


def test_compare_with_metadata():
    record = metadata(VERIFIED)
    assert compare_with_metadata(VERIFIED, record) == []
    other = {"size": 2875936, "sha256": "d" * 64, "body_sha256": "c" * 64}
    assert compare_with_metadata(other, record) == [
        "size is 2875936 bytes but the metadata records 2875424 bytes",
        f"sha256 is {'d' * 64} but the metadata records {'b' * 64}",
    ]


# --------------------------------------------------------------------------
# a real etcd 3.4: snapshot save, verify, status, restore
# --------------------------------------------------------------------------

ETCDCTL = str(binaries("3.4")["etcdctl"])
ETCDUTL_35 = str(binaries("3.5")["etcdutl"])


@pytest.fixture(scope="module")
def real_etcd(tmp_path_factory):
    """etcd 3.4 on 127.0.0.1 (plain http) with a few keys: (env, data_dir, tmp)."""
    with running_cluster("3.4", tmp_path_factory, names=("unit",)) as etcd:
        etcd.put("/registry/ready", "yes")
        seed(etcd, pod_keys(20))
        yield etcd.env(), etcd.directory / "unit", etcd.directory


def test_real_snapshot_passes_and_raw_db_fails(real_etcd):
    env, data_dir, tmp = real_etcd
    snapshot = tmp / snapshot_file_name()
    out = check(snapshot_save_argv(ETCDCTL, str(snapshot)), env=env, timeout=60)
    assert f"Snapshot saved at {snapshot}" in out
    verified = verify_trailer(str(snapshot), chunk_size=1000)
    assert verified["size"] == snapshot.stat().st_size
    assert verified["size"] % 512 == 32
    assert verified["sha256"] == hashlib.sha256(snapshot.read_bytes()).hexdigest()

    raw = tmp / "raw.db"
    shutil.copyfile(data_dir / "member" / "snap" / "db", raw)
    with pytest.raises(SnapshotError, match=NO_TRAILER):
        verify_trailer(str(raw))


def test_real_status_metadata_and_restore(real_etcd):
    env, _unused, tmp = real_etcd
    snapshot = tmp / "etcd-snapshot-20261126T030000Z.db"
    check(snapshot_save_argv(ETCDCTL, str(snapshot)), env=env, timeout=60)
    verified = verify_trailer(str(snapshot))
    tools = {"etcdctl": {"path": ETCDCTL, "version": "3.4.23"}, "etcdutl": None}
    status = parse_snapshot_status(
        check(snapshot_status_argv(tools, str(snapshot)), env={"ETCDCTL_API": "3"})
    )
    assert status["total_key"] >= 21 and status["revision"] >= 21
    members = parse_member_list(check(member_list_argv(ETCDCTL), env=env))
    (endpoint,) = parse_endpoint_status(check(endpoint_status_argv(ETCDCTL), env=env))
    assert endpoint["is_leader"] and endpoint["cluster_id"] == members["cluster_id"]
    assert members["members"][0]["name"] == "unit"
    assert members["members"][0]["id"] == endpoint["member_id"]

    record = build_metadata(
        str(snapshot),
        verified,
        status,
        created=parse_snapshot_time(snapshot.name),
        etcd_version=endpoint["version"],
        cluster_id=members["cluster_id"],
        members=members["members"],
        source_host="localhost",
    )
    write_json_atomic(metadata_path(str(snapshot)), record)
    loaded = load_metadata(metadata_path(str(snapshot)))
    assert loaded["etcd"]["version"] == "3.4.23"
    assert compare_with_metadata(verify_trailer(str(snapshot)), loaded) == []

    restore = {
        "name": "unit",
        "initial_cluster": [{"name": "unit", "peer_urls": ["http://127.0.0.1:2380"]}],
        "initial_advertise_peer_urls": "http://127.0.0.1:2380",
        "initial_cluster_token": "kubedr-unit",
    }
    plan = snapshot_restore_argv(tools, str(snapshot), str(tmp / "restored"), **restore)
    check(plan["argv"], env=plan["env"], timeout=60)
    assert (tmp / "restored" / "member" / "snap" / "db").is_file()

    # restore refuses a raw db copy without the hash, and check() says why
    raw = tmp / "raw2.db"
    shutil.copyfile(tmp / "restored" / "member" / "snap" / "db", raw)
    plan = snapshot_restore_argv(tools, str(raw), str(tmp / "restored-raw"), **restore)
    with pytest.raises(EtcdctlError, match=r"Error: snapshot missing hash .*no sha256 trailer"):
        check(plan["argv"], env=plan["env"], timeout=60, what="restore")

    if os.path.exists(ETCDUTL_35):  # etcdutl 3.5.16 bumps the revision
        utl = {"etcdctl": None, "etcdutl": {"path": ETCDUTL_35, "version": "3.5.16"}}
        plan = snapshot_restore_argv(
            utl, str(snapshot), str(tmp / "bumped"), **restore, bump_revision=1000000000
        )
        check(plan["argv"], env=plan["env"], timeout=60)
        bumped = parse_snapshot_status(
            check(snapshot_status_argv(utl, str(tmp / "bumped" / "member" / "snap" / "db")))
        )
        assert bumped["revision"] >= 1000000000 + status["revision"]
