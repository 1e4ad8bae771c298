"""Unit tests of the etcd_member_facts module, run through its main()."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.kubedr.etcd.plugins.module_utils import (
    _find_tools,
    _member_facts,
    _privileges,
)
from ansible_collections.kubedr.etcd.plugins.modules import etcd_member_facts
from tests.unit.plugins.modules.conftest import fail_module, run_module

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"


@pytest.fixture(autouse=True)
def warnings(monkeypatch):
    """What the module passed to warn(), in order."""
    recorded = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda _self, w: recorded.append(w))
    return recorded


@pytest.fixture(autouse=True)
def as_root(monkeypatch):
    """The module refuses any user but root; these tests run as whoever runs them."""
    monkeypatch.setattr(_member_facts, "not_root_reason", lambda: None)


@pytest.fixture
def no_tools(monkeypatch, tmp_path):
    """No etcdctl / etcdutl on PATH nor in the usual dirs, whatever this machine has."""
    monkeypatch.setattr(_find_tools, "TOOL_DIRS", ())
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))


def run(args):
    return run_module(etcd_member_facts.main, args)


def run_fail(args):
    """The message main() passed to fail_json."""
    return fail_module(etcd_member_facts.main, args)["msg"]


def fake_tool(directory, name, version, rc=0, output=None):
    """A shell script that answers `<name> version` like the real tool, only with ETCDCTL_API=3."""
    path = Path(directory) / name
    minor = ".".join(version.split(".")[:2])
    text = output if output is not None else f"{name} version: {version}\nAPI version: {minor}"
    path.write_text(
        "#!/bin/sh\n"
        '[ "$1" = version ] || { echo "unexpected arguments: $*" >&2; exit 64; }\n'
        '[ "$ETCDCTL_API" = 3 ] || { echo "ETCDCTL_API is not 3" >&2; exit 65; }\n'
        f"printf '%s\\n' '{text}'\n"
        f"exit {rc}\n"
    )
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def master(tmp_path):
    """A master's /etc/kubernetes in tmp_path: the manifest points at its pki dir."""
    pki = tmp_path / "pki" / "etcd"
    pki.mkdir(parents=True)
    for name in ("ca.crt", "ca.key", "healthcheck-client.crt", "healthcheck-client.key"):
        (pki / name).write_text("not a real certificate\n")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    text = (FIXTURES / "kubeadm-1.31-etcd-3.5-joined.yaml").read_text()
    (manifests / "etcd.yaml").write_text(text.replace("/etc/kubernetes/pki/etcd", str(pki)))
    (tmp_path / "bin").mkdir()
    return tmp_path


def test_reads_member_and_tools(master, warnings):
    bin_dir = master / "bin"
    etcdctl = fake_tool(bin_dir, "etcdctl", "3.5.16")
    etcdutl = fake_tool(bin_dir, "etcdutl", "3.5.16")
    manifest = str(master / "manifests" / "etcd.yaml")
    pki = master / "pki" / "etcd"
    result = run({"manifest_path": manifest, "etcdctl_path": etcdctl, "etcdutl_path": etcdutl})

    assert result["changed"] is False
    assert sorted(result["ansible_facts"]) == ["kubedr_etcd_member", "kubedr_etcd_tools"]
    member = result["ansible_facts"]["kubedr_etcd_member"]
    assert member["manifest_path"] == manifest
    assert member["moved_aside"] is False
    assert member["name"] == "cp-2"
    assert member["data_dir"] == "/var/lib/etcd"
    assert member["version"] == "3.5.15"
    assert [m["name"] for m in member["initial_cluster"]] == ["cp-2", "cp-1", "cp-3"]
    assert member["tls"] == {
        "cert_file": f"{pki}/server.crt",
        "key_file": f"{pki}/server.key",
        "trusted_ca_file": f"{pki}/ca.crt",
        "client_cert_auth": True,
        "peer_cert_file": f"{pki}/peer.crt",
        "peer_key_file": f"{pki}/peer.key",
        "peer_trusted_ca_file": f"{pki}/ca.crt",
        "peer_client_cert_auth": True,
        "healthcheck_client_cert_file": f"{pki}/healthcheck-client.crt",
        "healthcheck_client_key_file": f"{pki}/healthcheck-client.key",
        "client_cert_file": f"{pki}/healthcheck-client.crt",
        "client_key_file": f"{pki}/healthcheck-client.key",
    }
    assert member["warnings"] == []
    assert result["ansible_facts"]["kubedr_etcd_tools"] == {
        "etcdctl": {"path": etcdctl, "version": "3.5.16", "error": None},
        "etcdutl": {"path": etcdutl, "version": "3.5.16", "error": None},
    }
    assert warnings == []


def test_check_mode_gives_the_same_facts(master, no_tools):
    manifest = str(master / "manifests" / "etcd.yaml")
    normal = run({"manifest_path": manifest})
    checked = run({"manifest_path": manifest, "_ansible_check_mode": True})
    assert checked["changed"] is False
    assert checked["ansible_facts"] == normal["ansible_facts"]
    assert normal["ansible_facts"]["kubedr_etcd_tools"] == {"etcdctl": None, "etcdutl": None}


def test_healthcheck_client_needs_cert_and_key(master, no_tools):
    (master / "pki" / "etcd" / "healthcheck-client.key").unlink()
    result = run({"manifest_path": str(master / "manifests" / "etcd.yaml")})
    tls = result["ansible_facts"]["kubedr_etcd_member"]["tls"]
    assert tls["healthcheck_client_cert_file"] is None
    assert tls["healthcheck_client_key_file"] is None
    # the client certificate etcdctl uses is then the peer one
    assert tls["client_cert_file"] == tls["peer_cert_file"]
    assert tls["client_key_file"] == tls["peer_key_file"]


def test_tools_are_searched_on_path_then_usual_dirs(master, monkeypatch):
    on_path, usual = master / "on-path", master / "usual"
    on_path.mkdir()
    usual.mkdir()
    found = fake_tool(on_path, "etcdctl", "3.4.23")
    fake_tool(usual, "etcdctl", "3.5.16")
    etcdutl = fake_tool(usual, "etcdutl", "3.5.16")
    monkeypatch.setattr(_find_tools, "TOOL_DIRS", (str(usual),))
    monkeypatch.setenv("PATH", str(on_path))
    result = run({"manifest_path": str(master / "manifests" / "etcd.yaml")})
    assert result["ansible_facts"]["kubedr_etcd_tools"] == {
        "etcdctl": {"path": found, "version": "3.4.23", "error": None},
        "etcdutl": {"path": etcdutl, "version": "3.5.16", "error": None},
    }


def test_failing_tools_are_reported_not_fatal(master, no_tools):
    broken = fake_tool(master / "bin", "etcdctl", "3.5.16", rc=2, output="panic: runtime error")
    (master / "garbage").mkdir()
    garbage = fake_tool(master / "garbage", "etcdutl", "3.5.16", output="etcdutl: hello")
    result = run(
        {
            "manifest_path": str(master / "manifests" / "etcd.yaml"),
            "etcdctl_path": broken,
            "etcdutl_path": garbage,
        }
    )
    tools = result["ansible_facts"]["kubedr_etcd_tools"]
    assert tools["etcdctl"] == {
        "path": broken,
        "version": None,
        "error": f"'{broken} version' exited with 2: panic: runtime error",
    }
    assert tools["etcdutl"]["version"] is None
    assert tools["etcdutl"]["error"].startswith(
        "'etcdutl version' printed no 'etcdutl version: X.Y.Z' line, but: etcdutl: hello"
    )


def test_tool_that_cannot_execute(master, no_tools):
    not_a_program = master / "bin" / "etcdutl"
    not_a_program.write_bytes(b"\x7fELF\x00garbage")
    not_a_program.chmod(0o755)
    result = run(
        {
            "manifest_path": str(master / "manifests" / "etcd.yaml"),
            "etcdutl_path": str(not_a_program),
        }
    )
    tool = result["ansible_facts"]["kubedr_etcd_tools"]["etcdutl"]
    assert tool["version"] is None
    assert tool["error"].startswith(f"cannot run {not_a_program}: ")


@pytest.mark.parametrize("option", ["etcdctl_path", "etcdutl_path"])
def test_missing_tool_override_fails(master, option):
    missing = str(master / "bin" / "nothing-here")
    msg = run_fail({"manifest_path": str(master / "manifests" / "etcd.yaml"), option: missing})
    tool = option.split("_")[0]
    assert msg.startswith(f"{option}={missing}: there is no executable file there.")
    assert f"Point {option} at the {tool} binary" in msg


def test_non_executable_tool_override_fails(master):
    plain = master / "bin" / "etcdctl"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    msg = run_fail(
        {"manifest_path": str(master / "manifests" / "etcd.yaml"), "etcdctl_path": str(plain)}
    )
    assert "no executable file there" in msg


def test_moved_aside_manifest(master, no_tools):
    os.rename(master / "manifests", master / "manifests.kubedr-20261126T031500Z")
    result = run({"manifest_path": str(master / "manifests" / "etcd.yaml")})
    member = result["ansible_facts"]["kubedr_etcd_member"]
    assert member["moved_aside"] is True
    assert member["manifest_path"] == str(
        master / "manifests.kubedr-20261126T031500Z" / "etcd.yaml"
    )
    assert member["name"] == "cp-2"

    msg = run_fail(
        {"manifest_path": str(master / "manifests" / "etcd.yaml"), "search_moved_aside": False}
    )
    assert msg.startswith(f"no etcd manifest found: looked at {master}/manifests/etcd.yaml. ")


def test_warnings_reach_module_warn(tmp_path, no_tools, warnings):
    manifest = tmp_path / "etcd.yaml"
    shutil.copy(FIXTURES / "no-data-volume.yaml", manifest)
    result = run({"manifest_path": str(manifest)})
    member = result["ansible_facts"]["kubedr_etcd_member"]
    assert member["data_dir_host_path"] is None
    assert len(member["warnings"]) == 1
    assert warnings == [f"{manifest}: {member['warnings'][0]}"]


BAD = {
    "bad-binary.bin": "not UTF-8 text",
    "bad-not-yaml.txt": "line 2: unexpected text here",
    "bad-list.yaml": "the manifest is a YAML list, not a Pod",
    "bad-deployment.yaml": "kind is 'Deployment', not 'Pod'",
    "bad-no-etcd-container.yaml": "no etcd container (containers: kube-apiserver)",
    "bad-missing-name.yaml": "the etcd command has no --name flag",
    "bad-data-dir-disagreement.yaml": "the flag and the data volume disagree",
    "bad-truncated.txt": "it may be truncated",
    "bad-empty.yaml": "the manifest is empty",
}


@pytest.mark.parametrize(("name", "fragment"), BAD.items(), ids=BAD.keys())
def test_bad_manifests_fail_with_a_message(tmp_path, no_tools, name, fragment):
    manifest = tmp_path / "manifests" / "etcd.yaml"
    manifest.parent.mkdir()
    shutil.copy(FIXTURES / name, manifest)
    msg = run_fail({"manifest_path": str(manifest)})
    assert msg.startswith(f"{manifest}: ")
    assert fragment in msg


def test_unexpected_os_error_fails_cleanly(master, no_tools, monkeypatch):
    def broken(*_args, **_kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_member_facts, "read_etcd_member", broken)
    manifest = str(master / "manifests" / "etcd.yaml")
    msg = run_fail({"manifest_path": manifest})
    assert msg.startswith(
        f"cannot read the etcd member from {manifest}: [Errno 5] Input/output error."
    )
    assert "run with become" in msg


REAL_TOOLS = {
    "etcdctl of the distribution": ("etcdctl", "/usr/bin/etcdctl", None),
    "etcdctl 3.5 (Debian trixie)": ("etcdctl", "/tmp/trixie/x/usr/bin/etcdctl", "3.5.16"),
    "etcdutl 3.5 (Debian trixie)": ("etcdutl", "/tmp/trixie/x/usr/bin/etcdutl", "3.5.16"),
}


@pytest.mark.parametrize(("tool", "path", "version"), REAL_TOOLS.values(), ids=REAL_TOOLS.keys())
def test_real_tools(master, no_tools, tool, path, version):
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not installed here")
    result = run({"manifest_path": str(master / "manifests" / "etcd.yaml"), f"{tool}_path": path})
    info = result["ansible_facts"]["kubedr_etcd_tools"][tool]
    if version is None:  # whatever the distribution ships: ask it directly
        output = subprocess.run(
            [path, "version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
        version = re.search(rf"^{tool} version: (\S+)$", output, re.M).group(1)
    assert info == {"path": path, "version": version, "error": None}


def test_refuses_to_run_as_another_user_than_root(master, monkeypatch):
    monkeypatch.setattr(
        _member_facts, "not_root_reason", lambda: _privileges.not_root_reason(euid=4242)
    )
    msg = run_fail({"manifest_path": str(master / "manifests" / "etcd.yaml")})
    assert msg.startswith("this runs as uid 4242, not root: ")
    assert "ansible_become: true" in msg and msg.endswith("Nothing was changed.")


def test_not_root_reason_names_the_user():
    assert _privileges.not_root_reason(euid=0) is None
    name = pwd.getpwuid(65534).pw_name  # nobody
    assert _privileges.not_root_reason(euid=65534).startswith(
        f"this runs as user {name} (uid 65534), not root: "
    )
