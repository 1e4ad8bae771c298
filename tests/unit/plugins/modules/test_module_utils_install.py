"""Unit tests of the module_utils_install module, run through its main()."""

from __future__ import annotations

import hashlib

from ansible.module_utils import basic

from ansible_collections.kubedr.etcd.plugins.module_utils import _code_install
from ansible_collections.kubedr.etcd.plugins.modules import module_utils_install
from tests.unit.plugins.modules.conftest import fail_module, run_module


def module_utils(tmp_path):
    """A dest the module accepts: the collection's module_utils under an install root."""
    return tmp_path.joinpath("ansible_collections", "kubedr", "etcd", "plugins", "module_utils")


def files(texts):
    """The module's ``files`` argument for {name: text}, as the action plugin makes it."""
    return [
        {"name": name, "content": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}
        for name, text in texts.items()
    ]


def test_installs_then_finds_everything_up_to_date(tmp_path):
    dest = module_utils(tmp_path)
    args = {"dest": str(dest), "files": files({"_a.py": "A = 1\n"})}
    result = run_module(module_utils_install.main, args)
    assert result["changed"] is True and result["written"] == ["_a.py"]
    assert (dest / "_a.py").read_text() == "A = 1\n"
    # what comes back names the files; their contents stay on the host
    assert result["invocation"] == {"module_args": {"dest": str(dest), "files": ["_a.py"]}}
    again = run_module(module_utils_install.main, args)
    assert again["changed"] is False and again["written"] == []


def test_check_mode_and_diff(tmp_path):
    dest = module_utils(tmp_path)
    args = {"dest": str(dest), "files": files({"_x.py": "X = 1\n"}), "_ansible_check_mode": True}
    result = run_module(module_utils_install.main, {**args, "_ansible_diff": True})
    assert result["changed"] is True and result["written"] == ["_x.py"]
    assert result["diff"]["after"].splitlines()[1].startswith("_x.py ")
    assert not dest.exists()


def test_without_the_action_plugin_there_is_nothing_to_install(tmp_path):
    failed = fail_module(module_utils_install.main, {"dest": str(tmp_path)})
    assert "through its action plugin" in failed["msg"]


def test_a_bad_file_fails_with_its_name(tmp_path):
    args = {"dest": str(module_utils(tmp_path)), "files": files({"_y.py": "Y\n"})}
    args["files"][0]["content"] = "tampered\n"
    failed = fail_module(module_utils_install.main, args)
    assert "_y.py does not match its sha256" in failed["msg"]
    assert list(tmp_path.iterdir()) == []


def test_the_contents_are_not_logged_on_the_host(tmp_path, monkeypatch):
    logged = []
    # AnsibleModule.log writes to syslog / the journal; "Invoked with ..." goes through it
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda _self, msg, **_kw: logged.append(msg))
    args = {"dest": str(module_utils(tmp_path)), "files": files({"_a.py": "SECRET = 1\n"})}
    run_module(module_utils_install.main, args)
    assert logged == []


def test_a_failure_returns_the_file_names_not_their_contents(tmp_path, monkeypatch):
    dest = module_utils(tmp_path)
    args = {"dest": str(dest), "files": files({"_a.py": "A = 1\n", "_b.py": "B = 1\n"})}
    real = _code_install.atomic_writer

    def failing(path, *rest, **kwargs):
        if path.endswith("_b.py"):
            raise OSError(28, "No space left on device")
        return real(path, *rest, **kwargs)

    monkeypatch.setattr(_code_install, "atomic_writer", failing)
    failed = fail_module(module_utils_install.main, args)
    assert "No space left on device" in failed["msg"]
    assert failed["changed"] is True and failed["written"] == ["_a.py"]
    assert failed["invocation"] == {"module_args": {"dest": str(dest), "files": ["_a.py", "_b.py"]}}
    assert "A = 1" not in repr(failed)
