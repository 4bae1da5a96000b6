"""ferryd killed in the middle of an operation (issue 12): SIGKILL at named points of each
operation (FERRY_TEST_CRASH_AT, docs/durability.md) and at delays spread over a stateful
stop, then ferryd started again. Each time the instance is in one consistent state, the
state before or after the operation, its memory intact where it was saved (the zdtm-style
workload, workload/cr-state.c), nothing is left on disk that no instance owns, and the same
command succeeds when retried."""

import hashlib
import os
import signal
import subprocess
import time

import pytest

from checkpoint_helpers import (CR_TIMEOUT, Workload, build_workload, launch, rootfs, snapshots_of,
                                state_dir, status_of, tmpdir)
from conftest import FERRY, _sanitizer_env, cmdline, descendants, wait_until
from imagetar import base_image


@pytest.fixture(scope="module")
def workload_bin():
    d = tmpdir()
    yield build_workload(d)
    os.system(f"rm -rf '{d}'")


def restart(d, crash_at=None):
    """ferryd stopped (its containers run on) and started again, armed or not."""
    if d.alive():
        d.kill(signal.SIGTERM)
    d.env = {"FERRY_TEST_CRASH_AT": crash_at} if crash_at else {}
    d.start()


def crash_during(d, point, *cmd):
    """Runs `ferry CMD` with ferryd armed to SIGKILL itself at POINT, then starts a clean
    ferryd on the same root; returns the client's result."""
    restart(d, point)
    cp = d.ferry(*cmd, check=False, timeout=CR_TIMEOUT)
    wait_until(lambda: not d.alive(), f"ferryd to die at {point}")
    assert d.proc.returncode == -signal.SIGKILL, f"ferryd exited {d.proc.returncode}, not at {point}: {cp.stderr}"
    assert cp.returncode != 0, f"`ferry {' '.join(cmd)}` succeeded although ferryd died at {point}"
    d.stopped_by_test = True
    restart(d)
    return cp


def leftovers(d):
    """Paths under the root that no instance owns (asides, temporaries)."""
    found = []
    for top in ("containers", "snapshots", "logs"):
        base = os.path.join(d.root, top)
        for e in os.listdir(base) if os.path.isdir(base) else []:
            if ".deleting" in e or ".discarded-" in e:
                found.append(os.path.join(top, e))
    for name in d.instance_names():
        inst_dir = os.path.join(d.root, "containers", name)
        for e in os.listdir(inst_dir):
            if e not in ("rootfs", "state", "metadata.yaml", "templates"):
                found.append(os.path.join("containers", name, e))
    return found


def assert_no_leftovers(d):
    """(Spent state is removed in the background: given a moment.)"""
    try:
        wait_until(lambda: leftovers(d) == [], "no leftovers")
    except AssertionError:
        raise AssertionError(f"left behind: {leftovers(d)}")


def api_stateful(d, name):
    return d.api_ok("GET", f"/1.0/instances/{name}")["stateful"]


@pytest.mark.parametrize("point", ["stop-after-dump", "stop-after-rename"])
def test_stateful_stop_completes_after_a_crash(own_daemon, workload_bin, point):
    """The dump completed: the next ferryd completes the stop (stopped, with its state) and
    `start` resumes the processes, memory intact. Never a cold boot."""
    d = own_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin).start()
    w.assert_pass(what="start")
    crash_during(d, point, "stop", "c", "--stateful")
    assert status_of(d, "c")[0] == "Stopped" and api_stateful(d, "c") is True
    assert not os.path.exists(state_dir(d, "c") + ".tmp")
    assert_no_leftovers(d)
    d.ferry("start", "c", timeout=CR_TIMEOUT)
    w.assert_pass(what=f"a crash at {point} and a start")
    # The same command again.
    d.ferry("stop", "c", "--stateful", timeout=CR_TIMEOUT)
    d.ferry("start", "c", timeout=CR_TIMEOUT)
    w.assert_pass(what="a stateful stop and start after the crash")


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_stateful_stop_killed_at_any_instant(own_daemon, workload_bin, delay):
    """kill -9 of ferryd at a delay into a stateful stop: the instance ends either stopped
    with its complete state, or running on as it was, its memory intact either way."""
    d = own_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin).start()
    w.assert_pass(what="start")
    pids = list(w.pids)
    client = subprocess.Popen([FERRY, "stop", "c", "--stateful"], env=dict(_sanitizer_env(), FERRY_DIR=d.root),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    d.kill(signal.SIGKILL)
    client.wait(timeout=CR_TIMEOUT)
    restart(d)
    status = status_of(d, "c")[0]
    if status == "Stopped":
        assert api_stateful(d, "c") is True, "stopped without its state: the processes were lost"
        d.ferry("start", "c", timeout=CR_TIMEOUT)
    else:
        assert status == "Running", status
    assert_no_leftovers(d)
    w.assert_pass(what=f"a kill of ferryd {delay} s into a stateful stop ({status} after it)")
    with open(w.path("ready")) as f:
        assert [int(x) for x in f.read().split()] == pids, "cold-booted: the workload is another one"


def test_start_from_state_spent_after_a_crash(own_daemon, workload_bin):
    """Restored, then ferryd died: the state is spent (a later start must not bring the old
    processes back), the instance runs on."""
    d = own_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin).start()
    w.assert_pass(what="start")
    d.ferry("stop", "c", "--stateful", timeout=CR_TIMEOUT)
    crash_during(d, "start-after-restore", "start", "c")
    assert status_of(d, "c")[0] == "Running" and api_stateful(d, "c") is False
    assert not os.path.exists(state_dir(d, "c"))
    w.assert_pass(what="a restore and a crash")
    d.ferry("stop", "c", "--force", timeout=CR_TIMEOUT)
    d.ferry("start", "c", timeout=CR_TIMEOUT)
    wait_until(lambda: not os.path.exists(w.path("ready")) or status_of(d, "c")[0] == "Running", "the start")
    out = d.ferry("exec", "c", "--", "sh", "-c", "ps | grep -c [c]r-state || true").stdout.strip()
    assert out == "0", "a cold start brought back processes of a spent state"


def test_stateful_snapshot_crash(own_daemon, workload_bin):
    d = own_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin).start()
    crash_during(d, "snapshot-after-dump", "snapshot", "c", "s1", "--stateful")
    assert status_of(d, "c")[0] == "Running"
    assert "s1" not in snapshots_of(d, "c")
    assert not os.path.exists(os.path.join(d.root, "snapshots", "c", "s1"))
    w.assert_pass(what="a crash during a stateful snapshot")
    d.ferry("snapshot", "c", "s1", "--stateful", timeout=CR_TIMEOUT)
    d.ferry("restore", "c", "s1", timeout=CR_TIMEOUT)
    w.assert_pass(what="the retried snapshot's restore")


def test_restore_crash_after_the_stop(own_daemon, workload_bin):
    """The old processes were stopped, the snapshot's not yet restored: the instance is
    stopped and says why, never cold-booted as "running before the host went down", and
    the retried restore brings the snapshot's processes back."""
    d = own_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin).start()
    w.assert_pass(what="start")
    d.ferry("snapshot", "c", "s", "--stateful", timeout=CR_TIMEOUT)
    snap_round = w.next_round
    w.assert_pass(what="the snapshot")
    crash_during(d, "restore-after-stop", "restore", "c", "s")
    assert status_of(d, "c")[0] == "Stopped"
    assert "did not complete" in d.log_tail(20)
    assert_no_leftovers(d)
    d.ferry("restore", "c", "s", timeout=CR_TIMEOUT)
    w.next_round = snap_round
    w.assert_pass(what="the restore retried after a crash")


def test_rename_crash(own_daemon):
    d = own_daemon
    launch(d, "a", client="ferry")
    d.ferry("snapshot", "a", "s0")
    d.ferry("stop", "a", "--force")
    crash_during(d, "rename-after-move", "rename", "a", "b")
    assert d.instance_names() == ["a"]
    for top in ("containers", "snapshots", "logs"):
        assert os.path.isdir(os.path.join(d.root, top, "a")), f"{top}/a is gone"
        assert not os.path.exists(os.path.join(d.root, top, "b")), f"{top}/b is there"
    d.ferry("start", "a", timeout=CR_TIMEOUT)
    d.ferry("stop", "a", "--force")
    d.ferry("rename", "a", "b")
    assert d.instance_names() == ["b"] and list(snapshots_of(d, "b")) == ["s0"]
    d.ferry("start", "b", timeout=CR_TIMEOUT)


def test_delete_crash(own_daemon):
    d = own_daemon
    launch(d, "c", client="ferry")
    d.ferry("snapshot", "c", "s0")
    d.ferry("stop", "c", "--force")
    crash_during(d, "delete-after-aside", "delete", "c")
    assert d.instance_names() == ["c"] and list(snapshots_of(d, "c")) == ["s0"]
    assert os.path.isdir(rootfs(d, "c"))
    assert_no_leftovers(d)
    d.ferry("start", "c", timeout=CR_TIMEOUT)
    d.ferry("delete", "-f", "c", timeout=CR_TIMEOUT)
    assert d.instance_names() == []
    wait_until(lambda: os.listdir(os.path.join(d.root, "containers")) == [], "the deleted files to go")
    assert not os.path.exists(os.path.join(d.root, "snapshots", "c"))


def test_launch_crash(own_daemon):
    """The rootfs was unpacked, the database never recorded it: it goes, and the retry works."""
    d = own_daemon
    crash_during(d, "create-after-unpack", "launch", "busybox", "l")
    assert d.instance_names() == []
    assert not os.path.exists(os.path.join(d.root, "containers", "l"))
    d.ferry("launch", "busybox", "l", timeout=CR_TIMEOUT)
    assert status_of(d, "l")[0] == "Running"


def test_image_import_crash(own_daemon, tmp_path):
    """The image file was stored, the database never recorded it: it goes (with the
    upload), and the retried import works instead of finding the file "already there"."""
    d = own_daemon
    tarball = tmp_path / "img.tar.gz"
    tarball.write_bytes(base_image(tag="crash").bytes())
    images = os.path.join(d.root, "images")
    before = set(os.listdir(images))
    # A temporary of an unpack that never finished, as a killed launch leaves it.
    os.mkdir(os.path.join(images, "0" * 64 + ".rootfs.tmp-AbCdEf"))
    crash_during(d, "import-after-store", "image", "import", str(tarball), "--alias", "crashimg")
    assert set(os.listdir(images)) == before, set(os.listdir(images)) ^ before
    d.ferry("image", "import", str(tarball), "--alias", "crashimg", timeout=CR_TIMEOUT)
    d.ferry("launch", "crashimg", "ci", timeout=CR_TIMEOUT)
    assert status_of(d, "ci")[0] == "Running"


def kill_mid_dump(d, comm, match=lambda args: True):
    """SIGKILL of ferryd's descendant COMM (mid-dump or mid-restore) once it has run a
    moment; its PID."""
    for _ in range(2000):
        procs = [p for p, c in descendants(d.pid) if c == comm and match(cmdline(p))]
        if procs:
            time.sleep(0.1)
            if os.path.exists(f"/proc/{procs[0]}"):
                os.kill(procs[0], signal.SIGKILL)
                return procs[0]
        time.sleep(0.005)
    raise AssertionError(f"no {comm} below ferryd to kill")


@pytest.mark.parametrize("victim", ["criu", "ferry-monitor"])
def test_dump_killed_leaves_the_container_running(own_daemon, workload_bin, victim):
    """CRIU, or the ferry-monitor that runs it, killed in the middle of a stateful stop's
    dump: the stop fails and says so, the container runs on thawed, its memory intact, and
    the stop retried works."""
    d = own_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin, mib=256).start()
    w.assert_pass(what="start")
    client = subprocess.Popen([FERRY, "stop", "c", "--stateful"], env=dict(_sanitizer_env(), FERRY_DIR=d.root),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_mid_dump(d, victim, (lambda args: "checkpoint" in args) if victim == "ferry-monitor" else (lambda a: True))
    _, err = client.communicate(timeout=CR_TIMEOUT)
    assert client.returncode != 0 and "keeps running" in err, err
    assert status_of(d, "c")[0] == "Running"
    assert not os.path.exists(state_dir(d, "c") + ".tmp")
    w.assert_pass(what=f"{victim} killed mid-dump")
    d.ferry("stop", "c", "--stateful", timeout=CR_TIMEOUT)
    d.ferry("start", "c", timeout=CR_TIMEOUT)
    w.assert_pass(what="the retried stateful stop")


def test_monitor_dies_after_the_dump(own_daemon, workload_bin):
    """The `ferry-monitor checkpoint` of a stateful stop dies after CRIU finished the dump
    and killed the processes, before it marked the dump complete: ferryd sees CRIU's end
    (its statistics, written last) and completes the stop instead of dropping the only copy
    of the processes."""
    d = own_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin).start()
    w.assert_pass(what="start")
    restart(d, "checkpoint-before-mark")  # ferryd passes its environment to its monitors
    cp = d.ferry("stop", "c", "--stateful", check=False, timeout=CR_TIMEOUT)
    assert d.alive(), "ferryd died: the point is the monitor's"
    assert cp.returncode == 0, cp.stderr
    assert status_of(d, "c")[0] == "Stopped" and api_stateful(d, "c") is True
    assert "CRIU completed the dump" in d.log_tail(20)
    restart(d)
    d.ferry("start", "c", timeout=CR_TIMEOUT)
    w.assert_pass(what="a stateful stop whose monitor died after the dump, and a start")


@pytest.mark.parametrize("attempt", range(3))
def test_restore_with_criu_killed_fails_cleanly(own_daemon, workload_bin, attempt):
    """CRIU killed in the middle of a start from saved state: the start fails and keeps the
    state (it never hangs: the restorer kills what a dead CRIU left holding libcriu's
    socket), and the retried start restores the processes, memory intact."""
    d = own_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin, mib=256).start()
    w.assert_pass(what="start")
    d.ferry("stop", "c", "--stateful", timeout=CR_TIMEOUT)
    client = subprocess.Popen([FERRY, "start", "c"], env=dict(_sanitizer_env(), FERRY_DIR=d.root),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kill_mid_dump(d, "criu")
    _, err = client.communicate(timeout=CR_TIMEOUT)
    if client.returncode != 0:
        assert "saved state kept" in err, err
        assert status_of(d, "c")[0] == "Stopped" and api_stateful(d, "c") is True
        # No veth of the failed restore is left on the host.
        host = d.api_ok("GET", "/1.0/instances/c")["config"].get("volatile.eth0.host_name")
        for link in (host, f"{host}p"[:15] if host else None):
            assert link is None or not os.path.exists(f"/sys/class/net/{link}"), f"{link} left on the host"
        d.ferry("start", "c", timeout=CR_TIMEOUT)
    w.assert_pass(what="CRIU killed mid-restore and a retried start")


# --- ferryd killed at delays spread over each operation --------------------------------
#
# Each operation's duration is measured first (run once, then undone); ferryd is then
# killed at fractions of it. Whatever the instant, the next ferryd must show the state
# before or after, nothing on disk that no instance owns, the workload's memory intact
# where it was saved, and the command (or its natural next step) must work.

def assert_consistent(d):
    """Every instance has its rootfs, every listed snapshot its directory; nothing else."""
    names = d.instance_names()
    for name in names:
        assert os.path.isdir(rootfs(d, name)), f"{name} has no rootfs"
        for snap in snapshots_of(d, name):
            assert os.path.isdir(os.path.join(d.root, "snapshots", name, snap)), f"{name}/{snap} has no files"
    for top in ("containers", "snapshots", "logs"):
        base = os.path.join(d.root, top)
        for e in os.listdir(base) if os.path.isdir(base) else []:
            assert e in names or not os.path.isdir(os.path.join(base, e)), f"{top}/{e} belongs to no instance"
    assert_no_leftovers(d)


def ferry_bg(d, *cmd):
    return subprocess.Popen([FERRY, *cmd], env=dict(_sanitizer_env(), FERRY_DIR=d.root),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def running_workload(d, wb, name="c"):
    launch(d, name, client="ferry")
    w = Workload(d, name, wb, mib=32).start()
    w.assert_pass(what="start")
    return w


def stopped_with_snapshot(d, name):
    launch(d, name, client="ferry")
    d.ferry("snapshot", name, "s0")
    d.ferry("stop", name, "--force")


def check_launch(d, ctx):
    if "n" in d.instance_names():
        if status_of(d, "n")[0] != "Running":
            d.ferry("start", "n", timeout=CR_TIMEOUT)
    else:
        d.ferry("launch", "busybox", "n", timeout=CR_TIMEOUT)
    assert status_of(d, "n")[0] == "Running"


def check_rename(d, ctx):
    names = d.instance_names()
    assert names in (["a"], ["b"]), names
    if names == ["a"]:
        d.ferry("rename", "a", "b")
    assert d.instance_names() == ["b"] and list(snapshots_of(d, "b")) == ["s0"]
    d.ferry("start", "b", timeout=CR_TIMEOUT)


def check_delete(d, ctx):
    names = d.instance_names()
    assert names in ([], ["c"]), names
    if names:
        assert list(snapshots_of(d, "c")) == ["s0"]
        d.ferry("start", "c", timeout=CR_TIMEOUT)
        d.ferry("delete", "-f", "c", timeout=CR_TIMEOUT)
    assert d.instance_names() == []
    wait_until(lambda: os.listdir(os.path.join(d.root, "containers")) == [], "the deleted files to go")


def check_snapshot(stateful):
    def check(d, w):
        assert status_of(d, "c")[0] == "Running"
        snap_round = w.next_round  # a restore of s brings back a workload waiting for it
        w.assert_pass(what="a kill of ferryd during a snapshot")
        if "s" not in snapshots_of(d, "c"):
            snap_round = w.next_round
            d.ferry("snapshot", "c", "s", *(["--stateful"] if stateful else []), timeout=CR_TIMEOUT)
        d.ferry("restore", "c", "s", timeout=CR_TIMEOUT)
        if stateful:
            w.next_round = snap_round
            w.assert_pass(what="the restore of a snapshot taken across a kill of ferryd")
    return check


def check_restore(d, w):
    snap_round = w.next_round  # s was taken just before it
    if status_of(d, "c")[0] != "Running":
        d.ferry("restore", "c", "s", timeout=CR_TIMEOUT)
    w.assert_pass(what="a kill of ferryd during a restore")
    d.ferry("restore", "c", "s", timeout=CR_TIMEOUT)
    w.next_round = snap_round
    w.assert_pass(what="the restore retried")


def check_start_from_state(d, w):
    if status_of(d, "c")[0] != "Running":
        assert api_stateful(d, "c") is True, "stopped without its state: the processes were lost"
        d.ferry("start", "c", timeout=CR_TIMEOUT)
    w.assert_pass(what="a kill of ferryd during a start from saved state")
    with open(w.path("ready")) as f:
        assert [int(x) for x in f.read().split()] == w.pids, "cold-booted: the workload is another one"


def check_config(d, ctx):
    value = d.ferry("config", "get", "c", "limits.memory").stdout.strip()
    assert value in ("", "300MB"), value
    d.ferry("config", "set", "c", "limits.memory", "300MB")
    assert d.api_ok("GET", "/1.0/instances/c")["config"]["limits.memory"] == "300MB"
    assert status_of(d, "c")[0] == "Running"


def check_import(d, tarball):
    images = d.api_ok("GET", "/1.0/images?recursion=1")
    if not any(a["name"] == "ki" for i in images for a in i.get("aliases") or []):
        with open(tarball, "rb") as f:
            fingerprint = hashlib.sha256(f.read()).hexdigest()
        if any(i["fingerprint"] == fingerprint for i in images):
            # The client imports, then names the image in a second request (as lxc does):
            # killed in between, the image is there without its alias.
            d.ferry("image", "alias", "create", "ki", fingerprint)
        else:
            d.ferry("image", "import", tarball, "--alias", "ki", timeout=CR_TIMEOUT)
    d.ferry("launch", "ki", "k1", timeout=CR_TIMEOUT)
    assert status_of(d, "k1")[0] == "Running"


def import_setup(d, wb):
    tarball = os.path.join(d.root, "killed-img.tar.gz")  # removed with the root
    with open(tarball, "wb") as f:
        f.write(base_image(tag="killed").bytes())
    return tarball


# name: (setup(d, workload_bin) -> ctx, command, undo commands, check(d, ctx)). A local
# copy joins them with issue 14 (`copy` is not supported yet); moves and their kills are
# in test_migration.py.
KILLED_OPS = {
    "launch": (lambda d, wb: None, ["launch", "busybox", "n"], [["delete", "-f", "n"]], check_launch),
    "rename": (lambda d, wb: stopped_with_snapshot(d, "a"), ["rename", "a", "b"], [["rename", "b", "a"]],
               check_rename),
    "delete": (lambda d, wb: stopped_with_snapshot(d, "c"), ["delete", "c"],
               [["launch", "busybox", "c"], ["snapshot", "c", "s0"], ["stop", "c", "--force"]], check_delete),
    "snapshot": (running_workload, ["snapshot", "c", "s"], [["delete", "c/s"]], check_snapshot(False)),
    "stateful-snapshot": (running_workload, ["snapshot", "c", "s", "--stateful"], [["delete", "c/s"]],
                          check_snapshot(True)),
    "restore": (lambda d, wb: (lambda w: (d.ferry("snapshot", "c", "s", "--stateful", timeout=CR_TIMEOUT), w)[1])(
                    running_workload(d, wb)), ["restore", "c", "s"], [], check_restore),
    "start-from-state": (lambda d, wb: (lambda w: (d.ferry("stop", "c", "--stateful", timeout=CR_TIMEOUT), w)[1])(
                             running_workload(d, wb)), ["start", "c"], [["stop", "c", "--stateful"]],
                         check_start_from_state),
    "config": (lambda d, wb: launch(d, "c", client="ferry"), ["config", "set", "c", "limits.memory", "300MB"],
               [["config", "unset", "c", "limits.memory"]], check_config),
    "image-import": (import_setup, None, [["image", "delete", "ki"]], check_import),
}


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("op", list(KILLED_OPS))
def test_ferryd_killed_during(own_daemon, workload_bin, op, fraction):
    d = own_daemon
    setup, cmd, undo, check = KILLED_OPS[op]
    ctx = setup(d, workload_bin)
    if cmd is None:
        cmd = ["image", "import", ctx, "--alias", "ki"]
    t0 = time.monotonic()
    d.ferry(*cmd, timeout=CR_TIMEOUT)
    took = time.monotonic() - t0
    for u in undo:
        d.ferry(*u, timeout=CR_TIMEOUT)
    if op == "delete":
        d.ferry("start", "c", timeout=CR_TIMEOUT)
        d.ferry("stop", "c", "--force")
    client = ferry_bg(d, *cmd)
    time.sleep(took * fraction)
    d.kill(signal.SIGKILL)
    client.wait(timeout=CR_TIMEOUT)
    restart(d)
    assert_consistent(d)
    check(d, ctx)
    assert_consistent(d)
