"""The restore journal on a master (written atomically, locked, recorded) and the
controller's decision (new, resume, done, refuse) from every master's journal."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time

import pytest

from ansible_collections.kubedr.etcd.plugins.module_utils import _restore_journal as J

RUN = "20261126T031500Z-4f9a1c"
OTHER = "20261126T041500Z-000000"
HERE = {"hostname": "ctl", "machine_id": "m", "boot_id": "b", "pid": 10, "pid_start": 5}


def header(run_id=RUN, controller=None):
    return {
        "run_id": run_id,
        "stamp": run_id.split("-")[0],
        "controller": controller or HERE,
        "snapshot": {"name": "/b/s.db", "sha256": "a" * 64},
        "plan": {"token": f"kubedr-restore-{run_id}"},
    }


def test_begin_writes_the_journal_and_a_second_run_is_refused(tmp_path):
    state = str(tmp_path / "state")
    J.ensure_state_dir(state)
    changed, journal = J.begin(state, header())
    assert changed and journal["phase"] == "locked"
    assert oct(os.stat(J.journal_path(state)).st_mode & 0o777) == "0o600"
    assert J.begin(state, header())[0] is False  # the same run: nothing to do
    with pytest.raises(J.JournalError, match=f"held by restore run {RUN} \\(phase locked"):
        J.begin(state, header(OTHER))
    assert J.read(state)["run_id"] == RUN


def test_a_finished_journal_is_kept_when_the_next_run_begins(tmp_path):
    state = str(tmp_path)
    J.begin(state, header())
    J.record(state, RUN, "done", outcome="restored")
    assert not J.is_held(J.read(state))
    J.begin(state, header(OTHER))
    kept = json.loads((tmp_path / "runs" / f"{RUN}.json").read_text())
    assert kept["outcome"] == "restored" and J.read(state)["run_id"] == OTHER


def test_record_keeps_each_phase_once_with_its_time(tmp_path):
    state = str(tmp_path)
    J.begin(state, header())
    assert J.record(state, RUN, "staged")[0] is True
    assert J.record(state, RUN, "staged")[0] is False
    J.record(state, RUN, "stopped", details={"waited": 1.5})
    journal = J.read(state)
    assert [p["phase"] for p in journal["phases"]] == ["locked", "staged", "stopped"]
    assert journal["details"] == {"waited": 1.5}
    with pytest.raises(J.JournalError, match=f"belongs to run {RUN}"):
        J.record(state, OTHER, "swapped")
    with pytest.raises(J.JournalError, match="is not one of"):
        J.record(state, RUN, "exploded")


def test_a_resumed_run_takes_the_journal_over(tmp_path):
    state = str(tmp_path)
    J.begin(state, header())
    new = dict(HERE, pid=99)
    changed, journal = J.begin(state, dict(header(controller=new), takes_over=HERE))
    assert changed and journal["controller"]["pid"] == 99
    assert journal["takeovers"][0]["from"]["pid"] == 10
    assert "takes_over" not in J.read(state)


def test_two_controllers_taking_one_run_over_cannot_both_drive_it(tmp_path):
    """Both read the journal naming the dead controller HERE and decided to resume; the
    first to lock takes the run over, the second is refused (compare-and-set)."""
    state = str(tmp_path)
    J.begin(state, header())
    first, second = dict(HERE, pid=99), dict(HERE, hostname="other", pid=77)
    J.begin(state, dict(header(controller=first), takes_over=HERE))
    with pytest.raises(J.JournalError, match="another controller took the run over"):
        J.begin(state, dict(header(controller=second), takes_over=HERE))
    assert J.read(state)["controller"]["pid"] == 99
    # without the controller it takes over from, no takeover at all
    with pytest.raises(J.JournalError, match="now held by controller"):
        J.begin(state, header(controller=second))


def test_unreadable_or_foreign_journals_are_named(tmp_path):
    (tmp_path / "journal.json").write_text("{half")
    with pytest.raises(J.JournalError, match="cannot read the restore journal"):
        J.read(str(tmp_path))
    (tmp_path / "journal.json").write_text('{"format": "x"}')
    with pytest.raises(J.JournalError, match=r"is not a kubedr\.etcd restore journal"):
        J.read(str(tmp_path))


def test_a_state_dir_others_can_write_is_refused(tmp_path):
    state = tmp_path / "open"
    state.mkdir(mode=0o777)
    os.chmod(state, 0o777)
    with pytest.raises(J.JournalError, match="can be written by other users"):
        J.ensure_state_dir(str(state))


def test_the_step_lock_waits_for_a_step_a_killed_run_left_running(tmp_path):
    """A real second process holds .flock (as a module still running on a master after
    its controller was killed): the next step waits for it, or gives up with a message."""
    state = str(tmp_path)
    J.ensure_state_dir(state)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            " fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True);"
            " time.sleep(float(sys.argv[2]))",
            os.path.join(state, J.FLOCK),
            "1.5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(J.JournalError, match="another restore step still runs"):
            with J.step_lock(state, timeout=0.3):
                pass
        started = time.monotonic()
        with J.step_lock(state, timeout=10):
            waited = time.monotonic() - started
        assert 0.5 < waited < 5
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------
# decide
# --------------------------------------------------------------------------


def journal(phase="stopped", run_id=RUN, controller=None, sha="a" * 64):
    return {
        "format": J.FORMAT,
        "run_id": run_id,
        "controller": controller or HERE,
        "snapshot": {"name": "/b/s.db", "sha256": sha},
        "phase": phase,
        "phases": [{"phase": "locked", "time": "2026-11-26T03:15:00.000Z"}],
        "updated": "2026-11-26T03:16:00.000Z",
    }


def test_decide_new_when_nothing_is_held():
    decision = J.decide({"a": None, "b": journal("rolled-back")}, HERE, alive=lambda h: True)
    assert decision["mode"] == "new"


def test_decide_refuses_while_the_holder_lives_and_says_who_what_and_since_when():
    now = J.parse_iso("2026-11-26T03:18:30.000Z")
    decision = J.decide(
        {"a": journal("staged"), "b": journal("stopped")}, HERE, alive=lambda h: True, now=now
    )
    assert decision["mode"] == "refuse"
    assert decision["msg"].startswith(
        f"restore run {RUN} (controller ?@ctl pid 10, started 3 min 30 s ago; a staged,"
        " b stopped) is still running"
    )


def test_decide_resumes_a_dead_run_of_this_controller_without_extra_input():
    decision = J.decide({"a": journal(), "b": None}, HERE, alive=lambda h: False)
    assert decision["mode"] == "resume" and decision["journal"]["run_id"] == RUN


def test_decide_needs_the_run_id_to_take_over_from_elsewhere():
    held = {"a": journal()}
    refused = J.decide(held, HERE, alive=lambda h: None)
    assert refused["mode"] == "refuse"
    assert f"-e etcd_restore_takeover={RUN}" in refused["msg"]
    assert J.decide(held, HERE, alive=lambda h: None, takeover=OTHER)["mode"] == "refuse"
    assert J.decide(held, HERE, alive=lambda h: None, takeover=RUN)["mode"] == "resume"


def test_decide_refuses_another_snapshot_while_a_run_is_held():
    decision = J.decide({"a": journal()}, HERE, snapshot_sha256="b" * 64, alive=lambda h: False)
    assert decision["mode"] == "refuse" and "-e etcd_restore_snapshot=/b/s.db" in decision["msg"]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("/b/s.db", "-e etcd_restore_snapshot=/b/s.db"),
        (
            "backup1:/var/backups/kubedr-etcd/kubernetes/s.db",
            "-e etcd_restore_backup_host=backup1 -e etcd_restore_snapshot=s.db",
        ),
        ("./odd:/name.db", "-e etcd_restore_snapshot=./odd:/name.db"),
    ],
)
def test_a_snapshot_is_named_again_as_it_was_given(name, args):
    assert J.snapshot_args(name) == args


def test_decide_refuses_masters_held_by_two_runs():
    decision = J.decide({"a": journal(), "b": journal(run_id=OTHER)}, HERE, alive=lambda h: False)
    assert decision["mode"] == "refuse" and "different restore runs" in decision["msg"]


def test_decide_done_when_every_master_finished_this_snapshot():
    done = {"a": journal("done"), "b": journal("done")}
    assert J.decide(done, HERE, snapshot_sha256="a" * 64)["mode"] == "done"
    assert J.decide(done, HERE, snapshot_sha256="b" * 64)["mode"] == "new"
    assert J.decide({**done, "c": None}, HERE, snapshot_sha256="a" * 64)["mode"] == "new"


def test_holder_alive_checks_pid_and_start_time_on_the_same_machine_only():
    here = J.controller_identity(os.getpid())
    assert J.holder_alive(here, here) is True
    assert J.holder_alive(dict(here, pid_start=here["pid_start"] + 1), here) is False
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert J.holder_alive(dict(here, pid=gone.pid), here) is False
    assert J.holder_alive(dict(here, boot_id="other boot"), here) is None


def test_failure_action_and_old_cluster():
    masters = [
        {"host": h, "preflight": {"etcd_running": r, "member_id": i, "cluster_id": "c1"}}
        for h, r, i in (("a", True, "1"), ("b", True, "2"), ("c", False, None))
    ]
    old = J.old_cluster(masters)
    assert old == {
        "had_quorum": True,
        "running": ["a", "b"],
        "member_ids": {"a": "1", "b": "2"},
        "cluster_id": "c1",
    }
    assert J.failure_action("auto", old) == "rollback"
    assert J.failure_action("auto", dict(old, had_quorum=False)) == "keep"
    assert J.failure_action("keep", old) == "keep"
    with pytest.raises(J.JournalError, match="etcd_restore_on_failure='never'"):
        J.failure_action("never", old)


def test_a_rolled_back_run_does_not_move_forward_again(tmp_path):
    """A step a killed run left running records after a rollback: refused, not revived."""
    state = str(tmp_path)
    J.begin(state, header())
    J.record(state, RUN, "rolling-back")
    J.record(state, RUN, "rolled-back", outcome="rolled-back")
    with pytest.raises(J.JournalError, match="is rolled-back on this master"):
        J.record(state, RUN, "staged")
    assert J.read(state)["phase"] == "rolled-back"


def test_takeover_picks_one_of_two_runs_holding_the_masters():
    held = {"a": journal(), "b": journal(run_id=OTHER)}
    assert J.decide(held, HERE, alive=lambda h: None)["mode"] == "refuse"
    picked = J.decide(held, HERE, alive=lambda h: None, takeover=OTHER)
    assert picked["mode"] == "resume" and picked["journal"]["run_id"] == OTHER


def test_another_pid_namespace_or_no_start_time_cannot_be_proven_dead():
    here = J.controller_identity(os.getpid())
    assert here["pid_ns"].startswith("pid:[")
    assert J.holder_alive(dict(here, pid_ns="pid:[1]"), here) is None  # another container
    assert J.holder_alive(dict(here, pid_start=None), here) is None


def test_the_controller_user_is_named_without_USER(monkeypatch):
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("LOGNAME", raising=False)
    assert J.user_name() == pwd.getpwuid(os.geteuid()).pw_name

    def no_such_user(uid):
        raise KeyError(uid)

    monkeypatch.setattr(J.pwd, "getpwuid", no_such_user)
    assert J.user_name() == f"uid {os.geteuid()}"
    monkeypatch.setenv("LOGNAME", "ops")
    assert J.controller_identity(os.getpid())["user"] == "ops"


def test_a_rollback_is_refused_while_a_master_finished_the_run():
    """{m1: done, m2: verified, m3: verified}: m1 serves the restored member. Rolling back
    m2 and m3 alone would leave two etcd clusters: refused, and a resume says it."""
    journals = {"m1": journal("done"), "m2": journal("verified"), "m3": journal("verified")}
    refused = J.decide(journals, HERE, alive=lambda h: False, purpose="rollback")
    assert refused["mode"] == "refuse"
    assert "is done on m1" in refused["msg"] and "two etcd clusters" in refused["msg"]
    assert "playbooks/restore-ha.yml -e etcd_restore_confirm=true" in refused["msg"]
    resumed = J.decide(journals, HERE, alive=lambda h: False)
    assert resumed["mode"] == "resume" and resumed["finished"] == ["m1"]
    # a done journal of another run does not count
    other = dict(journals, m1=journal("done", run_id=OTHER))
    assert J.decide(other, HERE, alive=lambda h: False, purpose="rollback")["mode"] == "resume"


def test_a_journal_is_its_masters_own(tmp_path):
    """Two masters sharing one state dir: the second to lock finds the first's journal
    of the same run and is refused, the journal left as the first wrote it."""
    state = str(tmp_path)
    first = dict(header(), member={"host": "cp-a", "name": "cp-a"})
    second = dict(header(), member={"host": "cp-b", "name": "cp-b"})
    J.begin(state, first)
    with pytest.raises(J.JournalError, match=r"journal of master cp-a \(member cp-a\)"):
        J.begin(state, second)
    assert J.read(state)["member"]["host"] == "cp-a"
    assert J.read(state)["machine_id"] == J.machine_id()
    assert J.begin(state, first)[0] is False


def test_shared_state_dirs_are_refused_before_any_decision():
    held = dict(journal("locked"), member={"host": "cp-a", "name": "cp-a"}, machine_id="m-a")
    ok = {
        "cp-a": {"machine_id": "m-a", "member_name": "cp-a", "journal": held},
        "cp-b": {"machine_id": "m-b", "member_name": "cp-b", "journal": None},
    }
    assert J.shared_state_problems(ok) == []
    one_machine = dict(ok, **{"cp-b": dict(ok["cp-b"], machine_id="m-a")})
    [problem] = J.shared_state_problems(one_machine)
    assert problem.startswith("cp-a, cp-b: report one machine id (m-a)")
    shared = dict(
        ok, **{"cp-b": dict(ok["cp-b"], journal=held, state_dir="/var/lib/kubedr-etcd/restore")}
    )
    [problem] = J.shared_state_problems(shared)
    assert problem.startswith(
        "cp-b: its restore journal (/var/lib/kubedr-etcd/restore/journal.json, run"
        f" {RUN}) is another master's (master cp-a; member cp-a, not cp-b; machine id m-a,"
        " not m-b)"
    )
    # a finished journal of an earlier run is history, not a holder: no refusal
    done = dict(held, phase="done")
    assert J.shared_state_problems(dict(ok, **{"cp-b": dict(ok["cp-b"], journal=done)})) == []


def test_one_directory_seen_by_two_hosts_of_one_kernel_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    same = J.dir_identity(str(tmp_path / "a" / "restore"))  # not made yet: its parent
    assert same["rest"] == "restore"
    assert J.dir_identity(str(tmp_path / "a" / "restore")) == same
    other = J.dir_identity(str(tmp_path / "b" / "restore"))
    facts = {
        "cp-a": {"state_dir": "/var/lib/kubedr-etcd/restore", "state_dir_identity": same},
        "cp-b": {"state_dir": "/var/lib/kubedr-etcd/restore", "state_dir_identity": other},
    }
    assert J.shared_state_problems(facts) == []
    facts["cp-b"]["state_dir_identity"] = same
    [problem] = J.shared_state_problems(facts)
    assert problem.startswith(
        "cp-a, cp-b: /var/lib/kubedr-etcd/restore is one directory seen by all of them"
    )
