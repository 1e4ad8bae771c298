from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._ssh_transfer import (
    own_control_path,
    uncompressed_ssh_args,
)

NO_C = "-o ControlMaster=auto -o ControlPersist=60s"


@pytest.mark.parametrize(
    ("given", "wanted", "changed"),
    [
        # Ansible's default ssh_args
        (
            "-C " + NO_C,
            NO_C,
            True,
        ),
        ("-o Compression=yes -o ServerAliveInterval=5", "-o ServerAliveInterval=5", True),
        ("-oCompression=yes -4", "-4", True),
        ("-o 'Compression yes' -A", "-A", True),
        ("-4C -o ControlMaster=auto", "-4 -o ControlMaster=auto", True),
        (NO_C, NO_C, False),
        # a value that merely contains C stays
        ("-o ProxyCommand='nc -C %h %p'", "-o ProxyCommand='nc -C %h %p'", False),
        ("-c aes128-ctr", "-c aes128-ctr", False),
        ("", "", False),
        (None, None, False),
    ],
)
def test_uncompressed_ssh_args(given, wanted, changed):
    assert uncompressed_ssh_args(given) == (wanted, changed)


def test_uncompressed_ssh_args_keeps_a_proxy_command_whole():
    args, changed = uncompressed_ssh_args(
        '-C -o ProxyCommand="ip netns exec hub nc %h %p" -o ControlPersist=60s'
    )
    assert changed
    assert args == "-o 'ProxyCommand=ip netns exec hub nc %h %p' -o ControlPersist=60s"


def test_own_control_path_is_apart_from_the_usual_one():
    assert own_control_path(None) == "%(directory)s/kubedr-%%C"
    assert own_control_path("") == "%(directory)s/kubedr-%%C"
    assert own_control_path("%(directory)s/%%h-%%r") == "%(directory)s/%%h-%%r-kubedr"
