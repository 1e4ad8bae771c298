"""Unit tests of _apiserver_ready: the watch with a probe and a clock of the test's own,
and is_ready against a real local HTTP server."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils._apiserver_ready import (
    ReadyWatch,
    is_ready,
)

A, B = "https://10.0.0.1:6443/readyz", "https://10.0.0.2:6443/readyz"


class Script:
    """A probe that answers from a script: URL -> list of answers, the last one repeated;
    and a clock that counts the probes."""

    def __init__(self, answers):
        self.answers = {url: list(seq) for url, seq in answers.items()}
        self.calls = 0

    def probe(self, url, _context, _timeout):
        self.calls += 1
        seq = self.answers[url]
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def clock(self):
        return f"2026-11-30T00:00:{self.calls:02d}.000Z"


def watch(script, urls):
    return ReadyWatch(urls, None, interval=0.01, probe=script.probe, clock=script.clock)


def test_every_url_ready_gives_the_last_first_200():
    script = Script({A: [False, True], B: [False, False, True]})
    w = watch(script, [A, B]).start()
    for thread in w._threads:
        thread.join(5)
    seen = w.stop()
    assert seen["ready"][A] < seen["ready"][B]
    assert seen["all_ready_at"] == seen["ready"][B]
    assert seen["error"] is None


def test_a_url_never_ready_gives_no_end():
    script = Script({A: [True], B: [False]})
    w = watch(script, [A, B]).start()
    while script.calls < 6:
        time.sleep(0.001)
    seen = w.stop()
    assert seen["ready"][A] is not None
    assert seen["ready"][B] is None
    assert seen["all_ready_at"] is None


def test_a_ready_url_is_not_asked_again():
    script = Script({A: [True], B: [False, False, False, True]})
    w = watch(script, [A, B]).start()
    for thread in w._threads:
        thread.join(5)
    w.stop()
    assert script.calls == 5  # A once, B four times


def test_no_url_watches_nothing():
    seen = ReadyWatch([], "/nonexistent").start().stop()
    assert seen == {"ready": {}, "all_ready_at": None, "error": None}


def test_an_unreadable_ca_is_said_and_nothing_is_watched(tmp_path):
    seen = ReadyWatch([A], str(tmp_path / "ca.crt")).start().stop()
    assert seen["error"].startswith(f"cannot read the cluster CA {tmp_path / 'ca.crt'}: ")
    assert seen["all_ready_at"] is None


@pytest.fixture
def server():
    """A local HTTP server: /readyz answers 200, /notready 500."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/readyz" else 500)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_is_ready_only_on_200(server):
    assert is_ready(f"{server}/readyz", None) is True
    assert is_ready(f"{server}/notready", None) is False


def test_no_answer_is_not_ready():
    assert is_ready("http://127.0.0.1:9/readyz", None, timeout=0.5) is False


def test_an_ipv6_url_without_brackets_is_an_error_not_a_dead_thread():
    url = "https://fd00::10:6443/readyz"
    assert is_ready(url, None, 0.1) is False
    seen = ReadyWatch([url, A], None, probe=lambda *_a: True).start().stop()
    assert seen["all_ready_at"] is None
    assert url in seen["error"] and "https://[fd00::10]:6443/readyz" in seen["error"]
