"""Containers outlive ferryd: killed (SIGKILL) or stopped (SIGTERM), the daemon comes
back on the same root and re-attaches to what still runs."""

import os
import signal

from conftest import pid_alive, wait_until


def state_of(d, name):
    for line in d.lxc("list", "--format", "csv").stdout.splitlines():
        cells = line.split(",")
        if cells[0] == name:
            return cells[1]
    return None


def host_init_pid(d, name):
    for line in d.lxc("info", name).stdout.splitlines():
        if line.startswith("PID:"):
            return int(line.split(":")[1])
    return None


def test_sigkill_then_reattach(own_daemon):
    d = own_daemon
    d.lxc("launch", "busybox", "r1")
    d.lxc("init", "busybox", "r2")
    pid = host_init_pid(d, "r1")
    d.lxc("exec", "r1", "--", "sh", "-c", "echo before > /root/mark")

    d.kill(signal.SIGKILL)
    assert pid_alive(pid), "the container died with ferryd"
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == "init"

    d.start()
    assert state_of(d, "r1") == "RUNNING"
    assert host_init_pid(d, "r1") == pid, "ferryd re-attached to a different init"
    assert state_of(d, "r2") == "STOPPED"
    assert d.lxc("exec", "r1", "--", "cat", "/root/mark").stdout == "before\n"
    assert d.lxc("exec", "r1", "--", "hostname").stdout == "r1\n"
    cp = d.lxc("exec", "r1", "--", "sh", "-c", "exit 3", check=False)
    assert cp.returncode == 3

    d.lxc("stop", "r1")
    assert state_of(d, "r1") == "STOPPED"
    assert not pid_alive(pid)
    d.lxc("start", "r1")
    new = host_init_pid(d, "r1")
    assert new != pid and pid_alive(new)
    d.lxc("start", "r2")
    assert state_of(d, "r2") == "RUNNING"


def test_sigterm_leaves_containers_running(own_daemon):
    d = own_daemon
    d.lxc("launch", "busybox", "t1")
    pid = host_init_pid(d, "t1")
    rc = d.kill(signal.SIGTERM)
    assert rc == 0, f"ferryd exited {rc} on SIGTERM\n{d.log_tail()}"
    assert pid_alive(pid)
    assert not os.path.exists(d.socket), "ferryd left its socket behind on a clean exit"
    d.start()
    assert state_of(d, "t1") == "RUNNING"
    assert host_init_pid(d, "t1") == pid
    assert d.lxc("exec", "t1", "--", "ps").stdout.count("init") >= 1
    d.lxc("delete", "--force", "t1")
    assert not pid_alive(pid)


def test_container_that_died_while_daemon_was_down_is_started_again(own_daemon):
    """As LXD does at start: an instance last seen RUNNING that no longer runs is started
    again (a new init), never reported RUNNING with the dead PID."""
    d = own_daemon
    d.lxc("launch", "busybox", "k1")
    pid = host_init_pid(d, "k1")
    d.kill(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)  # the container's init, which this test started
    wait_until(lambda: not pid_alive(pid), "the container's init to die")
    d.start()
    wait_until(lambda: state_of(d, "k1") == "RUNNING", "k1 to be started again")
    new = host_init_pid(d, "k1")
    assert new != pid and pid_alive(new)
    assert d.lxc("exec", "k1", "--", "hostname").stdout == "k1\n"


def test_stopped_instance_stays_stopped_across_restart(own_daemon):
    d = own_daemon
    d.lxc("launch", "busybox", "s1")
    d.lxc("stop", "s1")
    d.kill(signal.SIGKILL)
    d.start()
    assert state_of(d, "s1") == "STOPPED"
    assert host_init_pid(d, "s1") is None


def test_two_restarts_in_a_row(own_daemon):
    """Re-attaching must not depend on the previous ferryd having set anything up."""
    d = own_daemon
    d.lxc("launch", "busybox", "m1")
    pid = host_init_pid(d, "m1")
    for _ in range(2):
        d.kill(signal.SIGKILL)
        d.start()
        assert host_init_pid(d, "m1") == pid
    d.lxc("restart", "m1")
    assert pid_alive(host_init_pid(d, "m1"))
