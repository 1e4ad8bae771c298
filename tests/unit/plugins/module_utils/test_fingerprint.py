"""_fingerprint: hashkv and key counts at a revision, and why they survive a restore.

The real-etcd tests are the evidence docs/drill.md rests on: a member restored from a
snapshot WITHOUT --bump-revision gives the same ``hashkv --rev R`` as the live member it
was saved from, on etcd 3.4 and 3.5, with deletions and a compaction in the history; and
the hash does tell apart two clusters whose keys differ in one value at the same revision.
"""

from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._etcdctl import (
    EtcdctlError,
    check,
    snapshot_restore_argv,
)
from ansible_collections.kubedr.etcd.plugins.module_utils._fingerprint import (
    FORMAT,
    OTHER,
    FingerprintError,
    compare,
    count_keys,
    empty,
    keys_as_recorded,
    parse_keys_page,
    resource_of,
    take,
    take_like,
)
from tests.support.etcd_process import VERSIONS, Etcd, skip_unless_installed

pytestmark = pytest.mark.timeout(180)

KEYS = {
    "/registry/pods/default/p1": "a",
    "/registry/pods/default/p2": "b",
    "/registry/pods/kube-system/p3": "c",
    "/registry/secrets/default/s1": "d",
    "/registry/apiregistration.k8s.io/apiservices/v1.apps": "e",
    "/compact_rev_key": "f",
}


def fill(etcd, changed_value=None):
    """The same history on every call: puts, a delete, a compaction, more puts. With
    ``changed_value`` one value differs, at the same revision."""
    for key, value in KEYS.items():
        etcd.put(key, value)
    etcd.put("/registry/pods/default/gone", "x")
    check([etcd.etcdctl, "del", "/registry/pods/default/gone"], env=etcd.env(), timeout=30)
    check([etcd.etcdctl, "compact", str(etcd.revision() - 2)], env=etcd.env(), timeout=30)
    etcd.put("/registry/configmaps/default/c1", changed_value or "g")
    return etcd.revision()


# --------------------------------------------------------------------------
# Pure logic


@pytest.mark.parametrize(
    ("key", "resource"),
    [
        ("/registry/pods/default/p1", "pods"),
        (b"/registry/secrets/kube-system/s", "secrets"),
        (
            "/registry/apiregistration.k8s.io/apiservices/v1.apps",
            "apiregistration.k8s.io/apiservices",
        ),
        ("/registry/ranges/serviceips", "ranges"),
        ("/registry/", OTHER),
        ("/compact_rev_key", OTHER),
        (b"\xff\x00odd", OTHER),
    ],
)
def test_resource_of(key, resource):
    assert resource_of(key) == resource


def fingerprint(**changes):
    base = {
        "format": FORMAT,
        "revision": 12,
        "hashkv": 1,
        "compact_revision": 9,
        "keys": {"pods": 3, "secrets": 1},
        "total_keys": 4,
    }
    return {**base, **changes}


def test_revision_0_is_an_empty_store_without_asking_etcd():
    assert take("/nonexistent/etcdctl", {}, 0) == empty()
    assert empty()["keys"] == {} and empty()["total_keys"] == 0


def test_compare_equal_and_each_difference():
    assert compare(fingerprint(), fingerprint()) == []
    assert compare(fingerprint(), fingerprint(hashkv=2)) == ["hashkv is 2, recorded 1"]
    assert compare(fingerprint(), fingerprint(keys={"pods": 3})) == ["secrets: 0 keys, recorded 1"]
    assert compare(fingerprint(), fingerprint(revision=13)) == [
        "taken at revision 13, recorded at 12"
    ]
    (problem,) = compare(fingerprint(), fingerprint(compact_revision=11, hashkv=2))
    assert "compacted between the save and the fingerprint" in problem
    (problem,) = compare({"error": "compacted"}, fingerprint())
    assert problem.startswith("no usable fingerprint was recorded")


# --------------------------------------------------------------------------
# Real etcd


@pytest.fixture(params=sorted(VERSIONS))
def version(request):
    skip_unless_installed(request.param)
    return request.param


def test_hashkv_at_the_snapshot_revision_survives_a_restore(version, tmp_path):
    live = Etcd(version, tmp_path / "live")
    restored = None
    try:
        live.start()
        revision = fill(live)
        snapshot = live.save(tmp_path / "s.db")
        recorded = take(live.etcdctl, live.env(), revision)
        live.put("/registry/pods/default/after", "not in the snapshot")
        live.stop()

        restored = Etcd(version, tmp_path / "restored")
        cmd = snapshot_restore_argv(
            live.tools,
            snapshot,
            restored.data_dir,
            restored.name,
            restored.initial_cluster,
            [restored.peer],
            "kubedr-drill",
            etcd_version=VERSIONS[version]["version"],
        )
        check(cmd["argv"], cmd["env"], 60)
        restored.start()
        found = take(restored.etcdctl, restored.env(), revision)
        # a drill's way: the same fingerprint, the keys counted without listing them
        assert keys_as_recorded(restored.client, revision, recorded["keys"])
        assert take_like(restored.etcdctl, restored.env(), restored.client, recorded) == found
    finally:
        live.stop()
        if restored:
            restored.stop()
    assert recorded["compact_revision"] == revision - 3 > 0
    assert recorded["keys"] == {
        OTHER: 1,
        "apiregistration.k8s.io/apiservices": 1,
        "configmaps": 1,
        "pods": 3,
        "secrets": 1,
    }
    assert recorded["total_keys"] == 7
    assert found == recorded
    assert compare(recorded, found) == []


def test_same_revision_other_value_gives_another_hash(version, tmp_path):
    first, second = Etcd(version, tmp_path / "a"), Etcd(version, tmp_path / "b")
    try:
        first.start()
        second.start()
        revision = fill(first)
        assert fill(second, changed_value="h") == revision
        one = take(first.etcdctl, first.env(), revision)
        other = take(second.etcdctl, second.env(), revision)
    finally:
        first.stop()
        second.stop()
    assert one["keys"] == other["keys"]
    assert compare(one, other) == [f"hashkv is {other['hashkv']}, recorded {one['hashkv']}"]


def test_key_counts_page_by_page_and_compaction_past_the_revision(version, tmp_path):
    etcd = Etcd(version, tmp_path / "m")
    try:
        etcd.start()
        revision = fill(etcd)
        whole = count_keys(etcd.etcdctl, etcd.env(), revision)
        assert count_keys(etcd.etcdctl, etcd.env(), revision, page=2) == whole
        assert count_keys(etcd.etcdctl, etcd.env(), revision, page=3) == whole
        etcd.put("/registry/pods/default/later", "x")
        check([etcd.etcdctl, "compact", str(revision + 1)], env=etcd.env(), timeout=30)
        with pytest.raises(FingerprintError, match="compacted past that revision"):
            take(etcd.etcdctl, etcd.env(), revision)
    finally:
        etcd.stop()


def test_counts_that_differ_from_the_record_are_told_apart(version, tmp_path):
    etcd = Etcd(version, tmp_path / "m")
    try:
        etcd.start()
        revision = fill(etcd)
        keys = take(etcd.etcdctl, etcd.env(), revision)["keys"]
        assert keys_as_recorded(etcd.client, revision, keys)
        more_pods = {**keys, "pods": keys["pods"] + 1, "secrets": keys["secrets"] - 1}
        assert not keys_as_recorded(etcd.client, revision, more_pods)
        # configmaps left out of the record, the total kept: only the count outside the
        # resources' prefixes tells
        unlisted = {r: n for r, n in keys.items() if r != "configmaps"}
        unlisted[OTHER] += keys["configmaps"]
        assert not keys_as_recorded(etcd.client, revision, unlisted)
        assert not keys_as_recorded(etcd.client, revision, {**keys, "widgets": 0, OTHER: 2})
        # later keys do not count at the recorded revision
        etcd.put("/registry/pods/default/later", "x")
        assert keys_as_recorded(etcd.client, revision, keys)
        # a compaction past it is an error with the hint, as with take()
        check([etcd.etcdctl, "compact", str(revision + 1)], env=etcd.env(), timeout=30)
        recorded = {"format": FORMAT, "revision": revision, "keys": keys}
        with pytest.raises(FingerprintError, match="compacted past that revision"):
            take_like(etcd.etcdctl, etcd.env(), etcd.client, recorded)
    finally:
        etcd.stop()


@pytest.mark.parametrize(
    "resource",
    [
        "g.io",  # /registry/g.io/ also holds g.io/r keys
        "x/y",  # /registry/x/y/z is of resource x
        "g.io/r/s",  # /registry/g.io/r/s/a is of resource g.io/r
    ],
)
def test_a_name_resource_of_does_not_give_is_counted_key_by_key(resource):
    # no request is made (nothing listens here)
    assert not keys_as_recorded("http://127.0.0.1:9", 5, {resource: 1, "pods": 2})


def test_a_count_that_cannot_be_asked_falls_back_to_etcdctl(version, tmp_path):
    etcd = Etcd(version, tmp_path / "m")
    try:
        etcd.start()
        revision = fill(etcd)
        recorded = take(etcd.etcdctl, etcd.env(), revision)
        nobody = "http://127.0.0.1:9"  # no gateway there: key by key, the same result
        assert take_like(etcd.etcdctl, etcd.env(), nobody, recorded) == recorded
    finally:
        etcd.stop()


def test_an_unreachable_gateway_is_an_error_naming_it():
    with pytest.raises(EtcdctlError, match=r"127\.0\.0\.1:9 failed"):
        keys_as_recorded("http://127.0.0.1:9", 5, {"pods": 2}, timeout=5)


def _field(number, payload):
    """One length-delimited protobuf field (payloads under 128 bytes)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def _kv(key):
    """An mvccpb.KeyValue as etcd sends it with --keys-only: key, revisions, version."""
    return _field(1, key) + bytes([2 << 3, 5, 3 << 3, 7, 4 << 3, 1])


def test_parse_keys_page_reads_etcds_range_response():
    header = _field(1, bytes([1 << 3, 0x7B]))  # a ResponseHeader: cluster_id = 123
    kvs = [b"/registry/pods/ns/a", b"\xff\x00odd", b"/x"]
    data = header + b"".join(_field(2, _kv(k)) for k in kvs) + bytes([3 << 3, 1, 4 << 3, 3])
    assert parse_keys_page(data) == (kvs, True)
    assert parse_keys_page(header) == ([], False)
    with pytest.raises(EtcdctlError, match="truncated or malformed"):
        parse_keys_page(data[:-3])
    with pytest.raises(EtcdctlError, match="wire type 7"):
        parse_keys_page(bytes([1 << 3 | 7]))
