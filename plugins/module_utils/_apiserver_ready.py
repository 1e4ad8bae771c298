# Copyright: kubedr.etcd maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the kubedr.etcd collection: not a public API, may change without notice.
# Python standard library only, Python 3.9+: it runs on the masters.
"""When every kube-apiserver answered ready: watched in a thread while other work goes on.

A restore's downtime ends when every kube-apiserver is ready again. The apiservers come
back on their own once etcd has quorum, while the restore still verifies etcd (at 1 GiB
that takes seconds: every member hashes its whole store). ``ReadyWatch`` asks each
``/readyz`` URL (each in a thread of its own), every ``interval`` seconds, until it has
answered 200 once, and notes the time of each first 200: the downtime's end is seen when
it happens, not after the verification. It only watches - whether the restore succeeded
is decided elsewhere, and an apiserver it cannot reach (a firewall between masters, say)
leaves the end to the readyz wait that follows the verification.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import urllib.parse

from ansible_collections.kubedr.etcd.plugins.module_utils._restore_journal import now_iso


def _parts(url):
    """The parts of an http(s) URL with a host; ValueError naming what is wrong (an IPv6
    address without brackets has no port Python can read)."""
    parts = urllib.parse.urlsplit(str(url))
    parts.port  # noqa: B018 - raises ValueError on a port it cannot read
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url} is not an http(s) URL with a host")
    return parts


def is_ready(url, context, timeout=2.0):
    """Whether ``url`` (http or https) answers 200 now; anything else, or no answer, is not
    ready."""
    try:
        parts = _parts(url)
    except ValueError:
        return False
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        connection.close()


class ReadyWatch:
    """Watch ``urls`` (https://<master>:6443/readyz) with the cluster CA ``ca_file``;
    ``stop()`` ends the watch and returns what was seen. No URL: nothing to watch."""

    def __init__(self, urls, ca_file, interval=0.5, timeout=2.0, probe=is_ready, clock=now_iso):
        self.urls = list(dict.fromkeys(urls or []))
        self.ca_file = ca_file
        self.interval = interval
        self.timeout = timeout
        self.probe = probe
        self.clock = clock
        self.ready = {url: None for url in self.urls}
        self.error = None
        self._done = threading.Event()
        self._threads = []

    def start(self):
        if not self.urls:
            return self
        bad = []
        for url in self.urls:
            try:
                _parts(url)
            except ValueError as exc:
                bad.append(f"{url} ({exc})")
        if bad:
            self.error = (
                f"cannot watch {', '.join(bad)}: an IPv6 address goes in brackets,"
                " https://[fd00::10]:6443/readyz"
            )
            return self
        try:
            context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        except (OSError, ssl.SSLError) as exc:
            self.error = f"cannot read the cluster CA {self.ca_file}: {exc}"
            return self
        # a thread per URL: one that does not answer never delays the others' first 200
        self._threads = [
            threading.Thread(target=self._watch, args=(url, context), daemon=True)
            for url in self.urls
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _watch(self, url, context):
        while not self._done.is_set():
            if self.probe(url, context, self.timeout):
                self.ready[url] = self.clock()
                return
            self._done.wait(self.interval)

    def stop(self):
        """{'ready': {url: first 200 (ISO time) or None}, 'all_ready_at': the last of those
        when every URL answered 200, else None, 'error': why nothing was watched, or None}."""
        self._done.set()
        for thread in self._threads:
            thread.join(self.timeout + 1)
        seen = dict(self.ready)
        whole = bool(seen) and all(seen.values())
        return {
            "ready": seen,
            "all_ready_at": max(seen.values()) if whole else None,
            "error": self.error,
        }
