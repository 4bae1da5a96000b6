"""Local copies (issue 14): `lxc copy c1 c2`, `lxc copy c1/snap0 c3`, `--instance-only`, with
stock lxc and ferry. The copy has its own uuid, MAC and idmap, its snapshots (stateful ones
restorable), a running source is frozen while its rootfs is copied, and a ferryd killed in
the middle leaves either no copy or a whole one, the source untouched and thawed. (The kill
tests live here rather than in test_crash.py's KILLED_OPS, to keep that file to its
owner; they reuse its helpers.)"""

import os
import signal
import time

import pytest

from checkpoint_helpers import (CHURN, CR_TIMEOUT, Workload, freezer_state, launch, rootfs, snapshot_dir,
                                snapshots_of, status_of)
from conftest import cgroup_dir_of, wait_until
from test_crash import assert_consistent, crash_during, ferry_bg, restart, running_workload, workload_bin  # noqa: F401


def config_of(d, name):
    return d.api_ok("GET", f"/1.0/instances/{name}")["config"]


def write_inside(d, name, path, text):
    with open(os.path.join(rootfs(d, name), path.lstrip("/")), "w") as f:
        f.write(text)


def read_inside(d, name, path):
    p = os.path.join(rootfs(d, name), path.lstrip("/"))
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return f.read()


def frozen_by_cgroup(pid):
    """The freezer state of the container of PID, read without ferryd."""
    d = cgroup_dir_of(pid, "freezer")
    if d is not None and os.path.exists(os.path.join(d, "freezer.state")):
        with open(os.path.join(d, "freezer.state")) as f:
            return f.read().strip() == "FROZEN"
    with open(os.path.join(cgroup_dir_of(pid, ""), "cgroup.freeze")) as f:
        return f.read().strip() == "1"


def host_uid_of_init(d, name):
    with open(f"/proc/{d.init_pid(name)}/status") as f:
        return int(next(l for l in f if l.startswith("Uid:")).split()[1])


@pytest.fixture
def stopped_c1(daemon):
    """c1 stopped, with a file, a snapshot s0, then the file changed."""
    daemon.remove_all_instances()
    launch(daemon, "c1", client="lxc")
    write_inside(daemon, "c1", "/root/mark", "one")
    daemon.lxc("snapshot", "c1", "s0")
    write_inside(daemon, "c1", "/root/mark", "two")
    daemon.lxc("stop", "c1", "--force", timeout=CR_TIMEOUT)
    yield daemon
    daemon.remove_all_instances()


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_copy_with_snapshots(stopped_c1, client):
    d = stopped_c1
    getattr(d, client)("copy", "c1", "c2", timeout=CR_TIMEOUT)
    assert read_inside(d, "c2", "/root/mark") == "two"
    assert list(snapshots_of(d, "c2")) == ["s0"]
    assert os.path.isdir(os.path.join(d.root, "snapshots", "c2", "s0", "rootfs"))
    c1, c2 = config_of(d, "c1"), config_of(d, "c2")
    assert c2["volatile.uuid"] != c1["volatile.uuid"]
    assert c2["volatile.base_image"] == c1["volatile.base_image"]
    assert "volatile.last_state.power" not in c2
    assert "volatile.eth0.hwaddr" not in c2 or c2["volatile.eth0.hwaddr"] != c1.get("volatile.eth0.hwaddr")
    assert d.instance("c2")["status"] == "Stopped"
    d.lxc("start", "c1", "c2", timeout=CR_TIMEOUT)
    c1, c2 = config_of(d, "c1"), config_of(d, "c2")
    assert c2["volatile.eth0.hwaddr"] != c1["volatile.eth0.hwaddr"], "the copy kept the source's MAC"
    assert d.lxc("exec", "c2", "--", "cat", "/root/mark").stdout == "two"
    # The copy's snapshot is its own: restoring it leaves c1 as it is.
    d.lxc("restore", "c2", "s0", timeout=CR_TIMEOUT)
    assert read_inside(d, "c2", "/root/mark") == "one"
    assert read_inside(d, "c1", "/root/mark") == "two"
    assert list(snapshots_of(d, "c1")) == ["s0"]


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_copy_instance_only_and_from_a_snapshot(stopped_c1, client):
    d = stopped_c1
    run = getattr(d, client)
    run("copy", "c1", "c3", "--instance-only", timeout=CR_TIMEOUT)
    assert list(snapshots_of(d, "c3")) == []
    assert read_inside(d, "c3", "/root/mark") == "two"
    assert not os.path.exists(os.path.join(d.root, "snapshots", "c3", "s0"))
    run("copy", "c1/s0", "c4", timeout=CR_TIMEOUT)
    assert list(snapshots_of(d, "c4")) == []
    assert read_inside(d, "c4", "/root/mark") == "one"
    d.lxc("start", "c4", timeout=CR_TIMEOUT)
    assert d.lxc("exec", "c4", "--", "cat", "/root/mark").stdout == "one"


def test_copy_bad_input(stopped_c1):
    d = stopped_c1
    d.lxc("copy", "c1", "c2", timeout=CR_TIMEOUT)
    before = sorted(os.listdir(os.path.join(d.root, "containers")))
    for client in ("lxc", "ferry"):
        run = getattr(d, client)
        cp = run("copy", "c1", "c2", check=False)
        assert cp.returncode != 0 and "already exists" in cp.stderr, cp.stderr
        cp = run("copy", "c1", "bad_name", check=False)
        assert cp.returncode != 0 and "name" in cp.stderr.lower(), cp.stderr
        cp = run("copy", "c1/nosnap", "c5", check=False)
        assert cp.returncode != 0 and "not found" in cp.stderr.lower(), cp.stderr
        cp = run("copy", "nothere", "c5", check=False)
        assert cp.returncode != 0 and "not found" in cp.stderr.lower(), cp.stderr
    assert sorted(os.listdir(os.path.join(d.root, "containers"))) == before
    assert sorted(d.instance_names()) == ["c1", "c2"]
    # The raw API: each refusal is a clear error, nothing created.
    for body, code in [
        ({"name": "c6", "source": {"type": "copy"}}, 400),
        ({"name": "c6", "source": {"type": "copy", "source": "nothere"}}, 404),
        ({"name": "c6", "source": {"type": "copy", "source": "c1/"}}, 404),
        ({"name": "c6", "source": {"type": "copy", "source": "c1", "instance_only": "yes"}}, 400),
        ({"name": "../c6", "source": {"type": "copy", "source": "c1"}}, 400),
        # A taken name: LXD accepts it, then its operation fails.
        ({"name": "c2", "source": {"type": "copy", "source": "c1"}}, 202),
    ]:
        status, env = d.api("POST", "/1.0/instances", body)
        assert status == code, (body, status, env)
        if status == 202:
            op = d.wait_op(env)
            assert op["status_code"] == 400 and "already exists" in op["err"], op
    assert sorted(d.instance_names()) == ["c1", "c2"]


def test_copy_running_instance_is_consistent(daemon, workload_bin):
    """A running source is frozen while its rootfs is copied and thawed after; its
    workload runs on, and the copy boots."""
    d = daemon
    d.remove_all_instances()
    w = running_workload(d, workload_bin, name="c1")
    d.lxc("copy", "c1", "c2", timeout=CR_TIMEOUT)
    assert status_of(d, "c1")[0] == "Running"
    assert freezer_state(d, "c1") == "THAWED"
    w.assert_pass(what="a copy")
    d.lxc("start", "c2", timeout=CR_TIMEOUT)
    assert status_of(d, "c2")[0] == "Running"
    # A source its user froze stays frozen.
    d.lxc("pause", "c1")
    d.ferry("copy", "c1", "c3", timeout=CR_TIMEOUT)
    assert freezer_state(d, "c1") == "FROZEN"
    d.lxc("start", "c1")
    w.assert_pass(what="a copy of a paused instance")
    d.remove_all_instances()


@pytest.mark.parametrize("verb", ["copy", "snapshot"])
def test_copy_of_a_changing_instance_is_one_instant(daemon, verb):
    """The dir driver copies a running source before freezing it, and what changed since
    in the freeze (src/checkpoint/rootfs-copy.c), for a copy and for a stateless snapshot
    (as LXD freezes a running container for either): each copy of a tree changed every
    20 ms (test_migration's churn) is the tree of one instant, as the cycles leave it: the
    counter at the last cycle done or the next, that cycle's directory made, the one three
    cycles older gone. (A snapshot copied it live, and failed at a file renamed away
    between its listing and its look: "Inspecting tmp/counter.new: No such file".)"""
    d = daemon
    d.remove_all_instances()
    launch(d, "c1")
    with open(os.path.join(rootfs(d, "c1"), "churn.sh"), "w") as f:
        f.write(CHURN)
    # Files among the churn's, so that a copy of them all spans its cycles.
    os.makedirs(os.path.join(rootfs(d, "c1"), "churn", "ballast"))
    for i in range(3000):
        with open(os.path.join(rootfs(d, "c1"), "churn", "ballast", str(i)), "w") as f:
            f.write(str(i))
    d.lxc("exec", "c1", "--", "sh", "-c", "setsid sh /churn.sh listed </dev/null >/dev/null 2>&1 &")

    def top(k):  # c1's rootfs, or its copy's, or its snapshot's
        return rootfs(d, k) if verb == "copy" or k == "c1" else os.path.join(snapshot_dir(d, "c1", k), "rootfs")

    def read(k, path):
        try:
            with open(os.path.join(top(k), path)) as f:
                return f.read().strip()
        except OSError as e:
            return f"({e.strerror})"

    wait_until(lambda: read("c1", "churn/done").isdigit() and int(read("c1", "churn/done")) > 4, "the churn")
    for k in ("k0", "k1", "k2"):
        d.lxc(*(["copy", "c1", k] if verb == "copy" else ["snapshot", "c1", k]), timeout=CR_TIMEOUT)
        done = int(read(k, "churn/done"))
        seen = {p: read(k, p) for p in ("churn/counter", f"churn/d{done}/v", f"churn/d{done - 1}/v")}
        # The next cycle's `echo > counter` may be frozen between its truncation and its
        # write: an empty counter is that instant too.
        assert seen["churn/counter"] in (str(done), "", str(done + 1)), (done, seen)
        assert seen[f"churn/d{done}/v"] == str(done) and seen[f"churn/d{done - 1}/v"] == str(done - 1), (done, seen)
        assert not os.path.exists(os.path.join(top(k), f"churn/d{done - 3}")), done
        assert not os.path.exists(os.path.join(top(k), "churn-bad")), read(k, "churn-bad")
    assert freezer_state(d, "c1") == "THAWED"
    d.lxc("exec", "c1", "--", "touch", "/churn-stop")
    d.remove_all_instances()


def test_copy_stateful_snapshot_keeps_its_state(daemon, workload_bin):
    """A stateful snapshot copied along restores its processes on the copy."""
    d = daemon
    d.remove_all_instances()
    w = running_workload(d, workload_bin, name="c1")
    snap_round = w.next_round
    d.ferry("snapshot", "c1", "s", "--stateful", timeout=CR_TIMEOUT)
    w.assert_pass(what="a stateful snapshot")
    d.ferry("stop", "c1", "--force", timeout=CR_TIMEOUT)
    d.ferry("copy", "c1", "c2", timeout=CR_TIMEOUT)
    assert snapshots_of(d, "c2")["s"]["stateful"] is True
    d.ferry("restore", "c2", "s", timeout=CR_TIMEOUT)
    assert status_of(d, "c2")[0] == "Running"
    w2 = Workload.__new__(Workload)  # its binary is there, running: not copied in again
    w2.daemon, w2.name, w2.mib, w2.pids, w2.next_round = d, "c2", w.mib, w.pids, snap_round
    w2.assert_pass(what="the restore of a copied stateful snapshot")
    d.remove_all_instances()


def test_copy_isolated_gets_its_own_idmap(daemon):
    """An isolated container's copy gets its own id range; its files are owned as
    inside the source (root is root inside)."""
    d = daemon
    d.remove_all_instances()
    launch(d, "i1", config={"security.idmap.isolated": "true"})
    d.lxc("copy", "i1", "i2", timeout=CR_TIMEOUT)
    c1, c2 = config_of(d, "i1"), config_of(d, "i2")
    assert int(c2["volatile.idmap.base"]) > 0
    assert c2["volatile.idmap.base"] != c1["volatile.idmap.base"]
    d.lxc("start", "i2", timeout=CR_TIMEOUT)
    assert host_uid_of_init(d, "i2") != host_uid_of_init(d, "i1")
    assert host_uid_of_init(d, "i2") == int(config_of(d, "i2")["volatile.idmap.base"])
    out = d.lxc("exec", "i2", "--", "stat", "-c", "%u:%g", "/bin/busybox", "/root").stdout.split()
    assert out == ["0:0", "0:0"], out
    d.lxc("exec", "i2", "--", "touch", "/root/x")
    d.remove_all_instances()


# --- ferryd killed in the middle (docs/durability.md) -----------------------

@pytest.mark.parametrize("verb", ["copy", "snapshot"])
def test_copy_killed_while_source_frozen(own_daemon, verb):
    """Killed with the source frozen: the next ferryd thaws it, and there is no copy (no
    snapshot)."""
    d = own_daemon
    launch(d, "c1", client="ferry")
    restart(d, f"{verb}-while-frozen")
    cp = d.ferry(verb, "c1", "c2", check=False, timeout=CR_TIMEOUT)
    wait_until(lambda: not d.alive(), f"ferryd to die at {verb}-while-frozen")
    assert d.proc.returncode == -signal.SIGKILL and cp.returncode != 0, cp.stderr
    d.stopped_by_test = True
    with open(os.path.join(d.root, "run", "c1", "init.pid")) as f:
        pid = int(f.read().split()[0])
    assert frozen_by_cgroup(pid), "the copy did not freeze the running source"
    restart(d)
    assert d.instance_names() == ["c1"]
    assert status_of(d, "c1")[0] == "Running"
    assert freezer_state(d, "c1") == "THAWED"
    assert_consistent(d)
    if verb == "snapshot":
        assert snapshots_of(d, "c1") == {}
        assert not os.path.exists(snapshot_dir(d, "c1", "c2"))
        d.ferry("snapshot", "c1", "c2", timeout=CR_TIMEOUT)
        assert freezer_state(d, "c1") == "THAWED"
        return
    d.ferry("copy", "c1", "c2", timeout=CR_TIMEOUT)
    d.ferry("start", "c2", timeout=CR_TIMEOUT)


def test_copy_killed_before_commit(own_daemon):
    """The files were copied, the database never recorded them: they go."""
    d = own_daemon
    launch(d, "c1", client="ferry")
    d.ferry("snapshot", "c1", "s0")
    d.ferry("stop", "c1", "--force")
    crash_during(d, "copy-after-tree", "copy", "c1", "c2")
    assert d.instance_names() == ["c1"]
    for top in ("containers", "snapshots", "logs"):
        assert not os.path.exists(os.path.join(d.root, top, "c2")), top
    assert list(snapshots_of(d, "c1")) == ["s0"]
    assert_consistent(d)
    d.ferry("copy", "c1", "c2", timeout=CR_TIMEOUT)
    assert list(snapshots_of(d, "c2")) == ["s0"]


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_ferryd_killed_during_copy(own_daemon, fraction):
    """As test_crash.py's test_ferryd_killed_during: the copy run once to time it, undone,
    then killed at a fraction of that; after a restart c2 is there whole or not at all,
    c1 runs thawed, and the retried copy works."""
    d = own_daemon
    launch(d, "c1", client="ferry")
    with open(os.path.join(rootfs(d, "c1"), "root", "big"), "wb") as f:
        f.write(os.urandom(1 << 20) * 96)  # something to copy for a while
    d.ferry("snapshot", "c1", "s0", timeout=CR_TIMEOUT)
    t0 = time.monotonic()
    d.ferry("copy", "c1", "c2", timeout=CR_TIMEOUT)
    took = time.monotonic() - t0
    d.ferry("delete", "c2", timeout=CR_TIMEOUT)
    client = ferry_bg(d, "copy", "c1", "c2")
    time.sleep(took * fraction)
    d.kill(signal.SIGKILL)
    client.wait(timeout=CR_TIMEOUT)
    restart(d)
    assert_consistent(d)
    assert status_of(d, "c1")[0] == "Running" and freezer_state(d, "c1") == "THAWED"
    assert list(snapshots_of(d, "c1")) == ["s0"]
    if "c2" in d.instance_names():
        assert list(snapshots_of(d, "c2")) == ["s0"]
        assert os.path.getsize(os.path.join(rootfs(d, "c2"), "root", "big")) == 96 << 20
    else:
        d.ferry("copy", "c1", "c2", timeout=CR_TIMEOUT)
    d.ferry("start", "c2", timeout=CR_TIMEOUT)
    assert status_of(d, "c2")[0] == "Running"
