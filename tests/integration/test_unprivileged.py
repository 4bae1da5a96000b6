"""Unprivileged containers (issue 11, first steps): `security.privileged=false` puts the
container in a user namespace whose root is an unprivileged host uid (root's range in
/etc/subuid and /etc/subgid, else LXD's 1000000/1000000000), its rootfs idmapped (the
image's files stay on-disk root's). It boots, execs, and survives stateful snapshots,
restores and stateful stop/start as the same unprivileged tree. Driven through the stock
`lxc` client and `ferry`. (Privileged stays the default for now.)"""

import json
import os

import pytest

from checkpoint_helpers import CR_TIMEOUT, console, delete, fail_detail, rootfs, status_of
from conftest import wait_until


def host_range():
    """ferryd's rule (src/daemon/config.c): root's entries when both files agree."""
    entries = []
    for path in ("/etc/subuid", "/etc/subgid"):
        found = None
        try:
            with open(path) as f:
                for line in f:
                    fields = line.strip().split(":")
                    if len(fields) == 3 and fields[0] == "root":
                        found = (int(fields[1]), int(fields[2]))
                        break
        except OSError:
            pass
        entries.append(found)
    if entries[0] is not None and entries[0] == entries[1]:
        return entries[0]
    return 1000000, 1000000000


def host_ids(pid):
    with open(f"/proc/{pid}/status") as f:
        lines = dict(line.split(":", 1) for line in f if ":" in line)
    return int(lines["Uid"].split()[1]), int(lines["Gid"].split()[1])


@pytest.fixture(params=["lxc", "ferry"])
def unpriv(daemon, request):
    name = f"unpriv-{request.param}"
    client = daemon.lxc if request.param == "lxc" else daemon.ferry
    client("launch", "busybox", name, "-c", "security.privileged=false", timeout=CR_TIMEOUT)
    wait_until(lambda: "boot complete" in console(daemon, name), f"{name} to boot")
    yield name, client
    delete(daemon, name)


def assert_unprivileged(daemon, name, base, size):
    assert host_ids(daemon.init_pid(name)) == (base, base), "the init is not the unprivileged root"
    out = daemon.lxc("exec", name, "--", "cat", "/proc/self/uid_map", "/proc/self/gid_map").stdout.split()
    assert out == ["0", str(base), str(size)] * 2, out
    out = daemon.lxc("exec", name, "--", "sh", "-c", "ls -ln /bin/busybox; grep ' / ' /proc/self/mountinfo").stdout
    assert out.split()[2:4] == ["0", "0"], out
    assert "idmapped" in out, out


def test_unprivileged_boot_exec_and_stateful_operations(daemon, unpriv):
    name, client = unpriv
    base, size = host_range()
    assert_unprivileged(daemon, name, base, size)
    config = daemon.api_ok("GET", f"/1.0/instances/{name}")["config"]
    current = json.loads(config["volatile.idmap.current"])
    assert current[0] == {"Isuid": True, "Isgid": False, "Hostid": base, "Nsid": 0, "Maprange": size}, current
    assert config["volatile.idmap.base"] == str(base)
    # What it writes is on-disk root's: the rootfs is never shifted.
    daemon.lxc("exec", name, "--", "sh", "-c", "echo before > /state")
    assert os.stat(os.path.join(rootfs(daemon, name), "state")).st_uid == 0
    # A process of its own tree that must come back the same.
    daemon.lxc("exec", name, "--", "sh", "-c",
               "setsid sh -c 'echo $$ > /tmp/ticker.pid; i=0; while :; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.2; "
               "done' </dev/null >/dev/null 2>&1 &")
    wait_until(lambda: os.path.exists(os.path.join(rootfs(daemon, name), "tmp/tick")), "the ticker")
    ticker = daemon.lxc("exec", name, "--", "cat", "/tmp/ticker.pid").stdout.strip()

    client("snapshot", name, "s1", "--stateful", timeout=CR_TIMEOUT)
    client("restore", name, "s1", timeout=CR_TIMEOUT)
    assert status_of(daemon, name)[0] == "Running", fail_detail(daemon, name)
    assert_unprivileged(daemon, name, base, size)
    client("stop", name, "--stateful", timeout=CR_TIMEOUT)
    client("start", name, timeout=CR_TIMEOUT)
    assert status_of(daemon, name)[0] == "Running", fail_detail(daemon, name)
    assert_unprivileged(daemon, name, base, size)
    out = daemon.lxc("exec", name, "--", "sh", "-c", f"cat /state; test -d /proc/{ticker} && echo alive").stdout.split()
    assert out == ["before", "alive"], f"the tree did not come back as it was: {out} (ticker {ticker})"
    tick = lambda: int(open(os.path.join(rootfs(daemon, name), "tmp/tick")).read().strip() or 0)
    first = tick()
    wait_until(lambda: tick() > first, "the ticker to go on after the restore")


def test_unprivileged_root_cannot_reach_the_host(daemon, unpriv):
    name, _ = unpriv
    attacks = {
        "mknod of the host's disk": "busybox mknod /sda b 8 0",
        "a host sysctl through its own /proc/sys": "mount -o remount,rw /proc/sys && echo 4242 > /proc/sys/kernel/panic",
        "module loading": "echo x > /proc/sys/kernel/modprobe",
    }
    with open("/proc/sys/kernel/panic") as f:
        panic = f.read()
    for what, script in attacks.items():
        cp = daemon.lxc("exec", name, "--", "sh", "-c", script, check=False)
        assert cp.returncode != 0, f"{what} worked: {cp.stdout} {cp.stderr}"
    with open("/proc/sys/kernel/panic") as f:
        assert f.read() == panic
