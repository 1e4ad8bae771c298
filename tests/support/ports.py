"""Free TCP ports on 127.0.0.1 for servers a test starts."""

from __future__ import annotations

import socket


def free_ports(count):
    """Distinct free ports (all held open until all are chosen)."""
    socks = [socket.socket() for _unused in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port():
    """One free port."""
    (port,) = free_ports(1)
    return port
