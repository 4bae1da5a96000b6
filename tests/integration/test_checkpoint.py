"""Checkpoint/restore of real containers (issue 3), proven the way CRIU's zdtm does:
a workload in the container (workload/cr-state.c) sets up state, the test takes a
stateful snapshot, restores it, stops and starts statefully, and the workload then
verifies that its memory, file offset, pipe and socket data in flight, PIDs and
process tree survived. Driven through the stock `lxc` client and through `ferry`, for
unprivileged containers (the default) and privileged ones.

One ferryd for the module; each test makes its own containers.
"""

import os
import shutil
import subprocess
import tarfile
import time

import pytest

import checkpoint_helpers

from conftest import LXC, cgroup_limit, wait_until
from checkpoint_helpers import (
    CHURN, CR_TIMEOUT, Workload, api_error, assert_queued_creds, build_workload, console, corrupt, criu_logs,
    delete, fail_detail, freezer_state, hold_external_socket, launch, logs_dir, processes_inside,
    repair, rootfs, services, snapshot_dir, snapshots_of, start_queued_creds, state_dir, status_of, tmpdir,
)

# The image files every CRIU dump of a container writes (besides per-PID ones).
CRIU_IMAGES = ("inventory.img", "pstree.img")
CRIU_PER_PID = ("core-", "mm-", "pagemap-", "pages-")


@pytest.fixture(scope="module", autouse=True, params=["unprivileged", "privileged"])
def mode(request):
    """Every test here in both modes: LXD's default (a user namespace) and privileged."""
    checkpoint_helpers.MODE_CONFIG.clear()
    if request.param == "privileged":
        checkpoint_helpers.MODE_CONFIG["security.privileged"] = "true"
    yield request.param
    checkpoint_helpers.MODE_CONFIG.clear()


@pytest.fixture(scope="module")
def workload_bin():
    d = tmpdir()
    yield build_workload(d)
    subprocess.run(["rm", "-rf", d], stdin=subprocess.DEVNULL, timeout=30)


def client_run(daemon, client, *args, check=True, timeout=CR_TIMEOUT):
    return (daemon.lxc if client == "lxc" else daemon.ferry)(*args, check=check, timeout=timeout)


def assert_images(directory):
    files = os.listdir(directory)
    for f in CRIU_IMAGES:
        assert f in files, f"{f} missing from {directory}: {sorted(files)}"
    for prefix in CRIU_PER_PID:
        assert any(f.startswith(prefix) for f in files), f"no {prefix}*.img in {directory}: {sorted(files)}"
    assert "stats-dump" in files, f"no stats-dump in {directory}: {sorted(files)}"


def assert_snapshot_listed_stateful(daemon, client, name, snap, stateful=True):
    info = client_run(daemon, client, "info", name).stdout
    row = [l for l in info.splitlines() if f" {snap} " in l or f"{snap} (" in l.strip()]
    assert row, f"{client} info {name} does not list {snap}:\n{info}"
    if stateful:
        assert "YES" in row[0] or "(stateful)" in row[0], f"{snap} not shown stateful:\n{info}"
    else:
        assert "NO" in row[0] or "(stateless)" in row[0], f"{snap} not shown stateless:\n{info}"


def test_mode_is_in_effect(daemon, mode):
    name = launch(daemon, "modecheck")
    uid_map = daemon.lxc("exec", name, "--", "cat", "/proc/self/uid_map").stdout.split()
    assert (uid_map[1] == "0") == (mode == "privileged"), uid_map
    delete(daemon, name)


# --- 1. stateful snapshot keeps the container running ----------------------------

@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_stateful_snapshot_keeps_running(daemon, workload_bin, client):
    name = launch(daemon, f"snap-{client}")
    w = Workload(daemon, name, workload_bin).start()
    w.assert_pass(what="start")
    init_before = daemon.init_pid(name)
    dumps_before = criu_logs(daemon, name, "snapshot_dump_")

    client_run(daemon, client, "snapshot", name, "s1", "--stateful")

    assert status_of(daemon, name)[0] == "Running"
    assert freezer_state(daemon, name) == "THAWED"
    assert daemon.init_pid(name) == init_before, "the snapshot restarted the container"
    w.assert_pass(what="a stateful snapshot (leave running)")
    w.assert_alive_inside()

    snaps = snapshots_of(daemon, name)
    assert snaps["s1"]["stateful"] is True, snaps["s1"]
    assert snaps["s1"].get("created_at"), snaps["s1"]
    assert_snapshot_listed_stateful(daemon, client, name, "s1")
    sdir = snapshot_dir(daemon, name, "s1")
    assert os.path.isdir(os.path.join(sdir, "rootfs")), os.listdir(sdir)
    assert os.path.exists(os.path.join(sdir, "rootfs", "cr", "ready")), "the snapshot's rootfs is not the container's"
    assert_images(os.path.join(sdir, "state"))

    new_logs = sorted(set(criu_logs(daemon, name, "snapshot_dump_")) - set(dumps_before))
    assert len(new_logs) == 1, f"expected one new snapshot_dump_*.log: {os.listdir(logs_dir(daemon, name))}"
    with open(os.path.join(logs_dir(daemon, name), new_logs[0]), errors="replace") as f:
        log = f.read()
    assert "Dumping finished successfully" in log, log[-2000:]

    inst = daemon.instance(name)
    assert inst.get("last_dump", {}).get("stats", {}).get("frozen_time", 0) > 0, inst.get("last_dump")
    if client == "ferry":
        info = daemon.ferry("info", name).stdout
        assert "Last checkpoint" in info and "snapshot (s1)" in info, info
    delete(daemon, name)


# --- 2. restore of a stateful snapshot -------------------------------------------

@pytest.mark.parametrize("client,mib", [("lxc", 64), ("ferry", 512)])
def test_restore_stateful_snapshot(daemon, workload_bin, client, mib):
    """The processes and memory come back as they were at the snapshot; the services,
    hostname, console and cgroup limits with them. The 512 MiB case runs once."""
    limit = str(1536 * 1024 * 1024)
    name = launch(daemon, f"rest-{client}", config={"limits.memory": limit})
    w = Workload(daemon, name, workload_bin, mib=mib).start()
    procs_before = processes_inside(daemon, name)
    svc_before = services(procs_before)
    assert set(svc_before) == {"init", "syslogd", "crond", "httpd"}, procs_before
    hostname_before = daemon.lxc("exec", name, "--", "hostname").stdout.strip()

    # Taken while the workload waits for round 1.
    client_run(daemon, client, "snapshot", name, "before", "--stateful")
    w.assert_pass(1, what="the snapshot")
    with open(os.path.join(rootfs(daemon, name), "after-snapshot"), "w") as f:
        f.write("written after the snapshot\n")

    client_run(daemon, client, "restore", name, "before")

    assert status_of(daemon, name)[0] == "Running", fail_detail(daemon, name)
    # The rootfs is the snapshot's: round 1 had not run and the later file is gone.
    assert not os.path.exists(w.path("result.1")) and not os.path.exists(w.path("go.1"))
    assert not os.path.exists(os.path.join(rootfs(daemon, name), "after-snapshot"))
    # The memory is the snapshot's: the workload waits for round 1 again.
    w.assert_pass(1, what="restoring the stateful snapshot")

    procs_after = processes_inside(daemon, name)
    assert services(procs_after) == svc_before, f"before {procs_before}\nafter {procs_after}"
    for pid in w.pids:
        assert procs_after.get(pid) == procs_before[pid], f"before {procs_before}\nafter {procs_after}"
    assert svc_before["init"] == 1
    page = daemon.lxc("exec", name, "--", "wget", "-qO-", "http://127.0.0.1/").stdout
    assert "Ferry built-in busybox container" in page, page
    assert daemon.lxc("exec", name, "--", "hostname").stdout.strip() == hostname_before == name

    marker = f"console-after-restore-{client}-{time.monotonic_ns()}"
    daemon.lxc("exec", name, "--", "sh", "-c", f"echo {marker} > /dev/console")
    wait_until(lambda: marker in console(daemon, name), "the console log to continue after the restore")
    log = console(daemon, name)
    assert log.index("boot complete") < log.index(marker), "console log restarted"

    assert cgroup_limit(daemon.init_pid(name), "memory", "memory.limit_in_bytes", "memory.max") == limit
    # Every restored process is in the container's cgroup (where the limit is).
    init_cg = open(f"/proc/{daemon.init_pid(name)}/cgroup").read()
    assert f"/{name}" in init_cg, init_cg

    inst = daemon.instance(name)
    assert inst.get("last_restore", {}).get("stats", {}).get("restore_time", 0) > 0, inst.get("last_restore")
    assert criu_logs(daemon, name, "restore_"), os.listdir(logs_dir(daemon, name))
    if client == "ferry":
        assert "Last restore" in daemon.ferry("info", name).stdout
    delete(daemon, name)


# --- 3. stateless snapshot restore: rootfs back, cold boot -----------------------

@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_stateless_restore_boots_cold(daemon, workload_bin, client):
    name = launch(daemon, f"cold-{client}")
    w = Workload(daemon, name, workload_bin).start()
    with open(os.path.join(rootfs(daemon, name), "content"), "w") as f:
        f.write("original\n")
    client_run(daemon, client, "snapshot", name, "plain")
    snaps = snapshots_of(daemon, name)
    assert snaps["plain"]["stateful"] is False, snaps["plain"]
    assert not os.path.exists(os.path.join(snapshot_dir(daemon, name, "plain"), "state"))
    assert_snapshot_listed_stateful(daemon, client, name, "plain", stateful=False)
    w.assert_pass(what="a stateless snapshot")
    init_before = daemon.init_pid(name)
    with open(os.path.join(rootfs(daemon, name), "content"), "w") as f:
        f.write("changed\n")
    boots = console(daemon, name).count("boot complete")

    client_run(daemon, client, "restore", name, "plain")

    with open(os.path.join(rootfs(daemon, name), "content")) as f:
        assert f.read() == "original\n"
    assert status_of(daemon, name)[0] == "Running"
    assert daemon.init_pid(name) != init_before, "the same init runs: not a cold boot"
    wait_until(lambda: console(daemon, name).count("boot complete") > boots, "a second boot on the console")
    procs = processes_inside(daemon, name)
    assert not any("cr-state" in a for a in procs.values()), f"processes survived a stateless restore: {procs}"
    assert set(services(procs)) == {"init", "syslogd", "crond", "httpd"}, procs
    delete(daemon, name)


# --- 4. stateful stop / start ------------------------------------------------------

@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_stateful_stop_then_start_resumes(daemon, workload_bin, client):
    name = launch(daemon, f"stop-{client}")
    w = Workload(daemon, name, workload_bin).start()
    w.assert_pass(what="start")
    svc_before = services(processes_inside(daemon, name))

    client_run(daemon, client, "stop", name, "--stateful")

    assert status_of(daemon, name) == ("Stopped", True)
    assert_images(state_dir(daemon, name))
    assert criu_logs(daemon, name, "stop_dump_") or criu_logs(daemon, name, "stop"), \
        os.listdir(logs_dir(daemon, name))

    client_run(daemon, client, "start", name)

    assert status_of(daemon, name) == ("Running", False)
    assert not os.path.exists(state_dir(daemon, name)), "state dir kept after a stateful start"
    w.assert_pass(what="stateful stop and start")
    w.assert_alive_inside()
    assert services(processes_inside(daemon, name)) == svc_before
    delete(daemon, name)


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_start_stateless_discards_saved_state(daemon, workload_bin, client):
    name = launch(daemon, f"drop-{client}")
    Workload(daemon, name, workload_bin).start()
    client_run(daemon, client, "stop", name, "--stateful")
    assert status_of(daemon, name) == ("Stopped", True)
    boots = console(daemon, name).count("boot complete")

    client_run(daemon, client, "start", name, "--stateless")

    assert status_of(daemon, name) == ("Running", False)
    assert not os.path.exists(state_dir(daemon, name))
    wait_until(lambda: console(daemon, name).count("boot complete") > boots, "a cold boot on the console")
    procs = processes_inside(daemon, name)
    assert not any("cr-state" in a for a in procs.values()), procs
    delete(daemon, name)


# --- 5. failures -------------------------------------------------------------------

@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_dump_failure_leaves_container_running(daemon, workload_bin, client):
    """CRIU refuses a process holding an external unix socket: the snapshot fails with
    CRIU's Error lines and the log's path; nothing half-made is left, and the container
    runs on, thawed, with its workload intact."""
    name = launch(daemon, f"dumpfail-{client}")
    w = Workload(daemon, name, workload_bin).start()
    listener, _ = hold_external_socket(daemon, name, workload_bin)
    try:
        init_before = daemon.init_pid(name)
        cp = client_run(daemon, client, "snapshot", name, "broken", "--stateful", check=False)
        assert cp.returncode != 0, f"the snapshot succeeded:\n{cp.stdout}{cp.stderr}"
        err = cp.stderr
        assert "Error (" in err, f"CRIU's Error lines not quoted:\n{err}"
        assert "External socket" in err or "unix" in err, err
        logs = criu_logs(daemon, name, "snapshot_dump_")
        assert logs and os.path.join(logs_dir(daemon, name), logs[-1]) in err, \
            f"the log is not named ({logs}):\n{err}"
        with open(os.path.join(logs_dir(daemon, name), logs[-1]), errors="replace") as f:
            assert "Dumping FAILED" in f.read()

        assert status_of(daemon, name)[0] == "Running"
        assert daemon.init_pid(name) == init_before
        assert freezer_state(daemon, name) == "THAWED"
        assert "broken" not in snapshots_of(daemon, name)
        assert not os.path.exists(snapshot_dir(daemon, name, "broken")), \
            os.listdir(os.path.dirname(snapshot_dir(daemon, name, "broken")))
        w.assert_pass(what="a failed dump")
        w.assert_alive_inside()

        # The same error through the raw API.
        status, text = api_error(daemon, "POST", f"/1.0/instances/{name}/snapshots",
                                 {"name": "broken2", "stateful": True})
        assert status >= 400 and "Error (" in text, (status, text)
        assert "broken2" not in snapshots_of(daemon, name)
    finally:
        listener.close()
    delete(daemon, name)


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_restore_failure_after_stateful_stop_keeps_state(daemon, workload_bin, client):
    name = launch(daemon, f"startfail-{client}")
    w = Workload(daemon, name, workload_bin).start()
    client_run(daemon, client, "stop", name, "--stateful")
    image = os.path.join(state_dir(daemon, name), "pstree.img")
    corrupt(image)
    files_before = sorted(os.listdir(state_dir(daemon, name)))

    cp = client_run(daemon, client, "start", name, check=False)

    assert cp.returncode != 0, cp.stdout + cp.stderr
    assert "Error (" in cp.stderr, f"CRIU not quoted:\n{cp.stderr}"
    logs = criu_logs(daemon, name, "restore_")
    assert logs and os.path.join(logs_dir(daemon, name), logs[-1]) in cp.stderr, (logs, cp.stderr)
    assert status_of(daemon, name) == ("Stopped", True), fail_detail(daemon, name)
    assert sorted(os.listdir(state_dir(daemon, name))) == files_before, "the saved state changed"

    repair(image)
    client_run(daemon, client, "start", name)
    assert status_of(daemon, name) == ("Running", False)
    w.assert_pass(what="a failed restore, repaired and retried")

    # Failing again, `start --stateless` boots cold and drops the state.
    client_run(daemon, client, "stop", name, "--stateful")
    corrupt(image)
    assert client_run(daemon, client, "start", name, check=False).returncode != 0
    assert status_of(daemon, name) == ("Stopped", True)
    client_run(daemon, client, "start", name, "--stateless")
    assert status_of(daemon, name) == ("Running", False)
    assert not os.path.exists(state_dir(daemon, name))
    delete(daemon, name)


def test_restore_failure_of_snapshot_keeps_snapshot(daemon, workload_bin):
    name = launch(daemon, "snaprestfail")
    w = Workload(daemon, name, workload_bin).start()
    daemon.lxc("snapshot", name, "s", "--stateful", timeout=CR_TIMEOUT)
    image = os.path.join(snapshot_dir(daemon, name, "s"), "state", "pstree.img")
    corrupt(image)

    cp = daemon.lxc("restore", name, "s", check=False, timeout=CR_TIMEOUT)

    assert cp.returncode != 0, cp.stdout + cp.stderr
    assert "Error (" in cp.stderr and "restore_" in cp.stderr, cp.stderr
    assert status_of(daemon, name)[0] == "Stopped", fail_detail(daemon, name)
    assert snapshots_of(daemon, name)["s"]["stateful"] is True
    repair(image)
    daemon.lxc("restore", name, "s", timeout=CR_TIMEOUT)
    assert status_of(daemon, name)[0] == "Running"
    w.assert_pass(what="a failed snapshot restore, repaired and retried")
    delete(daemon, name)


def test_exec_session_refuses_stateful_snapshot(daemon, workload_bin):
    name = launch(daemon, "execsess")
    w = Workload(daemon, name, workload_bin).start()
    end = os.path.join(rootfs(daemon, name), "end-exec")
    env = dict(os.environ, LXD_DIR=daemon.root, LXD_CONF=daemon.lxd_conf)
    session = subprocess.Popen(
        [LXC, "exec", name, "--", "sh", "-c", "touch /exec-started; while [ ! -e /end-exec ]; do sleep 0.1; done"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: os.path.exists(os.path.join(rootfs(daemon, name), "exec-started")), "the exec session")
        logs_before = os.listdir(logs_dir(daemon, name))

        cp = daemon.lxc("snapshot", name, "during-exec", "--stateful", check=False, timeout=CR_TIMEOUT)
        assert cp.returncode != 0, cp.stdout
        assert "exec session" in cp.stderr, cp.stderr
        status, text = api_error(daemon, "POST", f"/1.0/instances/{name}/snapshots",
                                 {"name": "during-exec", "stateful": True})
        assert status == 409 and "exec session" in text, (status, text)
        cp = daemon.ferry("stop", name, "--stateful", check=False, timeout=CR_TIMEOUT)
        assert cp.returncode != 0 and "exec session" in cp.stderr, cp.stderr

        assert "during-exec" not in snapshots_of(daemon, name)
        assert not os.path.exists(snapshot_dir(daemon, name, "during-exec"))
        assert not os.path.exists(state_dir(daemon, name))
        assert status_of(daemon, name) == ("Running", False)
        assert freezer_state(daemon, name) == "THAWED"
        new_logs = set(os.listdir(logs_dir(daemon, name))) - set(logs_before)
        assert not [f for f in new_logs if "dump" in f], new_logs
    finally:
        open(end, "w").close()
        session.wait(timeout=30)
    w.assert_pass(what="refused checkpoints")
    # Once the session ended, the snapshot works.
    daemon.lxc("snapshot", name, "after-exec", "--stateful", timeout=CR_TIMEOUT)
    assert snapshots_of(daemon, name)["after-exec"]["stateful"] is True
    delete(daemon, name)


# --- 6. many cycles; snapshot management --------------------------------------------

def test_ten_snapshot_restore_cycles(daemon, workload_bin):
    name = launch(daemon, "cycles")
    w = Workload(daemon, name, workload_bin).start()
    for i in range(1, 11):
        client = "lxc" if i % 2 else "ferry"
        client_run(daemon, client, "snapshot", name, f"c{i}", "--stateful")
        w.assert_pass(i, what=f"snapshot c{i} (cycle {i}, {client})")
        client_run(daemon, client, "restore", name, f"c{i}")
        assert status_of(daemon, name)[0] == "Running", fail_detail(daemon, name)
        # Back to the instant of c{i}: round i runs again, then round i+1 follows.
        w.assert_pass(i, what=f"restore of c{i} (cycle {i}, {client})")
    w.assert_alive_inside()
    snaps = snapshots_of(daemon, name)
    assert sorted(snaps) == sorted(f"c{i}" for i in range(1, 11)) and all(s["stateful"] for s in snaps.values())
    # An older snapshot still restores after newer ones were taken and restored.
    daemon.lxc("restore", name, "c3", timeout=CR_TIMEOUT)
    w.assert_pass(3, what="restore of c3 after ten cycles")
    delete(daemon, name)


def test_snapshot_rootfs_is_the_freeze_instant(daemon, workload_bin):
    """A stateful snapshot's rootfs copy is made before the freeze, and only what changed
    since is copied in it (src/checkpoint/rootfs-copy.c). Files rewritten, made, renamed
    and deleted every 20 ms (test_migration's churn), and a file written through a shared
    mapping every millisecond (writes into a dirty page set no time on the file: the tree
    state cannot see them, the copy takes every file the tree maps so), come back from each
    restore as they were at the freeze: the churn finds what its last cycle left, the
    mapping's writer finds in the file the count its memory holds."""
    name = launch(daemon, "freezecopy")
    root = rootfs(daemon, name)
    os.makedirs(os.path.join(root, "cr", "m"))
    shutil.copy2(workload_bin, os.path.join(root, "cr", "cr-state"))
    with open(os.path.join(root, "churn.sh"), "w") as f:
        f.write(CHURN)
    daemon.lxc("exec", name, "--", "sh", "-c", "setsid sh /churn.sh listed </dev/null >/dev/null 2>&1 &")
    daemon.lxc("exec", name, "--", "sh", "-c", "setsid /cr/cr-state mapped /cr/m </dev/null >/dev/null 2>&1 &")

    def in_rootfs(path):
        return os.path.join(rootfs(daemon, name), path)

    def churn_done():
        try:
            with open(in_rootfs("churn/done")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    wait_until(lambda: churn_done() > 2 and os.path.exists(in_rootfs("cr/m/ready")), "the churn and the writer")
    # The mapped page dirty for a while: its writes set no time from here on.
    time.sleep(0.5)
    for k in range(1, 4):
        daemon.lxc("snapshot", name, f"f{k}", "--stateful", timeout=CR_TIMEOUT)
        daemon.lxc("restore", name, f"f{k}", timeout=CR_TIMEOUT)
        open(in_rootfs(f"cr/m/go.{k}"), "w").close()
        wait_until(lambda: os.path.exists(in_rootfs(f"cr/m/result.{k}")), f"the writer's round {k}")
        with open(in_rootfs(f"cr/m/result.{k}")) as f:
            result = f.read().strip()
        assert result == f"PASS {k}", f"{result}\n{fail_detail(daemon, name)}"
        n = churn_done()
        wait_until(lambda: churn_done() > n + 3, "the churn to go on after the restore")
        assert not os.path.exists(in_rootfs("churn-bad")), open(in_rootfs("churn-bad")).read()
    daemon.lxc("exec", name, "--", "touch", "/churn-stop")
    delete(daemon, name)


def test_queued_message_with_credentials(daemon, workload_bin):
    """A message queued on a unix socket whose owner set SO_PASSCRED (journald's sockets,
    systemd's notify socket; SO_PASSPIDFD too on this kernel) goes through every dump with
    its sender's credentials (patches/criu/0014): CRIU refused such a dump ("Control
    messages in queue, not supported"), so a Debian container's snapshot, stop or move
    failed whenever one was queued at the freeze. It comes back from a restore and from a
    stateful stop and start naming its sender as the container sees it: its pid, uid and
    gid 1000."""
    name = launch(daemon, "credq")
    start_queued_creds(daemon, name, workload_bin)
    assert_queued_creds(daemon, name, 1, "before any dump")
    daemon.lxc("snapshot", name, "q1", "--stateful", timeout=CR_TIMEOUT)
    assert_queued_creds(daemon, name, 2, "after a stateful snapshot")
    daemon.lxc("restore", name, "q1", timeout=CR_TIMEOUT)
    assert_queued_creds(daemon, name, 2, "after the snapshot's restore")  # the rootfs has no go.2 again
    daemon.lxc("stop", name, "--stateful", timeout=CR_TIMEOUT)
    daemon.lxc("start", name, timeout=CR_TIMEOUT)
    assert_queued_creds(daemon, name, 3, "after a stateful stop and start")
    delete(daemon, name)


def test_delete_and_rename_stateful_snapshots(daemon, workload_bin):
    name = launch(daemon, "snapmgmt")
    w = Workload(daemon, name, workload_bin).start()
    for s in ("a", "b", "c"):
        daemon.lxc("snapshot", name, s, "--stateful", timeout=CR_TIMEOUT)

    daemon.lxc("rename", f"{name}/a", f"{name}/a2")
    daemon.ferry("rename", f"{name}/b", f"{name}/b2")
    snaps = snapshots_of(daemon, name)
    assert sorted(snaps) == ["a2", "b2", "c"] and all(s["stateful"] for s in snaps.values()), snaps
    for old, new in (("a", "a2"), ("b", "b2")):
        assert not os.path.exists(snapshot_dir(daemon, name, old))
        assert_images(os.path.join(snapshot_dir(daemon, name, new), "state"))

    daemon.lxc("delete", f"{name}/c")
    daemon.ferry("delete", f"{name}/a2")
    assert sorted(snapshots_of(daemon, name)) == ["b2"]
    assert not os.path.exists(snapshot_dir(daemon, name, "c"))
    assert not os.path.exists(snapshot_dir(daemon, name, "a2"))

    # The renamed snapshot still restores statefully.
    daemon.ferry("restore", name, "b2", timeout=CR_TIMEOUT)
    w.assert_pass(1, what="restore of a renamed stateful snapshot")

    snaps_dir = os.path.dirname(snapshot_dir(daemon, name, "b2"))
    assert os.path.isdir(snaps_dir)
    delete(daemon, name)
    assert not os.path.exists(snaps_dir), f"{snaps_dir} left after deleting {name}: {os.listdir(snaps_dir)}"
    assert not os.path.exists(os.path.join(daemon.root, "containers", name))


# --- 7. bug report ------------------------------------------------------------------

def test_report_tarball(daemon, workload_bin):
    name = launch(daemon, "report")
    Workload(daemon, name, workload_bin).start()
    daemon.lxc("snapshot", name, "s", "--stateful", timeout=CR_TIMEOUT)
    out_dir = tmpdir()
    try:
        out = os.path.join(out_dir, "report.tar.gz")
        daemon.ferry("report", name, "--output", out, timeout=CR_TIMEOUT)
        with tarfile.open(out) as t:
            members = t.getnames()
            base = {m.split("/", 1)[1] if "/" in m else m for m in members}
            for want in ("host-info.json", "instance-info.json", "expanded-config.json", "dmesg.txt",
                         "host-mountinfo.txt", "container-mountinfo.txt", "uname.txt", "ferryd.log"):
                assert want in base, f"{want} not in the report: {sorted(base)}"
            assert any(b.startswith("network-") and b.endswith(".txt") for b in base), sorted(base)
            assert any(b.startswith("logs/") for b in base), sorted(base)
            assert any(b.startswith("logs/") and "snapshot_dump_" in b for b in base), sorted(base)

            def read(suffix):
                m = next(m for m in members if m.endswith(suffix))
                return t.extractfile(m).read().decode(errors="replace")

            assert name in read("instance-info.json")
            assert "Linux" in read("uname.txt")
            assert " / " in read("container-mountinfo.txt")
        # The same bundle over the API.
        status, body = daemon.request("GET", f"/1.0/instances/{name}/report")
        assert status == 200 and body[:2] == b"\x1f\x8b", (status, body[:200])
    finally:
        subprocess.run(["rm", "-rf", out_dir], stdin=subprocess.DEVNULL, timeout=30)
    delete(daemon, name)


# --- control: the workload's checks bite ----------------------------------------------

def host_pid_of(daemon, name, pid_inside):
    """Host PID of the process that is PID_INSIDE in NAME's PID namespace."""
    ns = os.readlink(f"/proc/{daemon.init_pid(name)}/ns/pid")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            with open(f"/proc/{entry}/status") as f:
                nspid = next(l for l in f if l.startswith("NSpid:")).split()
            if int(nspid[-1]) == pid_inside:
                return int(entry)
        except (OSError, StopIteration):
            continue
    raise AssertionError(f"no host PID for {pid_inside} in {name}")


def test_workload_detects_changed_memory(daemon, workload_bin):
    """Without this, a PASS proves nothing: flip one byte of the workload's buffer
    (through /proc/PID/mem, from the host) and the next round must FAIL."""
    name = launch(daemon, "control")
    w = Workload(daemon, name, workload_bin).start()
    w.assert_pass(what="start")
    pid = host_pid_of(daemon, name, w.pids[0])
    want = 64 * 1024 * 1024
    with open(f"/proc/{pid}/maps") as f:
        region = next(l for l in f if (lambda a, b: b - a == want)(*(int(x, 16) for x in l.split()[0].split("-"))))
    addr = int(region.split("-")[0], 16) + 12345
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
        mem.seek(addr)
        byte = mem.read(1)
        mem.seek(addr)
        mem.write(bytes([byte[0] ^ 0xFF]))
    text = w.verify()
    assert text.startswith("FAIL") and "memory checksum" in text, text
    delete(daemon, name)
