"""Live migration between two lab hosts (issue 5): the reference's transcript with ferry
and with the stock lxc client, snapshots moving along, a TCP stream from a third party
surviving the move, 20 moves back and forth with the workload checking its state, push
mode, and every fault of the issue's point 4 leaving the container running on the source
with nothing left on the target.

Workloads run in the container's init tree (started detached with setsid), as CRIU only
dumps that tree."""

import os
import subprocess
import threading
import time

import pytest

from checkpoint_helpers import (CHURN, Workload, assert_queued_creds, build_workload, hold_external_socket,
                                start_queued_creds)
from conftest import FERRY, cgroup_parent_dirs, cmdline, descendants, wait_until
from test_network import TCP_CLIENT

LAB_OPTIONS = {"hosts": 2, "client": True}
MOVE_TIMEOUT = 180


@pytest.fixture(scope="module")
def lab2(module_lab):
    module_lab.remotes()
    return module_lab


@pytest.fixture
def hosts(lab2):
    h1, h2 = lab2.hosts
    yield h1, h2
    for h in (h1, h2):
        wait_until(lambda: not h.api_ok("GET", "/1.0/operations").get("running"), "no operation running",
                   bound=90)
        for name in h.instance_names():
            h.ferry("delete", name, "--force")


@pytest.fixture(scope="module")
def workload_binary(tmp_path_factory):
    return build_workload(str(tmp_path_factory.mktemp("workload")))


def list_row(host, remote, name):
    """The instance's row of `ferry list` in csv: name,state,ipv4,ipv6,type,snapshots."""
    out = host.ferry("list", f"{remote}:" if remote else "", "--format", "csv").stdout
    for line in out.splitlines():
        if line.split(",")[0] == name:
            return line.split(",")
    return None


def wait_addresses(host, name):
    return host.ipv4(name), host.ipv6(name)


def restore_monitors(host, name):
    """PIDs of HOST's `ferry-monitor restore` processes for NAME (held ones too)."""
    pids = []
    for entry in os.listdir("/proc"):
        argv = cmdline(entry) if entry.isdigit() else []
        if "restore" in argv and "--name" in argv and argv[argv.index("--name") + 1:][:1] == [name] \
                and host.cgroup_parent in argv:
            pids.append(int(entry))
    return pids


def held_restore_of(host, name):
    """The target's restoring monitor started early and waiting for the go (--hold-fd)."""
    return [p for p in restore_monitors(host, name) if "--hold-fd" in cmdline(p)]


def on_target_nothing_of(host, name):
    """No instance, no files (logs may stay: they are what a user reads after a failure),
    no restoring monitor (a held one called off undoes what it prepared) and no cgroup."""
    assert name not in host.instance_names()
    for d in (os.path.join(host.root, "containers", name), os.path.join(host.root, "snapshots", name)):
        assert not os.path.exists(d), f"{d} left on the target"
    wait_until(lambda: not restore_monitors(host, name), f"no restoring monitor of {name} left", bound=30)
    for parent in cgroup_parent_dirs(host.cgroup_parent):
        assert not os.path.exists(os.path.join(parent, name)), f"cgroup {parent}/{name} left on the target"


def counter_start(host, name):
    host.ferry("exec", name, "--", "sh", "-c",
               'setsid sh -c "i=0; while :; do i=\\$((i+1)); echo \\$i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.05; done"'
               " </dev/null >/dev/null 2>&1 &")
    wait_until(lambda: host.ferry("exec", name, "--", "test", "-s", "/tmp/counter", check=False).returncode == 0,
               "the counter runs")


def counter(host, name):
    # The counter file is replaced by rename, so a read never sees it half written
    # (a frozen or checkpointed shell may be stopped between truncate and write).
    return int(host.ferry("exec", name, "--", "cat", "/tmp/counter").stdout.strip() or 0)


def test_live_move_transcript_ferry(hosts):
    h1, h2 = hosts
    h1.ferry("launch", "busybox", "c1")
    v4, v6 = wait_addresses(h1, "c1")
    counter_start(h1, "c1")
    h1.ferry("snapshot", "c1", "first")
    h1.ferry("snapshot", "c1", "second", "--stateful")
    before = list_row(h1, None, "c1")
    assert before[1] == "RUNNING" and v4 in before[2] and v6 in before[3] and before[5] == "2", before
    assert list_row(h1, "h2", "c1") is None
    n0 = counter(h1, "c1")

    cp = h1.ferry("move", "c1", "h2:", "--verbose", timeout=MOVE_TIMEOUT)
    assert "Downtime:" in cp.stdout, cp.stdout

    assert list_row(h1, None, "c1") is None and h1.instance_names() == []
    after = list_row(h1, "h2", "c1")
    assert after is not None and after[1] == "RUNNING", after
    assert h2.ipv4("c1") == v4 and h2.ipv6("c1") == v6
    assert v4 in after[2] and after[5] == "2", after
    # The same processes, still counting.
    n1 = counter(h2, "c1")
    time.sleep(0.3)
    assert counter(h2, "c1") > n1 >= n0
    snaps = {s["name"]: s["stateful"] for s in h2.api_ok("GET", "/1.0/instances/c1/snapshots?recursion=1")}
    assert snaps == {"first": False, "second": True}
    info = h1.ferry("info", "h2:c1").stdout
    assert "| second |" in info and "YES" in info, info
    # The stateful snapshot's state came along: restoring it on h2 brings back its processes.
    h2.ferry("restore", "c1", "second")
    assert h2.instance("c1")["status"] == "Running"
    assert counter(h2, "c1") > 0
    # The figures, as strings, on the target's operation too.
    ops = h2.api_ok("GET", "/1.0/operations?recursion=1").get("success", [])
    moved = [o for o in ops if o["description"].startswith("Receiving instance")]
    assert moved and all(isinstance(v, str) for v in moved[-1]["metadata"].values())
    for key in ("migration_downtime_ms", "migration_restore_ms", "migration_memory_bytes", "migration_total_ms"):
        assert key in moved[-1]["metadata"], moved[-1]["metadata"]

    # And back, stateless: stop, move, start.
    h1.ferry("move", "h2:c1", "local:", "--stateless", timeout=MOVE_TIMEOUT)
    assert h2.instance_names() == [] and h1.instance("c1")["status"] == "Running"
    assert [s["name"] for s in h1.api_ok("GET", "/1.0/instances/c1/snapshots?recursion=1")] == ["first", "second"]


@pytest.mark.parametrize("mode", ["unprivileged", "privileged", "isolated"])
def test_live_move_keeps_the_idmap(hosts, mode):
    """A container moves live and comes back in a user namespace with the same map (LXD's
    default, an isolated range, or none when privileged): its processes the same host
    uids on the target, its rootfs idmapped there, its volatile.idmap.current the map."""
    h1, h2 = hosts
    config = {"unprivileged": [], "privileged": ["-c", "security.privileged=true"],
              "isolated": ["-c", "security.idmap.isolated=true"]}[mode]
    h1.ferry("launch", "busybox", "u1", *config)
    counter_start(h1, "u1")
    uid_map = h1.ferry("exec", "u1", "--", "cat", "/proc/self/uid_map").stdout.split()
    assert (uid_map[1] == "0") == (mode == "privileged"), uid_map
    current = h1.instance("u1")["config"]["volatile.idmap.current"]
    n0 = counter(h1, "u1")
    h1.ferry("move", "u1", "h2:", timeout=MOVE_TIMEOUT)
    assert "u1" not in h1.instance_names() and h2.instance("u1")["status"] == "Running"
    assert h2.ferry("exec", "u1", "--", "cat", "/proc/self/uid_map").stdout.split() == uid_map
    assert h2.instance("u1")["config"]["volatile.idmap.current"] == current
    # The target's copy of the images is spent once restored.
    wait_until(lambda: not os.path.exists(os.path.join(h2.root, "containers", "u1", "state")), "the images to go")
    # (The image metadata and templates came with it, issue 16.)
    assert sorted(os.listdir(os.path.join(h2.root, "containers", "u1"))) == ["metadata.yaml", "rootfs", "templates"]
    with open(f"/proc/{h2.init_pid('u1')}/status") as f:
        uid = next(line for line in f if line.startswith("Uid:")).split()[1]
    assert uid == uid_map[1], f"the restored init runs as host uid {uid}"
    if mode != "privileged":
        assert "idmapped" in h2.ferry("exec", "u1", "--", "grep", " / ", "/proc/self/mountinfo").stdout
    n1 = counter(h2, "u1")
    time.sleep(0.3)
    assert counter(h2, "u1") > n1 >= n0
    # A stateful stop and start on the target recreate the same map.
    h2.ferry("stop", "u1", "--stateful", timeout=MOVE_TIMEOUT)
    h2.ferry("start", "u1", timeout=MOVE_TIMEOUT)
    assert h2.ferry("exec", "u1", "--", "cat", "/proc/self/uid_map").stdout.split() == uid_map
    assert counter(h2, "u1") >= n1


def test_live_move_refused_when_the_target_cannot_apply_the_idmap(hosts):
    """The target already gave the isolated range to a container of its own: the move is
    refused before anything is frozen, with the reason, and the container runs on."""
    h1, h2 = hosts
    h2.ferry("init", "busybox", "taken", "-c", "security.idmap.isolated=true")
    h1.ferry("launch", "busybox", "u2", "-c", "security.idmap.isolated=true")
    assert h1.instance("u2")["config"]["volatile.idmap.base"] == h2.instance("taken")["config"]["volatile.idmap.base"]
    counter_start(h1, "u2")
    pid = h1.init_pid("u2")
    cp = h1.ferry("move", "u2", "h2:", check=False, timeout=MOVE_TIMEOUT)
    assert cp.returncode != 0 and "another isolated container here uses" in cp.stderr, cp.stderr
    assert h1.instance("u2")["status"] == "Running" and h1.init_pid("u2") == pid
    assert h2.instance_names() == ["taken"]
    n = counter(h1, "u2")
    time.sleep(0.3)
    assert counter(h1, "u2") > n


def test_live_move_stock_lxc(hosts):
    h1, h2 = hosts
    h1.lxc("launch", "busybox", "c1")
    v4, _ = wait_addresses(h1, "c1")
    h1.lxc("snapshot", "c1", "s1")
    h1.lxc("snapshot", "c1", "s2", "--stateful")
    out = h1.lxc("list", "c1", "--format", "csv").stdout
    assert out.startswith("c1,RUNNING,") and v4 in out
    assert h1.lxc("list", "h2:", "--format", "csv").stdout.strip() == ""
    h1.lxc("move", "c1", "h2:", timeout=MOVE_TIMEOUT)
    assert h1.lxc("list", "--format", "csv").stdout.strip() == ""
    out = h1.lxc("list", "h2:", "--format", "csv").stdout
    assert out.startswith("c1,RUNNING,") and v4 in out and out.strip().endswith(",2"), out
    assert "init" in h1.lxc("exec", "h2:c1", "--", "ps").stdout
    # Back with lxc in push mode.
    h1.lxc("move", "h2:c1", "local:", "--mode", "push", timeout=MOVE_TIMEOUT)
    assert h1.instance("c1")["status"] == "Running" and h2.instance_names() == []


def test_tcp_stream_from_a_third_party_survives(hosts, lab2):
    h1, h2 = hosts
    h1.launch("t1", start=False)
    rcs = os.path.join(h1.root, "containers", "t1", "rootfs", "etc", "init.d", "rcS")
    with open(rcs, "a") as f:
        f.write("nc -ll -p 6000 -e cat </dev/null >/dev/null 2>&1 &\n")
    h1.api_ok("PUT", "/1.0/instances/t1/state", {"action": "start", "timeout": -1})
    ip = h1.ipv4("t1")
    time.sleep(0.5)
    client = lab2.client_popen(["/usr/bin/python3", "-c", TCP_CLIENT, ip, "6000"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def rounds(n):
        client.stdin.write(f"{n}\n")
        client.stdin.flush()
        line = client.stdout.readline()
        if not line.startswith("OK"):
            client.kill()
            raise AssertionError(f"TCP client: {line!r} {client.stderr.read()}")
        return int(line.split()[1])

    try:
        assert rounds(20) == 20
        # Exchanges go on while the move runs: they stall during the freeze, then resume.
        results = []
        mover = threading.Thread(target=lambda: results.append(
            h1.ferry("move", "t1", "h2:", check=False, timeout=MOVE_TIMEOUT)))
        mover.start()
        total = 20
        while mover.is_alive():
            total = rounds(5)
        mover.join()
        assert results[0].returncode == 0, results[0].stderr
        assert rounds(20) == total + 20
        assert h2.instance("t1")["status"] == "Running" and h2.ipv4("t1") == ip
        # Back again, same connection.
        h2.ferry("move", "t1", "h1:", timeout=MOVE_TIMEOUT)
        assert rounds(20) == total + 40
    finally:
        client.kill()
        client.wait()


def test_twenty_moves_back_and_forth(hosts, workload_binary):
    h1, h2 = hosts
    h1.launch("w1")
    w = Workload(h1, "w1", workload_binary, mib=16).start()
    w.assert_pass(what="start")
    here, there = h1, h2
    for i in range(20):
        here.ferry("move", "w1", f"{there.name}:", timeout=MOVE_TIMEOUT)
        assert here.instance_names() == [] and there.instance("w1")["status"] == "Running", f"move {i + 1}"
        w.daemon = there
        w.assert_pass(what=f"move {i + 1} to {there.name}")
        w.assert_alive_inside()
        here, there = there, here


def test_live_move_carries_a_queued_message_with_credentials(hosts, workload_binary):
    """A live move's dump meets a message queued with its sender's credentials (as
    journald's and systemd's notify sockets hold them): the move carries it, naming its
    sender on the target as on the source (patches/criu/0014; the move failed)."""
    h1, h2 = hosts
    h1.launch("q1")
    start_queued_creds(h1, "q1", workload_binary)
    assert_queued_creds(h1, "q1", 1, "before the move")
    h1.ferry("move", "q1", f"{h2.name}:", timeout=MOVE_TIMEOUT)
    assert_queued_creds(h2, "q1", 2, "after a live move")


def test_live_move_push_mode(hosts, workload_binary):
    h1, h2 = hosts
    h1.launch("p1")
    w = Workload(h1, "p1", workload_binary, mib=8).start()
    h1.ferry("move", "p1", "h2:", "--mode", "push", timeout=MOVE_TIMEOUT)
    w.daemon = h2
    w.assert_pass(what="push move")


# ---- faults: the source runs on, the target keeps nothing ----

def running_workload(host, name, binary, mib):
    """NAME launched on HOST with the workload holding MIB MiB: (workload, init PID)."""
    host.launch(name)
    w = Workload(host, name, binary, mib=mib).start()
    return w, host.init_pid(name)


def assert_untouched(host, name, workload, init_pid):
    assert host.instance(name)["status"] == "Running"
    assert host.init_pid(name) == init_pid, "the source's processes were replaced"
    workload.assert_pass(what="a failed move")
    workload.assert_alive_inside()


def source_op_metadata(host, name):
    """The running migration operations of NAME on HOST."""
    ops = host.api_ok("GET", "/1.0/operations?recursion=1")
    return [o for group in ops.values() for o in group if o["description"].startswith("Migrating")
            and o["status"] == "Running" and f"/1.0/instances/{name}" in o["resources"].get("instances", [])]


def move_past_precopy(host, name):
    """`ferry move NAME h2:` in the background, returned once the source has
    pre-copied the files (the dump is starting)."""
    mover = host.popen([FERRY, "move", name, "h2:"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: any("migration_precopy_ms" in o["metadata"] for o in source_op_metadata(host, name)),
               "the pre-copy done", bound=60, step=0.01)
    return mover


def test_refused_name_taken(hosts, workload_binary):
    h1, h2 = hosts
    w, pid = running_workload(h1, "f1", workload_binary, 8)
    h2.launch("f1", start=False)
    cp = h1.ferry("move", "f1", "h2:", check=False, timeout=MOVE_TIMEOUT)
    assert cp.returncode == 1 and "already exists" in cp.stderr, cp.stderr
    assert_untouched(h1, "f1", w, pid)


def test_dump_failure_keeps_source_running(hosts, workload_binary):
    h1, h2 = hosts
    w, pid = running_workload(h1, "f2", workload_binary, 8)
    listener, _ = hold_external_socket(h1, "f2", workload_binary)
    try:
        cp = h1.ferry("move", "f2", "h2:", check=False, timeout=MOVE_TIMEOUT)
    finally:
        listener.close()
    assert cp.returncode == 1
    assert "on the source" in cp.stderr and "Error (criu/" in cp.stderr and "Log:" in cp.stderr, cp.stderr
    assert_untouched(h1, "f2", w, pid)
    on_target_nothing_of(h2, "f2")


def test_connection_dropped_mid_transfer(hosts, workload_binary):
    h1, h2 = hosts
    w, pid = running_workload(h1, "f3", workload_binary, 256)
    mover = move_past_precopy(h1, "f3")
    # The dump is under way: h1 now answers h2 with resets.
    h1.run(["nft", "-f", "-"], input="table inet fault {\n chain in {\n  type filter hook input priority 0;\n"
                                      "  tcp dport 8443 reject with tcp reset\n }\n}\n")
    try:
        out, err = mover.communicate(timeout=MOVE_TIMEOUT)
    finally:
        h1.run(["nft", "delete", "table", "inet", "fault"])
    assert mover.returncode == 1, out + err
    assert "Migration of f3 failed" in err, err
    assert_untouched(h1, "f3", w, pid)
    wait_until(lambda: "f3" not in h2.instance_names(), "h2 drops the half instance", bound=60)
    on_target_nothing_of(h2, "f3")


def test_restore_failure_on_target(hosts, workload_binary):
    h1, h2 = hosts
    w, pid = running_workload(h1, "f4", workload_binary, 64)
    # h2's default profile is stricter: 16 MiB cannot hold the workload's memory.
    h2.api_ok("PATCH", "/1.0/profiles/default", {"config": {"limits.memory": "16MiB"}})
    try:
        cp = h1.ferry("move", "f4", "h2:", check=False, timeout=MOVE_TIMEOUT)
    finally:
        cfg = h2.api_ok("GET", "/1.0/profiles/default")["config"]
        cfg.pop("limits.memory", None)
        h2.api_ok("PUT", "/1.0/profiles/default", {"config": cfg,
                                                   "devices": h2.api_ok("GET", "/1.0/profiles/default")["devices"]})
    assert cp.returncode == 1
    assert "restoring on the target" in cp.stderr and "migrate_restore_" in cp.stderr, cp.stderr
    assert_untouched(h1, "f4", w, pid)
    on_target_nothing_of(h2, "f4")


@pytest.mark.lab(hosts=2, client=False, host_size_mb=192)
def test_target_disk_full(lab, workload_binary):
    lab.remotes()
    h1, h2 = lab.hosts
    w, pid = running_workload(h1, "f5", workload_binary, 48)
    marker = os.path.join(h2.root, "containers", "f5", ".ferry-incoming")
    mover = h1.popen([FERRY, "move", "f5", "h2:"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)
    # The checks passed (room for it); then something else fills the disk.
    wait_until(lambda: os.path.exists(marker), "the transfer starts", bound=60, step=0.005)
    filler = os.path.join(h2.root, "filler")
    with open(filler, "wb") as f:
        size = 0
        while True:  # every block there is, at this moment
            try:
                os.posix_fallocate(f.fileno(), size, 1 << 20)
                size += 1 << 20
            except OSError:
                break
    try:
        out, err = mover.communicate(timeout=MOVE_TIMEOUT)
    finally:
        os.unlink(filler)
    assert mover.returncode == 1, out + err
    assert "No space left" in err or "ENOSPC" in err or "space" in err, err
    assert_untouched(h1, "f5", w, pid)
    on_target_nothing_of(h2, "f5")


@pytest.mark.lab(hosts=2, client=False, host_size_mb=96)
def test_refused_no_room_on_target(lab, workload_binary):
    lab.remotes()
    h1, h2 = lab.hosts
    w, pid = running_workload(h1, "f6", workload_binary, 128)
    cp = h1.ferry("move", "f6", "h2:", check=False, timeout=MOVE_TIMEOUT)
    assert cp.returncode == 1 and "storage" in cp.stderr, cp.stderr
    assert_untouched(h1, "f6", w, pid)
    on_target_nothing_of(h2, "f6")


@pytest.mark.lab(hosts=2, client=False)
def test_target_daemon_killed_mid_transfer(lab, workload_binary):
    lab.remotes()
    h1, h2 = lab.hosts
    w, pid = running_workload(h1, "f7", workload_binary, 256)
    mover = move_past_precopy(h1, "f7")
    assert held_restore_of(h2, "f7"), "the target's restore was not held"
    h2.kill_daemon()
    out, err = mover.communicate(timeout=MOVE_TIMEOUT)
    assert mover.returncode == 1, out + err
    assert_untouched(h1, "f7", w, pid)
    h2.restart_daemon()
    on_target_nothing_of(h2, "f7")


def kill_source_when(h1, h2, name, ready, what):
    """`ferry move NAME h2:` from H1, whose ferryd is killed as soon as READY() holds;
    returns once the move failed and H2 dropped its copy."""
    mover = h1.popen([FERRY, "move", name, "h2:"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(ready, what, bound=MOVE_TIMEOUT, step=0.002)
    h1.kill_daemon()
    out, err = mover.communicate(timeout=MOVE_TIMEOUT)
    assert mover.returncode != 0, out + err
    wait_until(lambda: name not in h2.instance_names()
               and not os.path.exists(os.path.join(h2.root, "containers", name)), "the target to drop its copy",
               bound=MOVE_TIMEOUT)


@pytest.mark.lab(hosts=2, client=False)
def test_source_daemon_killed_during_the_target_restore(lab, workload_binary):
    """The source's ferryd dies while the target restores: the source's held tree runs on
    (it never read "restored", so never committed), and the target, finding the source gone
    when its restore ends, removes its copy instead of running a second one."""
    lab.remotes()
    h1, h2 = lab.hosts
    w, pid = running_workload(h1, "f8", workload_binary, 64)
    target = h2.pid
    # CRIU restoring (the monitor itself waits from the accept on, held).
    kill_source_when(h1, h2, "f8", lambda: any("swrk" in cmdline(p) for p, _ in descendants(target)),
                     "the target's restore")
    assert "went away during the restore" in h2.log_tail(40)
    h1.restart_daemon()
    assert_untouched(h1, "f8", w, pid)
    # The move retried works.
    h1.ferry("move", "f8", "h2:", timeout=MOVE_TIMEOUT)
    w.daemon = h2
    w.assert_pass(what="the retried move")


@pytest.mark.lab(hosts=2, client=False)
def test_source_daemon_killed_while_the_target_restore_waits(lab, workload_binary):
    """The target starts its restoring monitor once it accepts the offer and holds it
    before CRIU: the source's ferryd dying then (pre-copy or dump) leaves the source's tree
    running, and the held monitor on the target undoes what it prepared (no process, no
    cgroup, no files)."""
    lab.remotes()
    h1, h2 = lab.hosts
    w, pid = running_workload(h1, "f10", workload_binary, 64)
    kill_source_when(h1, h2, "f10", lambda: held_restore_of(h2, "f10"), "the target's held restore")
    on_target_nothing_of(h2, "f10")
    h1.restart_daemon()
    assert_untouched(h1, "f10", w, pid)


@pytest.mark.lab(hosts=2, client=False)
def test_target_daemon_killed_after_restored(lab, workload_binary):
    """The target's ferryd dies right after telling the source "restored" (the source then
    kills its frozen copy): the target recorded the instance before answering, so its next
    start has it, running, memory intact, instead of removing an "unfinished" transfer."""
    lab.remotes()
    h1, h2 = lab.hosts
    w, pid = running_workload(h1, "f9", workload_binary, 32)
    os.environ["FERRY_TEST_CRASH_AT"] = "migration-target-after-restored"
    try:
        h2.restart_daemon()
    finally:
        del os.environ["FERRY_TEST_CRASH_AT"]
    h1.ferry("move", "f9", "h2:", check=False, timeout=MOVE_TIMEOUT)
    wait_until(lambda: not h2.alive(), "the target's ferryd to die after answering", bound=MOVE_TIMEOUT)
    h2.stopped_by_test = True
    h2.start()
    assert h2.instance("f9")["status"] == "Running"
    w.daemon = h2
    w.assert_pass(what="a move whose target ferryd died after answering")
    w.assert_alive_inside()
    # The source's copy is stopped (the client deletes it when it sees the move through).
    assert "f9" not in h1.instance_names() or h1.instance("f9")["status"] == "Stopped"
    wait_until(lambda: sorted(os.listdir(os.path.join(h2.root, "containers", "f9")))
               == ["metadata.yaml", "rootfs", "templates"],
               "the marker and the spent images to go")


def target_op_metadata(host):
    ops = host.api_ok("GET", "/1.0/operations?recursion=1").get("success", [])
    moved = [o for o in ops if o["description"].startswith("Receiving instance")]
    assert moved, ops
    # The daemons serve the module's tests: the latest of them.
    return max(moved, key=lambda o: o["created_at"])["metadata"]


def test_idle_rootfs_skips_the_final_sync(hosts):
    """Nothing in the rootfs changed since the pre-copy began: the freeze sends no
    rootfs at all (issue 15: the final rsync was ~130 ms of an idle move's downtime)."""
    h1, h2 = hosts
    h1.ferry("launch", "busybox", "c1")
    wait_addresses(h1, "c1")
    # The start's own writes (hostname, hosts...) far enough behind for the
    # timestamps to tell a later change apart (common/tree-state.h).
    time.sleep(3)
    h1.ferry("move", "c1", "h2:", "--verbose", timeout=MOVE_TIMEOUT)
    assert h2.instance("c1")["status"] == "Running"
    assert target_op_metadata(h2)["migration_final_sync_bytes"] == "0"


def test_rootfs_written_around_the_freeze_reaches_the_target(hosts):
    """A settled rootfs, then one write landing before, during or after the freeze
    (the pre-copy reads the tree meanwhile): whichever it is, the target has it.
    Only a write before the freeze can be lost by a wrong skip; one after it
    happens on the target."""
    h1, h2 = hosts
    h1.ferry("launch", "busybox", "c1")
    wait_addresses(h1, "c1")
    src, dst = h1, h2
    for delay in ("0.1", "0.3", "0.6", "1.0"):
        time.sleep(3)
        src.ferry("exec", "c1", "--", "sh", "-c",
                  f'setsid sh -c "sleep {delay}; echo written-{delay} > /written.new; mv /written.new /written"'
                  " </dev/null >/dev/null 2>&1 &")
        src.ferry("move", "c1", f"{dst.name}:", timeout=MOVE_TIMEOUT)
        time.sleep(float(delay) + 0.5)
        assert dst.ferry("exec", "c1", "--", "cat", "/written").stdout.strip() == f"written-{delay}"
        src, dst = dst, src


@pytest.mark.parametrize("variant", ["listed", "linked", "many"])
def test_rootfs_changes_in_the_final_sync(hosts, variant):
    """The final sync of a live move sends what changed since the pre-copy began, entry
    by entry, in-process (not a walk of the whole tree by rsync): files rewritten, made,
    renamed and deleted, directory trees made and deleted, a mode changed, all while the
    pre-copy runs. A workload doing that every 20 ms checks, each cycle, what the last
    one left: on the target after the move it finds nothing missing or stale (rsync's
    quick check took a file rewritten within the same second at the same size for the
    pre-copy's copy). "linked": a changed file with two names stays one file. "many":
    more changes than a list is for, the whole tree by rsync, the stale files named to
    the target. Moved right after the launch and right back after the first move: the
    files those wrote are not taken for changes (timestamps with nanoseconds)."""
    h1, h2 = hosts
    h1.ferry("launch", "busybox", "c1")
    wait_addresses(h1, "c1")
    with open(os.path.join(h1.root, "containers", "c1", "rootfs", "churn.sh"), "w") as f:
        f.write(CHURN)
    h1.ferry("exec", "c1", "--", "sh", "-c", f"setsid sh /churn.sh {variant} </dev/null >/dev/null 2>&1 &")
    wait_until(lambda: h1.ferry("exec", "c1", "--", "cat", "/churn/done", check=False).stdout.strip() not in ("", "1"),
               "the churn to run")
    src, dst = h1, h2
    for move in range(2):
        src.ferry("move", "c1", f"{dst.name}:", timeout=MOVE_TIMEOUT)
        entries = int(target_op_metadata(dst)["migration_final_sync_entries"])
        assert entries == -1 if variant == "many" else 0 < entries < 256, (target_op_metadata(dst), src.log_tail(8))
        n = int(dst.ferry("exec", "c1", "--", "cat", "/churn/done").stdout)
        wait_until(lambda: int(dst.ferry("exec", "c1", "--", "cat", "/churn/done").stdout) > n + 3,
                   "the churn to go on after the move")
        bad = dst.ferry("exec", "c1", "--", "cat", "/churn-bad", check=False)
        assert bad.returncode != 0, bad.stdout
        src, dst = dst, src
    h1.ferry("exec", "c1", "--", "touch", "/churn-stop")
