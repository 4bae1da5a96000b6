"""The JSON of Ferry's objects has the keys, values and formats of LXD 5.0.2's
(issue 16): snapshots' size and expanded devices, timestamps as Go prints them,
volatile nic keys as LXD keeps them, the network counters of instance state,
null snapshot and backup lists of a full instance.

The key sets are those of LXD 5.0.2's shared/api structs (json tags, omitempty).
"""

import re
import signal

import pytest

from conftest import wait_until

# Go's time.Time in RFC3339Nano: no trailing zeros in the fraction, no dot when it is 0.
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")
GO_ZERO = "0001-01-01T00:00:00Z"
EPOCH = "1970-01-01T00:00:00Z"

INSTANCE = {"architecture", "config", "devices", "ephemeral", "profiles", "stateful", "description",
            "created_at", "expanded_config", "expanded_devices", "name", "status", "status_code",
            "last_used_at", "location", "type", "project"}
# Ferry's own (statistics of the last CRIU dump/restore), only once there was one.
FERRY_FULL_EXTRAS = {"last_dump", "last_restore"}
SNAPSHOT = {"expires_at", "architecture", "config", "created_at", "devices", "ephemeral", "expanded_config",
            "expanded_devices", "last_used_at", "name", "profiles", "stateful", "size"}
# Ferry's own: a snapshot's description (LXD 5.0 has none).
FERRY_SNAPSHOT_EXTRAS = {"description"}
STATE = {"status", "status_code", "disk", "memory", "network", "pid", "processes", "cpu"}
MEMORY = {"usage", "usage_peak", "swap_usage", "swap_usage_peak"}
NIC = {"addresses", "counters", "hwaddr", "host_name", "mtu", "state", "type"}
COUNTERS = {"bytes_received", "bytes_sent", "packets_received", "packets_sent", "errors_received",
            "errors_sent", "packets_dropped_outbound", "packets_dropped_inbound"}
ADDRESS = {"family", "address", "netmask", "scope"}
IMAGE = {"auto_update", "properties", "public", "expires_at", "profiles", "aliases", "architecture", "cached",
         "filename", "fingerprint", "size", "type", "created_at", "last_used_at", "uploaded_at"}
ALIAS = {"description", "target", "name", "type"}
OPERATION = {"id", "class", "description", "created_at", "updated_at", "status", "status_code", "resources",
             "metadata", "may_cancel", "err", "location"}
BACKUP = {"name", "created_at", "expires_at", "instance_only", "container_only", "optimized_storage"}
PROFILE = {"config", "description", "devices", "name", "used_by"}
VOLUME = {"config", "description", "name", "type", "used_by", "location", "content_type", "project", "created_at"}


def keys(obj, want, extras=frozenset(), what="object"):
    got = set(obj)
    missing, extra = want - got, got - want - set(extras)
    assert not missing and not extra, f"{what}: missing {sorted(missing)}, extra {sorted(extra)}: {obj}"


def is_time(value, what):
    assert isinstance(value, str) and TIME.match(value), f"{what}: {value!r} is not Go's RFC3339Nano"


def hwaddr(d, name, dev="eth0"):
    return d.api_ok("GET", f"/1.0/instances/{name}")["config"].get(f"volatile.{dev}.hwaddr")


def host_name_keys(d, name):
    return sorted(k for k in d.api_ok("GET", f"/1.0/instances/{name}")["config"] if k.endswith(".host_name"))


def put_state(d, name, action, **kw):
    d.api_ok("PUT", f"/1.0/instances/{name}/state", {"action": action, "timeout": -1, **kw})


@pytest.fixture(scope="module")
def c1(daemon):
    """A running instance with a snapshot, and a stopped one never started."""
    daemon.launch("f1")
    daemon.launch("f2", start=False)
    daemon.api_ok("POST", "/1.0/instances/f1/snapshots", {"name": "s0"})
    yield "f1"
    daemon.remove_all_instances()


def test_instance_keys_and_never_used(daemon, c1):
    inst = daemon.api_ok("GET", "/1.0/instances/f2")
    keys(inst, INSTANCE, what="instance")
    # LXD creates an instance with last_used_at = time.Unix(0, 0).
    assert inst["last_used_at"] == EPOCH
    is_time(inst["created_at"], "created_at")
    # The MAC is chosen at create, before any start.
    assert re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", inst["config"]["volatile.eth0.hwaddr"]), inst["config"]
    assert not host_name_keys(daemon, "f2")
    ran = daemon.api_ok("GET", f"/1.0/instances/{c1}")
    is_time(ran["last_used_at"], "last_used_at")
    assert ran["last_used_at"] != EPOCH


def test_full_instance(daemon, c1):
    full = daemon.api_ok("GET", "/1.0/instances/f2?recursion=1")
    keys(full, INSTANCE | {"state", "snapshots", "backups"}, FERRY_FULL_EXTRAS, "full instance")
    # Go's nil slices: null, not [], when there are none.
    assert full["snapshots"] is None and full["backups"] is None, full
    keys(full["state"], STATE, what="state")
    assert full["state"]["network"] is None and full["state"]["pid"] == 0
    running = daemon.api_ok("GET", f"/1.0/instances/{c1}?recursion=1")
    assert [s["name"] for s in running["snapshots"]] == ["s0"] and running["backups"] is None
    listed = daemon.api_ok("GET", "/1.0/instances?recursion=2")
    by_name = {i["name"]: i for i in listed}
    assert by_name["f2"]["snapshots"] is None and by_name["f2"]["backups"] is None
    assert len(by_name[c1]["snapshots"]) == 1


def test_snapshot_object(daemon, c1):
    snap = daemon.api_ok("GET", f"/1.0/instances/{c1}/snapshots/s0")
    keys(snap, SNAPSHOT, FERRY_SNAPSHOT_EXTRAS, "snapshot")
    assert snap["size"] == -1
    assert snap["expires_at"] == GO_ZERO and snap["last_used_at"] == GO_ZERO, snap
    is_time(snap["created_at"], "snapshot created_at")
    # Expanded with the profiles, as the instance's: the default profile's eth0 and root.
    assert {"eth0", "root"} <= set(snap["expanded_devices"]), snap["expanded_devices"]
    assert snap["expanded_devices"]["root"]["type"] == "disk"
    assert set(snap["config"]) <= set(snap["expanded_config"])
    listed = daemon.api_ok("GET", f"/1.0/instances/{c1}/snapshots?recursion=1")
    assert listed[0]["size"] == -1 and "eth0" in listed[0]["expanded_devices"]


def test_state_network_counters(daemon, c1):
    st = daemon.api_ok("GET", f"/1.0/instances/{c1}/state")
    keys(st, STATE, what="state")
    keys(st["memory"], MEMORY, what="memory")
    net = st["network"]
    assert {"lo", "eth0"} <= set(net), net
    for name, nic in net.items():
        keys(nic, NIC, what=name)
        keys(nic["counters"], COUNTERS, what=f"{name} counters")
        assert all(isinstance(v, int) and v >= 0 for v in nic["counters"].values()), nic
        for a in nic["addresses"] or []:
            keys(a, ADDRESS, what=f"{name} address")
    # LXD reads no hardware address for loopback.
    assert net["lo"]["hwaddr"] == "" and net["lo"]["type"] == "loopback"
    assert net["eth0"]["hwaddr"] == hwaddr(daemon, c1)
    assert net["eth0"]["host_name"] and net["eth0"]["host_name"] == \
        daemon.api_ok("GET", f"/1.0/instances/{c1}")["config"]["volatile.eth0.host_name"]
    # The kernel's counters: traffic out of eth0 shows up.
    daemon.lxc("exec", c1, "--", "ping", "-c", "1", "-W", "1", "192.0.2.1", check=False)
    after = daemon.api_ok("GET", f"/1.0/instances/{c1}/state")["network"]["eth0"]["counters"]
    assert after["packets_sent"] + after["packets_dropped_outbound"] + after["errors_sent"] > 0, after


def test_times_are_go_formatted(daemon, c1):
    inst = daemon.api_ok("GET", f"/1.0/instances/{c1}")
    for k in ("created_at", "last_used_at"):
        is_time(inst[k], f"instance {k}")
    images = daemon.api_ok("GET", "/1.0/images?recursion=1")
    assert images
    for img in images:
        keys(img, IMAGE, what="image")
        for k in ("created_at", "uploaded_at", "last_used_at", "expires_at"):
            is_time(img[k], f"image {k}")
        # An imported image without expiry_date: time.Unix(0, 0), as LXD.
        assert img["expires_at"] == EPOCH, img
    for alias in daemon.api_ok("GET", "/1.0/images/aliases?recursion=1"):
        keys(alias, ALIAS, what="alias")
    for profile in daemon.api_ok("GET", "/1.0/profiles?recursion=1"):
        keys(profile, PROFILE, what="profile")
    status, env = daemon.api("POST", f"/1.0/instances/{c1}/snapshots", {"name": "t0"})
    assert status == 202, env
    op = daemon.wait_op(env)
    keys(op, OPERATION, what="operation")
    for k in ("created_at", "updated_at"):
        is_time(op[k], f"operation {k}")
    daemon.api_ok("POST", f"/1.0/instances/{c1}/backups", {"name": "b0"})
    backup = daemon.api_ok("GET", f"/1.0/instances/{c1}/backups/b0")
    keys(backup, BACKUP, what="backup")
    is_time(backup["created_at"], "backup created_at")
    assert "." not in backup["created_at"], backup  # whole seconds, as LXD
    is_time(backup["expires_at"], "backup expires_at")
    daemon.api_ok("DELETE", f"/1.0/instances/{c1}/backups/b0")
    daemon.api_ok("DELETE", f"/1.0/instances/{c1}/snapshots/t0")


def test_storage_volumes_and_resources(daemon, c1):
    volumes = daemon.api_ok("GET", "/1.0/storage-pools/default/volumes?recursion=1")
    by_name = {v["name"]: v for v in volumes}
    assert {c1, f"{c1}/s0", "f2"} <= set(by_name), sorted(by_name)
    for v in volumes:
        keys(v, VOLUME, what="volume")
        assert v["created_at"] == GO_ZERO and v["project"] == "default", v
    pool = daemon.api_ok("GET", "/1.0/storage-pools/default")
    assert f"/1.0/instances/{c1}/snapshots/s0" in pool["used_by"], pool["used_by"]
    urls = daemon.api_ok("GET", "/1.0/storage-pools/default/volumes")
    assert f"/1.0/storage-pools/default/volumes/container/{c1}/snapshots/s0" in urls, urls
    res = daemon.api_ok("GET", "/1.0/storage-pools/default/resources")
    assert set(res) == {"space", "inodes"}, res
    assert res["space"]["total"] > 0 and set(res["inodes"]) == {"used", "total"}
    assert 0 < res["inodes"]["used"] <= res["inodes"]["total"], res


def test_mac_kept_host_name_dropped_at_stop(daemon):
    name = daemon.launch("m1")
    mac = hwaddr(daemon, name)
    assert mac and host_name_keys(daemon, name) == ["volatile.eth0.host_name"]
    for client in ("lxc", "ferry"):
        run = daemon.lxc if client == "lxc" else daemon.ferry
        run("stop", name, "--force")
        assert host_name_keys(daemon, name) == [], f"{client} stop kept a stale host_name"
        assert hwaddr(daemon, name) == mac
        assert run("config", "get", name, "volatile.eth0.hwaddr").stdout.strip() == mac
        run("start", name)
        assert hwaddr(daemon, name) == mac
        assert daemon.api_ok("GET", f"/1.0/instances/{name}/state")["network"]["eth0"]["hwaddr"] == mac
    # A stop from inside (busybox's poweroff) is a stop as well.
    daemon.lxc("exec", name, "--", "poweroff", check=False)
    wait_until(lambda: daemon.api_ok("GET", f"/1.0/instances/{name}")["status"] == "Stopped", "m1 powers off")
    wait_until(lambda: host_name_keys(daemon, name) == [], "host_name removed after a poweroff")
    assert hwaddr(daemon, name) == mac


def test_mac_set_at_create_by_clients(daemon):
    daemon.lxc("init", "busybox", "k1")
    daemon.ferry("init", "busybox", "k2")
    macs = [daemon.lxc("config", "get", n, "volatile.eth0.hwaddr").stdout.strip() for n in ("k1", "k2")]
    assert all(re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", m) for m in macs) and macs[0] != macs[1], macs
    # A copy is another machine: a MAC of its own, chosen at create too.
    daemon.lxc("copy", "k1", "k3")
    copied = hwaddr(daemon, "k3")
    assert copied and copied not in macs
    daemon.lxc("start", "k1")
    assert hwaddr(daemon, "k1") == macs[0]
    # A nic with its own hwaddr gets no volatile one.
    eth0 = dict(daemon.api_ok("GET", "/1.0/profiles/default")["devices"]["eth0"], hwaddr="00:16:3e:00:00:42")
    daemon.api_ok("POST", "/1.0/instances", {
        "name": "k4", "source": {"type": "image", "alias": "busybox"}, "devices": {"eth0": eth0}})
    assert hwaddr(daemon, "k4") is None
    for n in ("k1", "k2", "k3", "k4"):
        daemon.lxc("delete", "--force", n)


def test_stateful_stop_keeps_mac(daemon):
    name = daemon.launch("s1")
    mac = hwaddr(daemon, name)
    put_state(daemon, name, "stop", stateful=True)
    inst = daemon.api_ok("GET", f"/1.0/instances/{name}")
    assert inst["status"] == "Stopped" and inst["stateful"] is True
    assert host_name_keys(daemon, name) == [] and hwaddr(daemon, name) == mac
    put_state(daemon, name, "start", stateful=True)
    assert hwaddr(daemon, name) == mac
    st = daemon.api_ok("GET", f"/1.0/instances/{name}/state")
    assert st["network"]["eth0"]["hwaddr"] == mac
    assert st["network"]["eth0"]["host_name"] == \
        daemon.api_ok("GET", f"/1.0/instances/{name}")["config"]["volatile.eth0.host_name"]
    # A stateful snapshot restored brings the same MAC back.
    daemon.api_ok("POST", f"/1.0/instances/{name}/snapshots", {"name": "cr", "stateful": True})
    daemon.api_ok("PUT", f"/1.0/instances/{name}", {"restore": "cr", "stateful": True})
    assert daemon.api_ok("GET", f"/1.0/instances/{name}/state")["network"]["eth0"]["hwaddr"] == mac
    daemon.lxc("delete", "--force", name)


def test_mac_survives_ferryd_restart(own_daemon):
    d = own_daemon
    d.launch("r1")
    d.launch("r2", start=False)
    macs = {n: hwaddr(d, n) for n in ("r1", "r2")}
    assert all(macs.values())
    assert d.kill(signal.SIGTERM) == 0
    d.start()
    assert {n: hwaddr(d, n) for n in ("r1", "r2")} == macs
    assert d.api_ok("GET", "/1.0/instances/r1/state")["network"]["eth0"]["hwaddr"] == macs["r1"]
    d.lxc("start", "r2")
    assert hwaddr(d, "r2") == macs["r2"]
    assert d.api_ok("GET", "/1.0/instances/r2/state")["network"]["eth0"]["hwaddr"] == macs["r2"]
    d.lxc("delete", "--force", "r1", "r2")


def test_cloud_init_instance_id(daemon):
    daemon.lxc("init", "busybox", "ci1")
    first = daemon.api_ok("GET", "/1.0/instances/ci1")["config"].get("volatile.cloud-init.instance-id")
    assert first and re.match(r"^[0-9a-f-]{36}$", first), first
    # As LXD: a rename gives a new one (cloud-init runs again under the new name).
    daemon.lxc("rename", "ci1", "ci2")
    second = daemon.api_ok("GET", "/1.0/instances/ci2")["config"].get("volatile.cloud-init.instance-id")
    assert second and second != first
    daemon.lxc("delete", "ci2")
