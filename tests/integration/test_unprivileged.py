"""Unprivileged containers (issue 11), the default as in LXD: a container runs in a user
namespace whose root is an unprivileged host uid (root's range in /etc/subuid and
/etc/subgid, else LXD's 1000000/1000000000), its rootfs idmapped (the image's files stay
on-disk root's). It boots, execs, and survives stateful snapshots, restores and stateful
stop/start as the same unprivileged tree. security.idmap.isolated/size/base and raw.idmap
choose the map as LXD 5.0 does, recorded in LXD's volatile.idmap.* keys; a database from
before keeps its containers privileged. Driven through the stock `lxc` client and `ferry`."""

import json
import os
import sqlite3

import pytest

from checkpoint_helpers import CR_TIMEOUT, console, delete, fail_detail, rootfs, status_of
from conftest import host_range, wait_until


def host_ids(pid):
    with open(f"/proc/{pid}/status") as f:
        lines = dict(line.split(":", 1) for line in f if ":" in line)
    return int(lines["Uid"].split()[1]), int(lines["Gid"].split()[1])


@pytest.fixture(params=["lxc", "ferry"])
def unpriv(daemon, request):
    name = f"unpriv-{request.param}"
    client = daemon.lxc if request.param == "lxc" else daemon.ferry
    client("launch", "busybox", name, timeout=CR_TIMEOUT)  # unprivileged by default
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
    assert current == [{"Isuid": True, "Isgid": False, "Hostid": base, "Nsid": 0, "Maprange": size},
                       {"Isuid": False, "Isgid": True, "Hostid": base, "Nsid": 0, "Maprange": size}], current
    # LXD's keys: base 0 when not isolated, the rootfs never shifted on disk.
    assert config["volatile.idmap.next"] == config["volatile.idmap.current"]
    assert config["volatile.idmap.base"] == "0"
    assert config["volatile.last_state.idmap"] == "[]"
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


def test_namespaces_and_devices_as_lxd_gives_them(daemon, unpriv):
    """Its own user, pid, mount, net, uts, ipc and cgroup namespaces; /dev with the usual
    nodes only (binds of the host's: a user namespace may not mknod), no block device."""
    name, _ = unpriv
    pid = daemon.init_pid(name)
    for ns in ("user", "pid", "mnt", "net", "uts", "ipc", "cgroup"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), f"{ns} is the host's"
    out = daemon.lxc("exec", name, "--", "sh", "-c", "cat /proc/self/cgroup; ls -ln /dev").stdout
    assert "0::/\n" in out or ":/\n" in out, out  # the root of its own cgroup namespace
    nodes = {line.split()[-1]: line[0] for line in out.splitlines() if line[:1] in ("b", "c")}
    assert set(nodes) <= {"null", "zero", "full", "random", "urandom", "tty", "console", "ptmx"}, nodes
    assert "b" not in nodes.values(), nodes
    for node in ("null", "zero", "full", "random", "urandom", "tty"):
        assert node in nodes, f"/dev/{node} missing: {out}"
    cp = daemon.lxc("exec", name, "--", "sh", "-c", "mknod /tmp/sda b 8 0", check=False)
    assert cp.returncode != 0, "mknod worked in a user namespace"


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


def uid_map(daemon, name):
    out = daemon.lxc("exec", name, "--", "cat", "/proc/self/uid_map").stdout
    return [line.split() for line in out.strip().splitlines()]


def idmap_keys(daemon, name):
    config = daemon.api_ok("GET", f"/1.0/instances/{name}")["config"]
    return {k: v for k, v in config.items() if "idmap" in k}


def launch(daemon, name, *config):
    args = []
    for kv in config:
        args += ["-c", kv]
    daemon.lxc("launch", "busybox", name, *args, timeout=CR_TIMEOUT)
    wait_until(lambda: "boot complete" in console(daemon, name), f"{name} to boot")


def test_privileged_on_request(daemon):
    """The old mode on request; create records LXD's keys before any start."""
    name = "priv"
    daemon.lxc("init", "busybox", name, "-c", "security.privileged=true")
    keys = idmap_keys(daemon, name)
    assert keys == {"volatile.idmap.base": "0", "volatile.idmap.next": "[]", "volatile.last_state.idmap": "[]"}, keys
    daemon.lxc("start", name, timeout=CR_TIMEOUT)
    try:
        assert uid_map(daemon, name) == [["0", "0", "4294967295"]]
        assert host_ids(daemon.init_pid(name)) == (0, 0)
        assert idmap_keys(daemon, name)["volatile.idmap.current"] == "[]"
    finally:
        delete(daemon, name)


def test_isolated_maps_do_not_overlap(daemon):
    """security.idmap.isolated: each container its own 65536 ids after the first 65536 of
    root's range, in the first free gap, as LXD; size and base as asked; the map is
    chosen at create, kept while it fits, and a restore brings back the checkpoint's."""
    base, size = host_range()
    names = ["iso1", "iso2", "iso3"]
    try:
        launch(daemon, "iso1", "security.idmap.isolated=true")
        launch(daemon, "iso2", "security.idmap.isolated=true", "security.idmap.size=100000")
        daemon.lxc("init", "busybox", "iso3", "-c", "security.idmap.isolated=true")
        first = base + 65536
        assert uid_map(daemon, "iso1") == [["0", str(first), "65536"]]
        assert uid_map(daemon, "iso2") == [["0", str(first + 65536), "100000"]]
        assert idmap_keys(daemon, "iso3")["volatile.idmap.base"] == str(first + 65536 + 100000)
        assert host_ids(daemon.init_pid("iso1")) == (first, first)
        # Files inside are still root's, its processes the isolated range's.
        out = daemon.lxc("exec", "iso2", "--", "ls", "-ln", "/bin/busybox").stdout.split()
        assert out[2:4] == ["0", "0"], out
        # Deleting iso1 frees its range for the next isolated container.
        delete(daemon, "iso1")
        names.remove("iso1")
        daemon.lxc("init", "busybox", "iso4", "-c", "security.idmap.isolated=true")
        names.append("iso4")
        assert idmap_keys(daemon, "iso4")["volatile.idmap.base"] == str(first)
        # An explicit base is taken as given.
        daemon.lxc("config", "set", "iso3", "security.idmap.base", str(base + 5000000))
        keys = idmap_keys(daemon, "iso3")
        assert keys["volatile.idmap.base"] == str(base + 5000000), keys
        assert json.loads(keys["volatile.idmap.next"])[0]["Hostid"] == base + 5000000
        # More ids than the range holds: a clear error, nothing changed.
        cp = daemon.lxc("config", "set", "iso4", "security.idmap.size", str(size), check=False)
        assert cp.returncode != 0 and "Not enough uid/gid available" in cp.stderr, cp.stderr
        assert "security.idmap.size" not in daemon.api_ok("GET", "/1.0/instances/iso4")["config"]
        # A stateful stop, a config change, a start: the checkpoint's map comes back;
        # the new map at the next cold start.
        daemon.lxc("stop", "iso2", "--stateful", timeout=CR_TIMEOUT)
        daemon.lxc("config", "set", "iso2", "security.idmap.isolated", "false")
        assert json.loads(idmap_keys(daemon, "iso2")["volatile.idmap.next"])[0]["Hostid"] == base
        daemon.lxc("start", "iso2", timeout=CR_TIMEOUT)
        assert uid_map(daemon, "iso2") == [["0", str(first + 65536), "100000"]]
        daemon.lxc("restart", "iso2", "--force", timeout=CR_TIMEOUT)
        assert uid_map(daemon, "iso2") == [["0", str(base), str(size)]]
    finally:
        for n in names:
            delete(daemon, n)


def test_raw_idmap(daemon):
    """raw.idmap maps chosen ids through (LXD's AddSafe split); the rootfs's on-disk
    owners are seen through the same map."""
    base, size = host_range()
    name = "rawmap"
    launch(daemon, name, "raw.idmap=both 1000 1000")
    try:
        assert uid_map(daemon, name) == [["0", str(base), "1000"], ["1000", "1000", "1"],
                                         ["1001", str(base + 1001), str(size - 1001)]]
        root = rootfs(daemon, name)
        for f, uid in (("mapped", 1000), ("other", 1001)):
            with open(os.path.join(root, f), "w"):
                pass
            os.chown(os.path.join(root, f), uid, uid)
        out = daemon.lxc("exec", name, "--", "stat", "-c", "%u:%g", "/mapped", "/other").stdout.split()
        assert out == ["1000:1000", "1001:1001"], out
        # What uid 1000 writes inside is host uid 1000's on disk.
        daemon.lxc("exec", name, "--user", "1000", "--group", "1000", "--", "touch", "/tmp/by1000")
        assert os.stat(os.path.join(root, "tmp/by1000")).st_uid == 1000
    finally:
        delete(daemon, name)


def test_bad_idmap_config_changes_nothing(daemon):
    name = "badmap"
    inside = f"both {host_range()[0] + 5} 5"  # a host id of the container's own range
    daemon.lxc("init", "busybox", name)
    try:
        before = daemon.api_ok("GET", f"/1.0/instances/{name}")["config"]
        for key, value, text in (("security.idmap.size", "abc", "security.idmap.size"),
                                 ("security.idmap.base", "5x", "security.idmap.base"),
                                 ("security.idmap.isolated", "maybe", "security.idmap.isolated"),
                                 ("raw.idmap", "garbage", "Invalid raw.idmap line"),
                                 ("raw.idmap", "both 1-2 1-3", "different sizes"),
                                 ("raw.idmap", inside, "in the range of the container's subids"),
                                 ("security.privileged", "sometimes", "security.privileged")):
            cp = daemon.lxc("config", "set", name, key, value, check=False)
            assert cp.returncode != 0 and text in cp.stderr, (key, value, cp.stderr)
            assert daemon.api_ok("GET", f"/1.0/instances/{name}")["config"] == before, (key, value)
        # An update refused by the idmap choice changes none of its other fields either.
        whole = daemon.api_ok("GET", f"/1.0/instances/{name}")
        # The daemon's own bridge (ferrybr0 may be another ferryd's on this host).
        network = whole["expanded_devices"]["eth0"]["network"]
        status, env = daemon.api("PATCH", f"/1.0/instances/{name}", {
            "description": "changed", "ephemeral": True,
            "config": {"raw.idmap": inside},
            "devices": {"extra": {"type": "nic", "network": network, "name": "eth9"}}})
        assert status == 400 and "in the range of the container's subids" in env["error"], (status, env)
        after = daemon.api_ok("GET", f"/1.0/instances/{name}")
        for field in ("description", "ephemeral", "config", "devices", "profiles"):
            assert after[field] == whole[field], (field, after[field], whole[field])
        # volatile keys are the server's: a PUT naming them does not change them.
        body = daemon.api_ok("GET", f"/1.0/instances/{name}")
        body["config"]["volatile.idmap.next"] = "[]"
        daemon.api_ok("PUT", f"/1.0/instances/{name}", {"config": body["config"], "devices": body["devices"],
                                                        "profiles": body["profiles"]})
        assert daemon.api_ok("GET", f"/1.0/instances/{name}")["config"] == before
    finally:
        delete(daemon, name)


def test_database_from_before_keeps_containers_privileged(daemon):
    """A database made before unprivileged was the default (schema 2) marks its
    containers privileged: they start as they always did."""
    name = "legacy"
    daemon.lxc("init", "busybox", name)
    daemon.kill()
    db = sqlite3.connect(os.path.join(daemon.root, "ferry.db"))
    try:
        config = json.loads(db.execute("SELECT config FROM instances WHERE name = ?", (name,)).fetchone()[0])
        config = {k: v for k, v in config.items() if not k.startswith("volatile.idmap")
                  and k not in ("volatile.last_state.idmap", "security.privileged")}
        db.execute("UPDATE instances SET config = ? WHERE name = ?", (json.dumps(config), name))
        db.execute("PRAGMA user_version = 2")
        db.commit()
    finally:
        db.close()
    daemon.start()
    try:
        assert daemon.api_ok("GET", f"/1.0/instances/{name}")["config"]["security.privileged"] == "true"
        daemon.lxc("start", name, timeout=CR_TIMEOUT)
        assert uid_map(daemon, name) == [["0", "0", "4294967295"]]
        # New containers are unprivileged.
        daemon.lxc("init", "busybox", "fresh")
        assert "security.privileged" not in daemon.api_ok("GET", "/1.0/instances/fresh")["config"]
    finally:
        delete(daemon, name)
        delete(daemon, "fresh")
