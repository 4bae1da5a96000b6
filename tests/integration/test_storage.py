"""Storage pools: the `default` dir pool, a btrfs pool on a loop file, with the stock
`lxc` client and `ferry`: instant snapshots by subvolume, restore, stateful snapshots,
delete with a nested subvolume, pool delete refused while in use, bad input.
"""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import _daemon_fixture, free_port, mounts_under, wait_until

pytestmark = pytest.mark.skipif(subprocess.run(["which", "mkfs.btrfs"], capture_output=True).returncode != 0,
                                reason="btrfs-progs not installed")


def pools(daemon):
    return {p["name"]: p for p in daemon.api_ok("GET", "/1.0/storage-pools?recursion=1")}


def is_subvolume(path):
    return os.path.isdir(path) and not os.path.islink(path) and os.stat(path).st_ino == 256


def readonly(path):
    out = subprocess.run(["btrfs", "property", "get", "-ts", path, "ro"], capture_output=True, text=True)
    return out.stdout.strip() == "ro=true"


@pytest.fixture
def p1(daemon):
    """A 1 GiB btrfs pool on a loop file; removed (with its instances) whatever the test did."""
    daemon.lxc("storage", "create", "p1", "btrfs", "size=1GiB")
    yield "p1"
    daemon.remove_all_instances()
    if "p1" in pools(daemon):
        daemon.lxc("storage", "delete", "p1")


def test_default_pool(daemon):
    out = daemon.lxc("storage", "list", "--format", "csv").stdout
    assert out.startswith("default,dir,"), out
    show = daemon.lxc("storage", "show", "default").stdout
    assert "driver: dir" in show and f"source: {daemon.root}" in show, show
    assert "/1.0/profiles/default" in show
    info = daemon.lxc("storage", "info", "default").stdout
    assert "total space" in info.lower(), info
    # An instance on it lives where instances always did: no link.
    daemon.lxc("launch", "busybox", "d1")
    try:
        assert os.path.isdir(os.path.join(daemon.root, "containers", "d1", "rootfs"))
        assert not os.path.islink(os.path.join(daemon.root, "containers", "d1"))
        assert "/1.0/instances/d1" in pools(daemon)["default"]["used_by"]
        vols = daemon.lxc("storage", "volume", "list", "default", "--format", "csv").stdout
        assert "container,d1," in vols, vols
    finally:
        daemon.lxc("delete", "-f", "d1")


def test_btrfs_pool_lifecycle(daemon, p1):
    root = daemon.root
    pool = pools(daemon)["p1"]
    assert pool["driver"] == "btrfs" and pool["config"]["size"] == "1GiB"
    assert pool["config"]["source"] == os.path.join(root, "disks", "p1.img")
    assert os.path.join(root, "storage-pools", "p1") in mounts_under(root)

    daemon.lxc("launch", "busybox", "c1", "-s", "p1")
    inst_dir = os.path.join(root, "containers", "c1")
    assert os.path.islink(inst_dir)
    assert os.readlink(inst_dir).startswith(os.path.join(root, "storage-pools", "p1") + "/")
    rootfs = os.path.join(inst_dir, "rootfs")
    assert is_subvolume(rootfs)
    # Unprivileged, owners as on dir: root inside owns its files.
    assert daemon.lxc("exec", "c1", "--", "stat", "-c", "%u", "/bin").stdout.strip() == "0"
    assert "/1.0/instances/c1" in pools(daemon)["p1"]["used_by"]
    assert daemon.instance("c1")["expanded_devices"]["root"]["pool"] == "p1"

    daemon.lxc("exec", "c1", "--", "sh", "-c", "echo one > /marker")
    daemon.lxc("snapshot", "c1", "s1")
    snap_rootfs = os.path.join(root, "snapshots", "c1", "s1", "rootfs")
    assert is_subvolume(snap_rootfs) and readonly(snap_rootfs)
    daemon.lxc("exec", "c1", "--", "sh", "-c", "echo two > /marker")
    daemon.lxc("restore", "c1", "s1")
    assert daemon.lxc("exec", "c1", "--", "cat", "/marker").stdout.strip() == "one"
    assert is_subvolume(rootfs) and not readonly(rootfs)

    # Stateful: the rootfs snapshot is taken while frozen.
    daemon.lxc("exec", "c1", "--", "sh", "-c", "echo three > /marker")
    daemon.lxc("snapshot", "c1", "s2", "--stateful")
    assert is_subvolume(os.path.join(root, "snapshots", "c1", "s2", "rootfs"))
    daemon.lxc("exec", "c1", "--", "sh", "-c", "echo four > /marker")
    daemon.lxc("restore", "c1", "s2", "--stateful")
    assert daemon.lxc("exec", "c1", "--", "cat", "/marker").stdout.strip() == "three"
    assert daemon.instance("c1")["status"] == "Running"

    vols = daemon.lxc("storage", "volume", "list", "p1", "--format", "csv").stdout
    assert "container,c1," in vols and "container (snapshot),c1/s1," in vols, vols

    # A snapshot renamed and deleted: its subvolume goes.
    daemon.lxc("snapshot", "c1", "s3")
    daemon.lxc("rename", "c1/s3", "c1/s4")
    assert is_subvolume(os.path.join(root, "snapshots", "c1", "s4", "rootfs"))
    daemon.lxc("delete", "c1/s4")
    assert not os.path.lexists(os.path.join(root, "snapshots", "c1", "s4"))

    # In use: the pool stays, and says why.
    cp = daemon.lxc("storage", "delete", "p1", check=False)
    assert cp.returncode != 0 and "currently in use" in cp.stderr, cp.stderr
    assert "p1" in pools(daemon)

    # A subvolume made inside the container (as systemd does) must not stop a delete.
    subprocess.run(["btrfs", "subvolume", "create", os.path.join(rootfs, "nested")], check=True,
                   capture_output=True)
    target = os.readlink(inst_dir)
    snaps_target = os.readlink(os.path.join(root, "snapshots", "c1"))
    daemon.lxc("delete", "-f", "c1")
    assert not os.path.lexists(inst_dir) and not os.path.exists(target) and not os.path.exists(snaps_target)

    daemon.lxc("storage", "delete", "p1")
    assert "p1" not in pools(daemon)
    assert not mounts_under(root)
    assert not os.path.exists(os.path.join(root, "disks", "p1.img"))


def test_btrfs_rename_and_copy_names(daemon, p1):
    """A renamed instance keeps its files; a new one of the old name gets its own."""
    daemon.lxc("init", "busybox", "r1", "-s", "p1")
    daemon.lxc("rename", "r1", "r2")
    daemon.lxc("init", "busybox", "r1", "-s", "p1")
    a = os.readlink(os.path.join(daemon.root, "containers", "r1"))
    b = os.readlink(os.path.join(daemon.root, "containers", "r2"))
    assert a != b and os.path.isdir(os.path.join(a, "rootfs")) and os.path.isdir(os.path.join(b, "rootfs"))
    daemon.lxc("start", "r2")
    # Its files stay on p1: the root disk may not name another pool.
    cp = daemon.lxc("config", "device", "set", "r2", "root", "pool=default", check=False)
    assert cp.returncode != 0 and 'is on storage pool "p1"' in cp.stderr, cp.stderr
    assert daemon.instance("r2")["expanded_devices"]["root"]["pool"] == "p1"
    daemon.lxc("delete", "-f", "r1")
    assert os.path.isdir(os.path.join(b, "rootfs", "bin"))
    daemon.lxc("delete", "-f", "r2")


def test_ferry_client(daemon, p1):
    out = daemon.ferry("storage", "list").stdout
    assert "p1" in out and "btrfs" in out and "default" in out, out
    show = daemon.ferry("storage", "show", "p1").stdout
    assert "driver: btrfs" in show, show
    info = daemon.ferry("storage", "info", "p1").stdout
    assert "total" in info.lower(), info
    daemon.ferry("storage", "create", "p2", "dir")
    assert pools(daemon)["p2"]["driver"] == "dir"
    daemon.ferry("launch", "busybox", "f1", "--storage", "p2")
    assert os.readlink(os.path.join(daemon.root, "containers", "f1")).startswith(
        os.path.join(daemon.root, "storage-pools", "p2"))
    cp = daemon.ferry("storage", "delete", "p2", check=False)
    assert cp.returncode != 0 and "currently in use" in cp.stderr
    daemon.ferry("delete", "f1", "--force")
    daemon.ferry("storage", "delete", "p2")
    assert "p2" not in pools(daemon)


@pytest.mark.parametrize("args,message", [
    (["../x", "btrfs"], "Invalid storage pool name"),
    (["-x", "dir"], ""),
    (["p9", "zfs"], "Unsupported storage pool driver"),
    (["p9", "btrfs", "foo=bar"], "Invalid config key \"foo\""),
    (["p9", "dir", "size=1GiB"], "Invalid config key \"size\""),
    (["p9", "btrfs", "size=1MiB"], "at least 128MiB"),
    (["p9", "btrfs", "size=lots"], "Invalid size"),
    (["p9", "btrfs", "source=/proc"], "not a directory on a btrfs"),
    (["default", "dir"], "already exists"),
])
def test_bad_input(daemon, args, message):
    before = pools(daemon)
    cp = daemon.lxc("storage", "create", *args, check=False)
    assert cp.returncode != 0, cp.stdout
    assert message in cp.stderr, cp.stderr
    assert pools(daemon) == before
    assert not os.path.exists(os.path.join(daemon.root, "disks", "p9.img"))
    assert not os.path.exists(os.path.join(daemon.root, "storage-pools", "p9"))


def test_bad_input_api(daemon):
    status, env = daemon.api("POST", "/1.0/storage-pools/default/volumes", {"name": "v", "type": "custom"})
    assert status == 400 and "not supported" in env["error"]
    status, env = daemon.api("PATCH", "/1.0/storage-pools/default", {"config": {"size": "9GiB"}})
    assert status == 400 and "cannot be changed" in env["error"]
    status, env = daemon.api("DELETE", "/1.0/storage-pools/default")
    assert status == 400
    status, env = daemon.api("GET", "/1.0/storage-pools/nope")
    assert status == 404
    status, env = daemon.api("POST", "/1.0/instances", {
        "name": "x1", "source": {"type": "image", "alias": "busybox"},
        "devices": {"root": {"type": "disk", "path": "/", "pool": "nope"}}})
    assert status == 400 and env["error"] == "Storage pool \"nope\" doesn't exist"
    assert "x1" not in daemon.instance_names()
    daemon.api_ok("PATCH", "/1.0/storage-pools/default", {"description": "where it all lives"})
    assert pools(daemon)["default"]["description"] == "where it all lives"


def test_btrfs_pool_survives_restart(own_daemon):
    """ferryd leaves its pools mounted at exit (containers run on them) and mounts them at start
    when they are not (a reboot); a running instance on one carries on."""
    d = own_daemon
    d.lxc("storage", "create", "p1", "btrfs", "size=512MiB")
    mnt = os.path.join(d.root, "storage-pools", "p1")
    try:
        d.lxc("launch", "busybox", "c1", "-s", "p1")
        d.kill(signal.SIGTERM)
        assert mnt in mounts_under(d.root)
        d.start()
        assert d.instance("c1")["status"] == "Running"
        assert d.lxc("exec", "c1", "--", "true").returncode == 0
        d.lxc("stop", "-f", "c1")
        d.kill(signal.SIGTERM)
        subprocess.run(["umount", mnt], check=True)  # as after a reboot
        d.start()
        assert mnt in mounts_under(d.root)
        d.lxc("start", "c1")
        d.lxc("snapshot", "c1", "s1")
        assert is_subvolume(os.path.join(d.root, "snapshots", "c1", "s1", "rootfs"))
    finally:
        d.remove_all_instances()
        d.lxc("storage", "delete", "p1", check=False)
    assert not mounts_under(d.root)


# --- ferryd killed mid-operation on a btrfs pool (docs/durability.md) -----------------

def crash_during(d, point, *cmd):
    """`ferry CMD` with ferryd armed to SIGKILL itself at POINT, then a clean ferryd."""
    d.kill(signal.SIGTERM)
    d.env = {"FERRY_TEST_CRASH_AT": point}
    d.start()
    cp = d.ferry(*cmd, check=False, timeout=120)
    wait_until(lambda: not d.alive(), f"ferryd to die at {point}")
    assert d.proc.returncode == -signal.SIGKILL, f"ferryd exited {d.proc.returncode}: {cp.stderr}"
    d.stopped_by_test = True
    d.env = {}
    d.start()


def pool_entries(d, what):
    base = os.path.join(d.root, "storage-pools", "p1", what)
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def test_btrfs_crashes(own_daemon):
    d = own_daemon
    d.ferry("storage", "create", "p1", "btrfs", "size=512MiB")
    try:
        # Create: filled, never recorded: the link and what it links to go.
        crash_during(d, "create-after-unpack", "launch", "busybox", "c", "-s", "p1")
        assert d.instance_names() == []
        assert not os.path.lexists(os.path.join(d.root, "containers", "c"))
        assert pool_entries(d, "containers") == [] and pool_entries(d, "containers-snapshots") == []
        d.ferry("launch", "busybox", "c", "-s", "p1")
        # Snapshot: made, never recorded: its subvolume goes.
        crash_during(d, "snapshot-after-dump", "snapshot", "c", "s0")
        assert not os.path.lexists(os.path.join(d.root, "snapshots", "c", "s0"))
        d.ferry("snapshot", "c", "s0")
        # Restore: stopped, copy made: still the instance, its files whole.
        crash_during(d, "restore-after-stop", "restore", "c", "s0")
        assert is_subvolume(os.path.join(d.root, "containers", "c", "rootfs"))
        d.ferry("restore", "c", "s0")
        d.ferry("start", "c")
        # Delete: aside, never committed: everything comes back.
        d.ferry("stop", "c", "--force")
        crash_during(d, "delete-after-aside", "delete", "c")
        assert d.instance_names() == ["c"]
        assert is_subvolume(os.path.join(d.root, "snapshots", "c", "s0", "rootfs"))
        d.ferry("start", "c")
        d.ferry("delete", "c", "--force")
        assert pool_entries(d, "containers") == [] and pool_entries(d, "containers-snapshots") == []
    finally:
        d.remove_all_instances()
        d.ferry("storage", "delete", "p1", check=False)
    assert not mounts_under(d.root)


# --- moves between hosts: rsync, whatever the drivers ---------------------------------

@pytest.fixture(scope="module")
def daemon_b(request):
    yield from _daemon_fixture(request)


def test_move_between_btrfs_and_dir(daemon, daemon_b, p1):
    """An instance on a btrfs pool copies and moves to a host whose instances are on dir
    (the rootfs and snapshots by rsync), and back."""
    conf = tempfile.mkdtemp(prefix="ferry-storage-conf-")
    saved = os.environ.get("FERRY_CONF")
    os.environ["FERRY_CONF"] = conf
    try:
        for d in (daemon, daemon_b):
            d.https_port = free_port()
            d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{d.https_port}",
                                                  "core.trust_password": "s3cret"}})
        daemon.ferry("remote", "add", "r2", f"127.0.0.1:{daemon_b.https_port}", "--password", "s3cret",
                     "--accept-certificate")
        daemon.ferry("launch", "busybox", "m1", "-s", "p1")
        daemon.ferry("exec", "m1", "--", "sh", "-c", "echo moved > /marker")
        daemon.ferry("snapshot", "m1", "s0")
        daemon.ferry("stop", "m1", "--force")
        daemon.ferry("copy", "m1", "r2:m2", timeout=120)
        daemon.ferry("start", "m1")
        daemon.ferry("move", "m1", "r2:", "--stateless", timeout=120)
        assert "m1" not in daemon.instance_names()
        assert daemon_b.lxc("exec", "m1", "--", "cat", "/marker").stdout.strip() == "moved"
        assert os.path.isdir(os.path.join(daemon_b.root, "snapshots", "m1", "s0", "rootfs", "bin"))
        assert os.path.isfile(os.path.join(daemon_b.root, "containers", "m2", "rootfs", "marker"))
        # And back, onto A's default dir pool.
        daemon.ferry("move", "r2:m1", "local:", "--stateless", timeout=120)
        assert daemon.lxc("exec", "m1", "--", "cat", "/marker").stdout.strip() == "moved"
        assert not os.path.islink(os.path.join(daemon.root, "containers", "m1"))
    finally:
        daemon_b.remove_all_instances()
        daemon.remove_all_instances()
        daemon.ferry("remote", "remove", "r2", check=False)
        if saved is None:
            os.environ.pop("FERRY_CONF", None)
        else:
            os.environ["FERRY_CONF"] = saved
        shutil.rmtree(conf, ignore_errors=True)
        for d in (daemon, daemon_b):
            d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": "", "core.trust_password": ""}})


def test_profile_names_the_pool(daemon, p1):
    """A profile's root disk puts its instances on its pool, and keeps the pool in use."""
    daemon.lxc("profile", "create", "fast")
    try:
        daemon.lxc("profile", "device", "add", "fast", "root", "disk", "path=/", "pool=p1")
        daemon.lxc("init", "busybox", "pf", "-p", "default", "-p", "fast")
        assert os.readlink(os.path.join(daemon.root, "containers", "pf")).startswith(
            os.path.join(daemon.root, "storage-pools", "p1") + "/")
        daemon.lxc("delete", "pf")
        used_by = pools(daemon)["p1"]["used_by"]
        assert used_by == ["/1.0/profiles/fast"], used_by
        cp = daemon.lxc("storage", "delete", "p1", check=False)
        assert cp.returncode != 0 and "currently in use" in cp.stderr, cp.stderr
    finally:
        daemon.lxc("profile", "delete", "fast", check=False)


def test_btrfs_local_copy(daemon, p1):
    """lxc copy of an instance on a btrfs pool lands on that pool: its rootfs a writable
    subvolume snapshot, its snapshots readonly ones; a copy onto the default pool (-s)
    copies the files, and the copy starts."""
    daemon.lxc("launch", "busybox", "k1", "-s", "p1")
    daemon.lxc("exec", "k1", "--", "sh", "-c", "echo kept > /root/f")
    daemon.lxc("snapshot", "k1", "s0")
    daemon.lxc("copy", "k1", "k2")
    k2 = os.readlink(os.path.join(daemon.root, "containers", "k2"))
    assert is_subvolume(os.path.join(k2, "rootfs")) and not readonly(os.path.join(k2, "rootfs"))
    s0 = os.path.join(daemon.root, "snapshots", "k2", "s0", "rootfs")
    assert is_subvolume(s0) and readonly(s0)
    assert daemon.instance("k2")["expanded_devices"]["root"]["pool"] == "p1"
    daemon.lxc("start", "k2")
    assert daemon.lxc("exec", "k2", "--", "cat", "/root/f").stdout.strip() == "kept"
    daemon.lxc("copy", "k1", "k3", "--instance-only", "-s", "default")
    assert not os.path.islink(os.path.join(daemon.root, "containers", "k3"))
    daemon.lxc("start", "k3")
    assert daemon.lxc("exec", "k3", "--", "cat", "/root/f").stdout.strip() == "kept"
    for name in ("k1", "k2", "k3"):
        daemon.lxc("delete", "-f", name)
