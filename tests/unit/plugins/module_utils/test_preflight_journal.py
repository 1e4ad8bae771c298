"""The pre-flight reads the restore journal and the manifests' place as one state."""

from __future__ import annotations

from ansible_collections.kubedr.etcd.plugins.module_utils import _preflight
from ansible_collections.kubedr.etcd.plugins.module_utils import _restore_journal as J


def journal(phase):
    return {"format": J.FORMAT, "run_id": "r1", "phase": phase}


def test_quiet_master_reads_once(tmp_path):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "etcd.yaml").write_text("kind: Pod\n")
    J.write(str(tmp_path), journal("done"))
    got, moved = _preflight.journal_and_manifests(str(tmp_path), str(manifests / "etcd.yaml"))
    assert got["phase"] == "done" and moved is False


def test_no_journal_and_manifests_gone(tmp_path):
    got, moved = _preflight.journal_and_manifests(str(tmp_path), str(tmp_path / "etcd.yaml"))
    assert got is None and moved is True


def test_a_run_that_ends_between_the_reads_is_seen_as_ended(tmp_path, monkeypatch):
    """A run elsewhere holds the master (manifests aside, journal 'started'), then puts the
    manifests back and writes 'done' while the pre-flight reads: the pair returned is
    the one after, never 'manifests aside' with 'done'."""
    manifest = tmp_path / "etcd.yaml"
    J.write(str(tmp_path), journal("started"))
    real_read = _preflight.read_journal
    calls = []

    def read_while_the_run_ends(state_dir):
        calls.append(1)
        if len(calls) == 2:  # the other run finishes right after the manifest was looked at
            manifest.write_text("kind: Pod\n")
            J.write(state_dir, journal("done"))
        return real_read(state_dir)

    monkeypatch.setattr(_preflight, "read_journal", read_while_the_run_ends)
    got, moved = _preflight.journal_and_manifests(str(tmp_path), str(manifest))
    assert (got["phase"], moved) == ("done", False)
    assert len(calls) == 3


def test_a_journal_that_never_settles_is_an_error(tmp_path, monkeypatch):
    phases = iter(["a", "b", "c", "d", "e", "f", "g"])
    monkeypatch.setattr(_preflight, "read_journal", lambda _d: journal(next(phases)))
    got, _moved = _preflight.journal_and_manifests(str(tmp_path), str(tmp_path / "x"), attempts=3)
    assert "changed 3 times while it was read" in got["error"]
    assert "a restore run is working on this master now" in got["error"]
