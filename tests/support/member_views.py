"""Each member's own view (_member_view.own_view) of an EtcdCluster of the tests, taken
once the members that answer follow one of themselves: right after a test stops the
leader, the others still name it for about an election timeout."""

from __future__ import annotations

import time

from ansible_collections.kubedr.etcd.plugins.module_utils._member_view import own_view
from tests.support.etcd_process import NO_TLS


def views_of(cluster, names, timeout=10, settle=15):
    return [
        own_view(n, cluster.etcdctl, cluster.clients[n], NO_TLS, timeout=timeout, settle=settle)
        for n in names
    ]


def settled_views(cluster, names, seconds=30):
    """views_of ``names`` once they agree on a leader among their own members."""
    deadline = time.monotonic() + seconds
    while True:
        views = views_of(cluster, names)
        ids = {view["member_id"] for view in views}
        leaders = {view["leader"] for view in views}
        if len(leaders) == 1 and leaders <= ids:
            return views
        if time.monotonic() > deadline:
            raise AssertionError(f"no leader among {names} after {seconds} s: {views}")
        time.sleep(0.3)
