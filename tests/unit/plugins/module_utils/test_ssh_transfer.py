from __future__ import annotations

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._ssh_transfer import (
    own_control_path,
    uncompressed,
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


class FakeConnection:
    """The options part of a connection plugin."""

    def __init__(self, transport="ssh", ssh_args="-C " + NO_C, control_path=None):
        self.transport = transport
        self.options = {"ssh_args": ssh_args, "control_path": control_path}

    def get_option(self, name):
        return self.options[name]

    def set_option(self, name, value):
        self.options[name] = value


def test_uncompressed_drops_compression_for_the_block_only():
    connection = FakeConnection()
    before = dict(connection.options)
    with uncompressed(connection) as changed:
        assert changed
        assert connection.options == {
            "ssh_args": NO_C,
            "control_path": "%(directory)s/kubedr-%%C",
        }
    assert connection.options == before


def test_uncompressed_puts_the_options_back_after_an_error():
    connection = FakeConnection(control_path="/run/cp/%C")
    with pytest.raises(RuntimeError), uncompressed(connection):
        assert connection.options["control_path"] == "/run/cp/%C-kubedr"
        raise RuntimeError("transfer failed")
    assert connection.options == {"ssh_args": "-C " + NO_C, "control_path": "/run/cp/%C"}


@pytest.mark.parametrize(
    "connection, compress",
    [
        (FakeConnection(), True),  # the user asked for compression
        (FakeConnection(transport="local"), False),
        (FakeConnection(ssh_args=NO_C), False),  # nothing compresses
    ],
)
def test_uncompressed_leaves_the_connection_alone(connection, compress):
    before = dict(connection.options)
    with uncompressed(connection, compress) as changed:
        assert not changed
        assert connection.options == before
    assert connection.options == before
