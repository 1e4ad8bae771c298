"""Unit tests of the manifest reader: YAML subset, member facts, finding the file."""

from __future__ import annotations

import copy
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.kubedr.etcd.plugins.module_utils import _etcd_manifest as manifest_utils
from ansible_collections.kubedr.etcd.plugins.module_utils._etcd_manifest import (
    ManifestError,
    etcd_member_config,
    find_manifest,
    image_version,
    load_yaml,
    parse_flags,
    parse_initial_cluster,
    parse_url,
    read_etcd_member,
    url_host,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"
GOOD = sorted(p.name for p in FIXTURES.iterdir() if not p.name.startswith("bad-") and p.is_file())
BAD = sorted(p.name for p in FIXTURES.iterdir() if p.name.startswith("bad-"))

PKI = "/etc/kubernetes/pki/etcd"


def fixture(name):
    return str(FIXTURES / name)


def load_fixture(name):
    return yaml.safe_load((FIXTURES / name).read_bytes())


# --------------------------------------------------------------------------
# YAML subset loader
# --------------------------------------------------------------------------


def test_fixture_sets_are_complete():
    assert len(GOOD) >= 10
    assert len(BAD) >= 9


@pytest.mark.parametrize("name", GOOD)
def test_loader_equals_pyyaml_on_fixtures(name):
    data = (FIXTURES / name).read_bytes()
    expected = yaml.safe_load(data)
    assert isinstance(expected, dict)
    assert load_yaml(data) == expected
    assert load_yaml(data.decode()) == expected


SNIPPETS = {
    "scalar types": (
        "a: 1\nb: -2\nc: 0x1F\nd: 017\ne: 1.5\nf: .inf\ng: ~\nh: null\ni: true\nj: No\n"
        "k: 'x'\nl: \"y\"\nm: 3.5.16-0\nn: 100m\no: 0\np: +3\nq: 1_000\nr:\n"
    ),
    "double-quoted escapes": (
        'a: "tab\\there \\"q\\" \\\\ \\x41\\u00e9\\U0001F600\\/"\n'
        "b: 'it''s # not a comment'\n"
        'c: "x # y"  # a comment\n'
    ),
    "multi-line double-quoted": 'a: "one\n  two\n\n  three \\\n  four\\\n  \\ five"\nb: x\n',
    "multi-line single-quoted": "a: 'one\n   two  \n\n\n   three'\n",
    "wrapped plain scalar": "a: one two\n  three\n\n  four\nb: x\n",
    "flow collections": (
        "a: []\nb: {}\nc: [1, 'two', \"three\", four five]\n"
        "d: {x: 1, y: [a, b], 'z': null}\ne: [\n  a,\n  b  # c\n]\n"
    ),
    "indented sequences": "a:\n  - 1\n  - - x\n    - y\n  -\n    k: v\n  - k: v\n    l: w\n",
    "kubeadm sequences": "a:\n- x\n- y: 1\n  z: 2\nb: c\n",
    "literal block scalars": (
        "a: |\n  line1\n    indented\n\n  line3\nb: |-\n  x\n\nc: |+\n  y\n\n\nd: 1\n"
    ),
    "folded block scalars": "a: >\n  one\n  two\n\n  three\n    more\n  four\nb: >-\n  x\n  y\n",
    "literal at end of file": "a: |\n  abc",
    "keep at end of file": "a: |+\n  abc\n\n",
    "explicit indentation": "a: |2\n    two more\n  base\n",
    "document markers": "%YAML 1.1\n---\na: 1\n...\n",
    "comments": "# top\na: 1 # one\n# middle\n  # indented comment\nb:   # nothing\n  c: 2\n",
    "top-level list": "- a\n- b: c\n",
    "top-level scalar": "just text\n",
    "quoted keys": "'a b': 1\n\"c:d\": 2\n",
    "CRLF line ends": "a: 1\r\nb:\r\n- x\r\n",
    "byte order mark": "\ufeffa: 1\n",
    "empty sequence items": "- \n- x\n-\n",
    "URLs": "a: https://[fd00::8]:2380\nb: http://x:1/p?q=1#frag\nc: a:b\nd: ::1\n",
    "block scalars in a sequence": "- |\n  text\n- >-\n  folded\n  text\n- x\n",
    "deep nesting": "a:\n  b:\n    c:\n    - d: |\n        e\n      f: g\n",
    "JSON": '{"a": [1, 2, {"b": null}], "c": "d"}',
    "empty document": "# nothing here\n",
}


@pytest.mark.parametrize("text", SNIPPETS.values(), ids=SNIPPETS.keys())
def test_loader_equals_pyyaml_on_snippets(text):
    assert load_yaml(text) == yaml.safe_load(text)


def test_loader_values():
    """Concrete values, in case PyYAML and the loader were wrong the same way."""
    doc = load_yaml(SNIPPETS["scalar types"])
    assert doc["a"] == 1 and doc["c"] == 31 and doc["d"] == 15 and doc["q"] == 1000
    assert doc["i"] is True and doc["j"] is False and doc["g"] is None and doc["r"] is None
    assert doc["m"] == "3.5.16-0" and doc["n"] == "100m"
    assert load_yaml("a: 0x_\n") == {"a": "0x_"}  # PyYAML raises ValueError here
    assert load_yaml(SNIPPETS["multi-line double-quoted"])["a"] == "one two\nthree four five"
    assert load_yaml(SNIPPETS["literal block scalars"]) == {
        "a": "line1\n  indented\n\nline3\n",
        "b": "x",
        "c": "y\n\n\n",
        "d": 1,
    }
    assert load_yaml(SNIPPETS["folded block scalars"]) == {
        "a": "one two\nthree\n  more\nfour\n",
        "b": "x y",
    }
    assert load_yaml("a:\n- x\n- y\nb: z\n") == {"a": ["x", "y"], "b": "z"}


BAD_YAML = {
    "tab indentation": ("a:\n\tb: 1\n", 2, "tab in the indentation"),
    "duplicate key": ("a: 1\na: 2\n", 2, "duplicate key 'a'"),
    "anchor": ("a: &x 1\nb: *x\n", 1, "anchors"),
    "tag": ("a: !!str 1\n", 1, "tags"),
    "second document": ("a: 1\n---\nb: 2\n", 2, "second YAML document"),
    "unterminated quote": ('a: 1\nb: "abc\n', 2, "never closed"),
    "unterminated flow": ("a: [1, 2\n", 1, "never closed"),
    "deeper line": ("a: 1\n  b: 2\n", 2, "':' followed by a space"),
    "colon in value": ("a: b: c\n", 1, "':' followed by a space"),
    "item among keys": ("a: 1\n- b\n", 2, "sequence item"),
    "complex key": ("? a\n: b\n", 1, "complex mapping keys"),
    "bad escape": ('a: "\\q"\n', 1, "unknown escape"),
    "NUL byte": ("a: 1\nb: \x00\n", 2, "binary or damaged"),
    "dash value": ("b: - x\n", 1, "unexpected '- '"),
    "content after ---": ("--- a: 1\n", 1, "on the '---' line"),
    "key without name": (": x\n", 1, "without a key"),
    "text after quote": ('a: "x" y\n', 1, "after a quoted string"),
    "bad block header": ("a: |x\n  b\n", 1, "block scalar header"),
    "text after end": ("a: 1\n...\nb: 2\n", 3, "after the end of the document"),
    "not YAML": ("[Unit]\nDescription=etcd\n", 2, "is the file YAML"),
}


@pytest.mark.parametrize(("text", "line", "message"), BAD_YAML.values(), ids=BAD_YAML.keys())
def test_loader_rejects_with_line_number(text, line, message):
    with pytest.raises(ManifestError) as caught:
        load_yaml(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "text", ["[" * 5000 + "]" * 5000, "a:\n" + "".join(" " * i + "- \n" for i in range(3000))]
)
def test_loader_rejects_absurd_nesting(text):
    with pytest.raises(ManifestError, match="nested too deeply"):
        load_yaml(text)


def test_loader_rejects_non_utf8_bytes():
    with pytest.raises(ManifestError, match=r"line 2: byte 0xff is not UTF-8"):
        load_yaml(b"a: 1\nb: \xff\xfe\n")


def test_loader_survives_mutations():
    """Damaged manifests give ManifestError or the same value as PyYAML, nothing else."""
    import random

    rng = random.Random(20261126)
    sources = [(FIXTURES / n).read_text() for n in GOOD if n.endswith(".yaml")]
    alphabet = " \n:-#'\"|>[]{},&*!?%@`\t\\xZ"
    compared = 0
    for _unused in range(1500):
        chars = list(rng.choice(sources))
        for _unused in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars))
            if rng.random() < 0.5:
                del chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
        text = "".join(chars)
        try:
            mine = load_yaml(text)
        except ManifestError:
            continue
        try:
            theirs = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        compared += 1
        assert mine == theirs, text
    assert compared > 300


# --------------------------------------------------------------------------
# Member facts from the fixtures
# --------------------------------------------------------------------------

KUBEADM_TLS = {
    "cert_file": f"{PKI}/server.crt",
    "key_file": f"{PKI}/server.key",
    "trusted_ca_file": f"{PKI}/ca.crt",
    "client_cert_auth": True,
    "peer_cert_file": f"{PKI}/peer.crt",
    "peer_key_file": f"{PKI}/peer.key",
    "peer_trusted_ca_file": f"{PKI}/ca.crt",
    "peer_client_cert_auth": True,
}


def test_kubeadm_131_joined_member():
    path = fixture("kubeadm-1.31-etcd-3.5-joined.yaml")
    member = read_etcd_member(path)
    assert member == {
        "manifest_path": path,
        "moved_aside": False,
        "kubernetes_version": None,
        "apiserver": {
            "address": None,
            "port": 6443,
            "readyz_url": "https://10.20.0.12:6443/readyz",
        },
        "name": "cp-2",
        "data_dir": "/var/lib/etcd",
        "data_dir_flag": "/var/lib/etcd",
        "data_dir_host_path": "/var/lib/etcd",
        "advertise_client_urls": ["https://10.20.0.12:2379"],
        "listen_client_urls": ["https://127.0.0.1:2379", "https://10.20.0.12:2379"],
        "initial_advertise_peer_urls": ["https://10.20.0.12:2380"],
        "listen_peer_urls": ["https://10.20.0.12:2380"],
        "initial_cluster": [
            {"name": "cp-2", "peer_urls": ["https://10.20.0.12:2380"]},
            {"name": "cp-1", "peer_urls": ["https://10.20.0.11:2380"]},
            {"name": "cp-3", "peer_urls": ["https://10.20.0.13:2380"]},
        ],
        "initial_cluster_string": (
            "cp-2=https://10.20.0.12:2380,cp-1=https://10.20.0.11:2380,cp-3=https://10.20.0.13:2380"
        ),
        "initial_cluster_token": None,
        "initial_cluster_state": "existing",
        "tls": KUBEADM_TLS,
        "image": "registry.k8s.io/etcd:3.5.15-0",
        "version": "3.5.15",
        "flags": member["flags"],
        "warnings": [],
    }
    assert len(member["flags"]) == 20
    assert member["flags"]["experimental-initial-corrupt-check"] == "true"
    assert member["flags"]["snapshot-count"] == "10000"
    assert member["flags"]["listen-metrics-urls"] == "http://127.0.0.1:2381"


@pytest.mark.parametrize(
    ("name", "member_name", "image", "version", "cluster"),
    [
        (
            "kubeadm-1.27-etcd-3.5-first.yaml",
            "master1",
            "registry.k8s.io/etcd:3.5.7-0",
            "3.5.7",
            [("master1", ["https://192.168.122.21:2380"])],
        ),
        (
            "kubeadm-1.20-etcd-3.4.yaml",
            "k8s-master-01",
            "k8s.gcr.io/etcd:3.4.13-0",
            "3.4.13",
            [("k8s-master-01", ["https://172.16.1.10:2380"])],
        ),
        (
            "kubeadm-1.15-etcd-3.3.yaml",
            "kube-m2",
            "k8s.gcr.io/etcd:3.3.10",
            "3.3.10",
            [("kube-m2", ["https://10.1.1.3:2380"]), ("kube-m1", ["https://10.1.1.2:2380"])],
        ),
    ],
)
def test_kubeadm_generations(name, member_name, image, version, cluster):
    member = etcd_member_config(load_fixture(name), fixture(name))
    assert member["name"] == member_name
    assert member["image"] == image
    assert member["version"] == version
    assert [(m["name"], m["peer_urls"]) for m in member["initial_cluster"]] == cluster
    assert member["tls"] == KUBEADM_TLS
    assert member["data_dir"] == member["data_dir_host_path"] == "/var/lib/etcd"
    assert member["warnings"] == []


def test_separate_argument_flags():
    member = read_etcd_member(fixture("separate-args.yaml"))
    assert member["name"] == "docker8"
    assert member["data_dir"] == "/var/lib/etcd"
    assert member["listen_client_urls"] == ["https://127.0.0.1:2379", "https://10.8.0.8:2379"]
    assert member["advertise_client_urls"] == ["https://10.8.0.8:2379"]
    assert member["initial_cluster"] == [
        {"name": "docker8", "peer_urls": ["https://10.8.0.8:2380"]}
    ]
    assert member["initial_cluster_token"] == "docker8-lab"
    assert member["initial_cluster_state"] == "new"
    assert member["tls"] == {
        "cert_file": "/etc/etcd/pki/server.crt",
        "key_file": "/etc/etcd/pki/server.key",
        "trusted_ca_file": "/etc/etcd/pki/ca.crt",
        "client_cert_auth": True,
        "peer_cert_file": "/etc/etcd/pki/peer.crt",
        "peer_key_file": "/etc/etcd/pki/peer.key",
        "peer_trusted_ca_file": "/etc/etcd/pki/ca.crt",
        "peer_client_cert_auth": True,
    }
    assert member["flags"]["client-cert-auth"] == "true"
    assert member["flags"]["snapshot-count"] == "10000"
    assert member["image"] == "quay.io/coreos/etcd:v3.4.3"
    assert member["version"] == "3.4.3"
    assert member["warnings"] == []


def test_ipv6_member():
    member = read_etcd_member(fixture("ipv6.yaml"))
    assert member["name"] == "v6-master-a"
    assert member["advertise_client_urls"] == ["https://[fd00:10:20::11]:2379"]
    assert member["listen_client_urls"] == ["https://[::1]:2379", "https://[fd00:10:20::11]:2379"]
    assert member["initial_cluster"] == [
        {"name": "v6-master-a", "peer_urls": ["https://[fd00:10:20::11]:2380"]}
    ]
    assert [url_host(u) for u in member["initial_advertise_peer_urls"]] == ["fd00:10:20::11"]
    assert member["version"] == "3.5.16"
    assert member["image"].endswith(
        "@sha256:" + "c6a9d11cc5c04b114ccdef39a9265eeef818e3d02f5359be035ae784097fdec5"
    )


def test_json_manifest():
    member = read_etcd_member(fixture("pod.json"))
    assert member["name"] == "v6-master-json"
    assert member["initial_cluster"][0]["peer_urls"] == ["https://[fd00:10:20::11]:2380"]


def test_several_peer_urls_per_member():
    member = read_etcd_member(fixture("multi-peer-urls.yaml"))
    assert member["initial_cluster"] == [
        {"name": "m1", "peer_urls": ["https://10.0.0.11:2380", "https://192.168.10.11:2380"]},
        {"name": "m2", "peer_urls": ["https://10.0.0.12:2380", "https://192.168.10.12:2380"]},
        {"name": "m3", "peer_urls": ["https://10.0.0.13:2380"]},
    ]
    assert member["initial_advertise_peer_urls"] == [
        "https://10.0.0.11:2380",
        "https://192.168.10.11:2380",
    ]
    assert member["listen_peer_urls"] == ["https://0.0.0.0:2380"]
    assert len(member["listen_client_urls"]) == 3
    assert member["initial_cluster_token"] == "kubedr-20261126T031500Z"
    assert member["initial_cluster_state"] == "new"
    assert member["version"] == "3.5.9"


def test_missing_data_volume_warns():
    member = read_etcd_member(fixture("no-data-volume.yaml"))
    assert member["data_dir"] == "/var/lib/etcd"
    assert member["data_dir_host_path"] is None
    assert len(member["warnings"]) == 1
    assert "--data-dir=/var/lib/etcd is on no hostPath volume" in member["warnings"][0]


def test_remapped_data_dir():
    member = read_etcd_member(fixture("remapped-data-dir.yaml"))
    assert member["data_dir"] == "/data/etcd"
    assert member["data_dir_host_path"] == "/data/etcd"
    assert member["data_dir_flag"] == "/var/lib/etcd"
    assert member["warnings"] == []


BAD_FIXTURES = {
    "bad-binary.bin": ["line 1", "not UTF-8", "binary or damaged"],
    "bad-not-yaml.txt": ["line 2", "is the file YAML"],
    "bad-list.yaml": ["is a YAML list, not a Pod"],
    "bad-deployment.yaml": [
        "kind is 'Deployment', not 'Pod'",
        "/etc/kubernetes/manifests/etcd.yaml",
    ],
    "bad-no-etcd-container.yaml": ["no etcd container (containers: kube-apiserver)"],
    "bad-missing-name.yaml": ["no --name flag", "--name=<member name>"],
    "bad-data-dir-disagreement.yaml": [
        "--data-dir=/var/lib/etcd",
        "volume 'etcd-data' (host path /var/lib/etcd) is mounted at /var/lib/etcd-other",
        "Make --data-dir equal to the mountPath of 'etcd-data'",
    ],
    "bad-truncated.txt": ["line 43", "may be truncated"],
    "bad-empty.yaml": ["the manifest is empty"],
}


def test_every_bad_fixture_has_a_case():
    assert sorted(BAD_FIXTURES) == BAD


@pytest.mark.parametrize(("name", "fragments"), BAD_FIXTURES.items(), ids=BAD_FIXTURES.keys())
def test_bad_fixtures_fail_clearly(name, fragments):
    with pytest.raises(ManifestError) as caught:
        read_etcd_member(fixture(name))
    message = str(caught.value)
    assert message.startswith(fixture(name) + ": ")
    for fragment in fragments:
        assert fragment in message


# --------------------------------------------------------------------------
# etcd_member_config on variations of a kubeadm pod
# --------------------------------------------------------------------------

BASE = load_fixture("kubeadm-1.27-etcd-3.5-first.yaml")


def pod(command=None, mounts=None, volumes=None, **container_changes):
    doc = copy.deepcopy(BASE)
    container = doc["spec"]["containers"][0]
    if command is not None:
        container["command"] = command
    if mounts is not None:
        container["volumeMounts"] = mounts
    if volumes is not None:
        doc["spec"]["volumes"] = volumes
    container.update(container_changes)
    return doc


def with_flag(flag, value):
    command = [
        c for c in BASE["spec"]["containers"][0]["command"] if not c.startswith(f"--{flag}=")
    ]
    return command + ([f"--{flag}={value}"] if value is not None else [])


def host_volume(name, path):
    return {"name": name, "hostPath": {"path": path, "type": "DirectoryOrCreate"}}


def config(doc):
    return etcd_member_config(doc, "/m/etcd.yaml")


def fails(doc, *fragments):
    with pytest.raises(ManifestError) as caught:
        config(doc)
    for fragment in fragments:
        assert fragment in str(caught.value)
    return str(caught.value)


def test_sub_path_and_parent_mounts_resolve_to_the_host():
    doc = pod(
        mounts=[{"name": "data", "mountPath": "/var/lib/etcd", "subPath": "member-a"}],
        volumes=[host_volume("data", "/srv/etcd")],
    )
    assert config(doc)["data_dir"] == "/srv/etcd/member-a"
    doc = pod(
        mounts=[{"name": "var-lib", "mountPath": "/var/lib/"}],
        volumes=[host_volume("var-lib", "/mnt/disk1/lib")],
    )
    member = config(doc)
    assert member["data_dir"] == member["data_dir_host_path"] == "/mnt/disk1/lib/etcd"


def test_deepest_mount_wins():
    doc = pod(
        mounts=[
            {"name": "var", "mountPath": "/var"},
            {"name": "etcd-data", "mountPath": "/var/lib/etcd"},
        ],
        volumes=[host_volume("var", "/var"), host_volume("etcd-data", "/data/etcd")],
    )
    assert config(doc)["data_dir"] == "/data/etcd"


def test_wal_volume_inside_the_data_dir_is_no_disagreement():
    doc = pod(
        mounts=[
            {"name": "etcd", "mountPath": "/var/lib/etcd"},
            {"name": "etcd-data", "mountPath": "/var/lib/etcd/member/wal"},
        ],
        volumes=[host_volume("etcd", "/var/lib/etcd"), host_volume("etcd-data", "/ssd/wal")],
    )
    assert config(doc)["data_dir"] == "/var/lib/etcd"


def test_data_volume_beside_the_data_dir_is_a_disagreement():
    doc = pod(
        mounts=[
            {"name": "var-lib", "mountPath": "/var/lib"},
            {"name": "etcd-data", "mountPath": "/srv/etcd"},
        ],
        volumes=[host_volume("var-lib", "/var/lib"), host_volume("etcd-data", "/data/etcd")],
    )
    fails(
        doc,
        "lies on volume 'var-lib' (host path /var/lib/etcd)",
        "volume 'etcd-data' (host path /data/etcd) is mounted at /srv/etcd",
    )


def test_data_volume_not_mounted_is_a_disagreement():
    doc = pod(mounts=[], volumes=[host_volume("etcd-data", "/var/lib/etcd")])
    fails(doc, "outside every volumeMount", "is not mounted in the etcd container")


def test_same_mount_path_twice_from_different_hosts():
    doc = pod(
        mounts=[
            {"name": "a", "mountPath": "/var/lib/etcd"},
            {"name": "b", "mountPath": "/var/lib/etcd/"},
        ],
        volumes=[host_volume("a", "/data/a"), host_volume("b", "/data/b")],
    )
    fails(doc, "mounted twice", "/data/a (volume 'a')", "/data/b (volume 'b')")


@pytest.mark.parametrize(
    ("mounts", "volumes", "fragments"),
    [
        (
            [{"name": "etcd-data", "mountPath": "/var/lib/etcd"}],
            [{"name": "etcd-data", "emptyDir": {}}],
            ["not a hostPath volume (emptyDir)"],
        ),
        (
            [{"name": "ghost", "mountPath": "/var/lib/etcd"}],
            [],
            ["mounts volume 'ghost', which spec.volumes does not define"],
        ),
        (
            [{"name": "etcd-data", "mountPath": "/var/lib/etcd", "subPathExpr": "$(POD)"}],
            [host_volume("etcd-data", "/data")],
            ["subPathExpr"],
        ),
        ([{"name": "etcd-data"}], [], ["volumeMount without name or mountPath"]),
    ],
)
def test_unusable_data_volumes(mounts, volumes, fragments):
    fails(pod(mounts=mounts, volumes=volumes), *fragments)


def test_relative_data_dir():
    fails(pod(command=with_flag("data-dir", "etcd-data")), "relative path")


@pytest.mark.parametrize("flag", ["name", "data-dir"])
def test_required_flags(flag):
    message = fails(pod(command=with_flag(flag, None)), f"no --{flag} flag")
    assert "kubeadm always sets it" in message
    fails(pod(command=with_flag(flag, "")), f"no --{flag} flag")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://10.0.0.1:2379", "must start with http:// or https://"),
        ("https://10.0.0.1", "has no port"),
        ("https://:2379", "has no host"),
        ("https://10.0.0.1:2379/v2", "must not have a path"),
        ("https://[fd00::1:2379", "not a valid URL"),
        ("https://10.0.0.1:99999", "not a valid URL"),
    ],
)
def test_bad_urls_name_the_flag(url, fragment):
    message = fails(pod(command=with_flag("advertise-client-urls", url)), fragment)
    assert message.startswith("--advertise-client-urls: ")


def test_bad_initial_cluster():
    fails(
        pod(command=with_flag("initial-cluster", "master1")),
        "'master1' is not 'name=peer-url'",
    )
    fails(
        pod(command=with_flag("initial-cluster", "master1=10.0.0.1:2380")),
        "--initial-cluster: '10.0.0.1:2380'",
    )


def test_bad_boolean():
    fails(pod(command=with_flag("client-cert-auth", "maybe")), "--client-cert-auth=maybe")


def test_missing_optional_flags_warn():
    command = ["etcd", "--name=solo", "--data-dir=/var/lib/etcd"]
    member = config(pod(command=command))
    assert member["advertise_client_urls"] == []
    assert member["initial_cluster"] == [] and member["initial_cluster_string"] is None
    assert member["tls"]["cert_file"] is None and member["tls"]["client_cert_auth"] is False
    assert len(member["warnings"]) == 5
    assert (
        "no --listen-peer-urls flag: etcd uses its default http://localhost:2380"
        in (member["warnings"])
    )
    assert any("no --initial-cluster flag" in w for w in member["warnings"])


def test_name_missing_from_initial_cluster_warns():
    member = config(pod(command=with_flag("initial-cluster", "other=https://10.0.0.9:2380")))
    assert member["warnings"] == [
        "--name=master1 is not listed in --initial-cluster=other=https://10.0.0.9:2380"
    ]


def test_container_found_by_command_and_args():
    doc = pod(
        name="main", command=["/usr/local/bin/etcd"], args=["--name=x", "--data-dir=/var/lib/etcd"]
    )
    sidecar = {"name": "backup", "image": "busybox", "command": ["sleep", "infinity"]}
    doc["spec"]["containers"].insert(0, sidecar)
    member = config(doc)
    assert member["name"] == "x"
    assert member["flags"] == {"name": "x", "data-dir": "/var/lib/etcd"}


def test_shell_wrapped_etcd_is_refused():
    doc = pod(command=["/bin/sh", "-c", "exec etcd --name=x"])
    fails(doc, "runs '/bin/sh', not etcd")


def test_positional_arguments_warn():
    command = [*with_flag("snapshot-count", "10000"), "stray"]
    member = config(pod(command=command))
    assert member["warnings"] == [
        "the etcd command has arguments that are not flags (stray); etcd refuses to start with them"
    ]


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ("just a string", "single str value, not a Pod"),
        ({"kind": "Pod"}, "no spec mapping"),
        ({"apiVersion": "v1", "metadata": {}}, "kind is None, not 'Pod'"),
        ({"kind": "Pod", "spec": {"containers": []}}, "spec.containers is missing or empty"),
        ({"kind": "Pod", "spec": {"containers": ["etcd"]}}, "not a mapping"),
        (
            {"kind": "Pod", "spec": {"containers": [{"name": "etcd", "command": "etcd --name=x"}]}},
            "command is not a list",
        ),
        (
            {"kind": "Pod", "spec": {"containers": [{"name": "etcd", "command": ["etcd", None]}]}},
            "None, which is not a string",
        ),
    ],
)
def test_malformed_pods(doc, fragment):
    fails(doc, fragment)


def test_flag_parsing():
    flags, positional = parse_flags(
        [
            "--name",
            "a",
            "-data-dir=/d",
            "--client-cert-auth",
            "--trusted-ca-file",
            "/ca",
            "--unknown-switch",
            "--name=b",
            "--experimental-initial-corrupt-check",
            "pos",
            "--",
            "--after",
        ]
    )
    assert flags == {
        "name": "b",
        "data-dir": "/d",
        "client-cert-auth": "true",
        "trusted-ca-file": "/ca",
        "unknown-switch": "true",
        "experimental-initial-corrupt-check": "true",
    }
    assert positional == ["pos", "--after"]


def test_initial_cluster_parsing():
    assert parse_initial_cluster(
        " a=https://1.1.1.1:2380 , b=http://h:2380,,a=https://2.2.2.2:2380"
    ) == [
        {"name": "a", "peer_urls": ["https://1.1.1.1:2380", "https://2.2.2.2:2380"]},
        {"name": "b", "peer_urls": ["http://h:2380"]},
    ]
    assert parse_initial_cluster("") == []


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("registry.k8s.io/etcd:3.5.16-0", "3.5.16"),
        ("quay.io/coreos/etcd:v3.4.3", "3.4.3"),
        ("k8s.gcr.io/etcd:3.4.13-0", "3.4.13"),
        ("k8s.gcr.io/etcd:3.3.10", "3.3.10"),
        ("gcr.io/etcd-development/etcd:v3.6.0-rc.2", "3.6.0"),
        ("localhost:5000/etcd:3.5.9-0", "3.5.9"),
        ("registry.k8s.io/etcd:3.5.16-0@sha256:" + "a" * 64, "3.5.16"),
        ("registry.k8s.io/etcd@sha256:" + "a" * 64, None),
        ("localhost:5000/etcd", None),
        ("registry.k8s.io/etcd:latest", None),
        ("etcd:3.5", None),
        ("", None),
        (None, None),
    ],
)
def test_image_version(image, version):
    assert image_version(image) == version


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://10.0.0.1:2379", "10.0.0.1"),
        ("https://[fd00::8]:2380", "fd00::8"),
        ("https://[FD00:0:0::8]:2380", "fd00::8"),
        ("https://Master-1.example:2380", "master-1.example"),
        (" http://[::1]:2381 ", "::1"),
    ],
)
def test_url_host(url, host):
    assert url_host(url) == host


def test_url_host_rejects_garbage():
    with pytest.raises(ManifestError, match="has no host"):
        url_host("not a url")
    with pytest.raises(ManifestError, match="not a valid URL"):
        url_host("https://[fd00::8:2380")


def test_parse_url_accepts_ipv6_and_trailing_slash():
    assert parse_url(" https://[fd00::8]:2380/ ") == "https://[fd00::8]:2380/"


# --------------------------------------------------------------------------
# Finding the manifest
# --------------------------------------------------------------------------


@pytest.fixture
def kubernetes_dir(tmp_path):
    source = FIXTURES / "kubeadm-1.27-etcd-3.5-first.yaml"
    for name in ("manifests.bak", "manifests.kubedr-20261126T031500Z", "manifests-old"):
        (tmp_path / name).mkdir()
        shutil.copy(source, tmp_path / name / "etcd.yaml")
    (tmp_path / "manifests2").mkdir()  # not a moved-aside copy: no '.' or '-'
    shutil.copy(source, tmp_path / "manifests2" / "etcd.yaml")
    (tmp_path / "manifests.tar").write_text("a file, not a directory")
    past = time.time() - 86400
    for name in ("manifests.bak", "manifests-old"):
        os.utime(tmp_path / name / "etcd.yaml", (past, past))
        os.utime(tmp_path / name, (past, past))
    future = time.time() + 3600
    os.utime(tmp_path / "manifests.kubedr-20261126T031500Z" / "etcd.yaml", (future, future))
    return tmp_path


def test_find_manifest_in_place(kubernetes_dir):
    (kubernetes_dir / "manifests").mkdir()
    path = kubernetes_dir / "manifests" / "etcd.yaml"
    path.write_text("kind: Pod\n")
    assert find_manifest(str(path)) == (str(path), False)


def test_find_manifest_moved_aside_takes_the_newest(kubernetes_dir):
    path = str(kubernetes_dir / "manifests" / "etcd.yaml")
    newest = str(kubernetes_dir / "manifests.kubedr-20261126T031500Z" / "etcd.yaml")
    assert find_manifest(path) == (newest, True)
    member = read_etcd_member(path)
    assert member["moved_aside"] is True
    assert member["manifest_path"] == newest
    assert member["name"] == "master1"


def test_find_manifest_only_in_matching_siblings(tmp_path):
    (tmp_path / "manifests2").mkdir()
    (tmp_path / "manifests2" / "etcd.yaml").write_text("kind: Pod\n")
    (tmp_path / "manifests.old").mkdir()
    path = str(tmp_path / "manifests" / "etcd.yaml")
    with pytest.raises(ManifestError) as caught:
        find_manifest(path)
    message = str(caught.value)
    assert f"looked at {path}, {tmp_path}/manifests.old/etcd.yaml" in message
    assert "manifests2" not in message
    assert f"no {tmp_path}/manifests.*/etcd.yaml" in message
    assert "Pass manifest_path" in message


def test_find_manifest_without_search(kubernetes_dir):
    path = str(kubernetes_dir / "manifests" / "etcd.yaml")
    with pytest.raises(ManifestError) as caught:
        find_manifest(path, search_moved_aside=False)
    assert str(caught.value).startswith(f"no etcd manifest found: looked at {path}. ")


def test_find_manifest_directory_is_not_a_manifest(tmp_path):
    with pytest.raises(ManifestError, match="exists but is not a regular file"):
        find_manifest(str(tmp_path))


def test_find_manifest_symlink_loop(tmp_path):
    path = tmp_path / "etcd.yaml"
    path.symlink_to(tmp_path / "loop")
    (tmp_path / "loop").symlink_to(path)
    with pytest.raises(ManifestError, match="no etcd manifest found"):
        read_etcd_member(str(path), search_moved_aside=False)


def test_read_etcd_member_unreadable(tmp_path, monkeypatch):
    path = tmp_path / "etcd.yaml"
    shutil.copy(FIXTURES / "ipv6.yaml", path)

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(manifest_utils, "open", denied, raising=False)
    with pytest.raises(ManifestError) as caught:
        read_etcd_member(str(path))
    assert str(caught.value) == f"{path}: cannot read it: Permission denied"


def test_kubernetes_version_from_the_apiserver_manifest_beside_it(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(fixture("kubeadm-1.31-etcd-3.5-joined.yaml"), manifests / "etcd.yaml")
    (manifests / "kube-apiserver.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n"
        "    image: registry.k8s.io/kube-apiserver:v1.31.4\n    name: kube-apiserver\n"
    )
    assert read_etcd_member(str(manifests / "etcd.yaml"))["kubernetes_version"] == "v1.31.4"
    (manifests / "kube-apiserver.yaml").write_text("not: [a pod\n")
    assert read_etcd_member(str(manifests / "etcd.yaml"))["kubernetes_version"] is None


def apiserver_manifest(manifests, *flags):
    (manifests / "kube-apiserver.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n"
        + "".join(f"    - {flag}\n" for flag in flags)
        + "    image: registry.k8s.io/kube-apiserver:v1.31.4\n    name: kube-apiserver\n"
    )


@pytest.mark.parametrize(
    ("fixture_name", "flags", "url"),
    [
        # the advertise address and a secure port of the manifest's own, not 6443
        (
            "kubeadm-1.31-etcd-3.5-joined.yaml",
            ["--advertise-address=10.20.0.99", "--secure-port=8443"],
            "https://10.20.0.99:8443/readyz",
        ),
        # IPv6 in brackets (https://fd00::10:6443/readyz is no URL), canonical form
        (
            "kubeadm-1.31-etcd-3.5-joined.yaml",
            ["--advertise-address=fd00:0:0::10"],
            "https://[fd00::10]:6443/readyz",
        ),
        # no advertise address: etcd's own peer address on this master, in brackets
        ("ipv6.yaml", ["--secure-port=6444"], "https://[fd00:10:20::11]:6444/readyz"),
    ],
)
def test_the_readyz_url_is_the_apiserver_manifest_s(tmp_path, fixture_name, flags, url):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(fixture(fixture_name), manifests / "etcd.yaml")
    apiserver_manifest(manifests, *flags)
    assert read_etcd_member(str(manifests / "etcd.yaml"))["apiserver"]["readyz_url"] == url


def test_url_ports_in_order_once_each_with_the_default_for_none():
    urls = ["https://10.0.0.1:12380", "https://[fd00::1]:12380", "https://m1", "http://[bad"]
    assert manifest_utils.url_ports(urls, 2380) == [12380, 2380]
    assert manifest_utils.url_ports([], 2380) == []


def test_host_port_brackets_ipv6_only():
    assert manifest_utils.host_port("10.0.0.1", 6443) == "10.0.0.1:6443"
    assert manifest_utils.host_port("fd00::10", 6443) == "[fd00::10]:6443"
    assert manifest_utils.host_port("[fd00::10]", 6443) == "[fd00::10]:6443"
    assert manifest_utils.host_port("master-1", 6443) == "master-1:6443"
