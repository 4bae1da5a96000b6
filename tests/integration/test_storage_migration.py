"""Moves and copies between two ferryds meet the storage pools: an incoming instance lands
on the pool its root disk names (`lxc move/copy -s POOL`, or the source's own pool when the
target has it, else the target's default pool); between two btrfs pools the rootfs and
snapshots go as `btrfs send` streams (snapshots first, each the difference from the one
before, then the rootfs, its last pass frozen), received as readonly subvolumes, the rootfs a
writable snapshot of its latest; otherwise by rsync. With the stock `lxc` client and `ferry`.
"""

import os
import shutil
import subprocess
import tempfile

import pytest

from checkpoint_helpers import Workload, build_workload
from conftest import _daemon_fixture, free_port, wait_until

pytestmark = pytest.mark.skipif(subprocess.run(["which", "mkfs.btrfs"], capture_output=True).returncode != 0,
                                reason="btrfs-progs not installed")

LAB_OPTIONS = {"hosts": 2, "client": False}
MOVE_TIMEOUT = 180


def is_subvolume(path, run=None):
    """Whether PATH is a subvolume's root (inode 256), seen through RUN (a host's mount
    namespace) or from here."""
    if run is None:
        return os.path.isdir(path) and not os.path.islink(path) and os.stat(path).st_ino == 256
    return run(["stat", "-c", "%i", path]).stdout.strip() == "256"


def readonly(path, run=None):
    argv = ["btrfs", "property", "get", "-ts", path, "ro"]
    out = run(argv) if run else subprocess.run(argv, capture_output=True, text=True)
    return out.stdout.strip() == "ro=true"


def log_of(d):
    """What ferryd logged (its stderr, its log file)."""
    out = ""
    for path in (d.stdlog, os.path.join(d.root, "logs", "ferryd.log")):
        try:
            with open(path, errors="replace") as f:
                out += f.read()
        except FileNotFoundError:
            pass
    return out


def on_pool(d, name, pool):
    """Whether instance NAME of daemon D lives on POOL (a btrfs pool's instances are links)."""
    path = os.path.join(d.root, "containers", name)
    if pool == "default":
        return os.path.isdir(path) and not os.path.islink(path)
    return os.readlink(path).startswith(os.path.join(d.root, "storage-pools", pool) + "/")


def nothing_of(d, name):
    assert name not in d.instance_names()
    for what in ("containers", "snapshots"):
        path = os.path.join(d.root, what, name)
        assert not os.path.lexists(path), f"{path} left"
    for pool in ("p1",):
        for what in ("containers", "containers-snapshots"):
            where = os.path.join(d.root, "storage-pools", pool, what)
            left = [e for e in os.listdir(where) if e == name or e.startswith(name + "-")] \
                if os.path.isdir(where) else []
            assert not left, f"{where} holds {left}"


@pytest.fixture(scope="module")
def daemon_b(request):
    yield from _daemon_fixture(request)


@pytest.fixture(scope="module")
def remotes(daemon, daemon_b):
    """A reaches B as remote r2, with ferry and with lxc."""
    conf = tempfile.mkdtemp(prefix="ferry-smig-conf-")
    saved = os.environ.get("FERRY_CONF")
    os.environ["FERRY_CONF"] = conf
    try:
        for d in (daemon, daemon_b):
            d.https_port = free_port()
            d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{d.https_port}",
                                                  "core.trust_password": "s3cret"}})
        daemon.ferry("remote", "add", "r2", f"127.0.0.1:{daemon_b.https_port}", "--password", "s3cret",
                     "--accept-certificate")
        daemon.lxc("remote", "add", "r2", f"127.0.0.1:{daemon_b.https_port}", "--password", "s3cret",
                   "--accept-certificate")
        yield daemon, daemon_b
    finally:
        daemon.ferry("remote", "remove", "r2", check=False)
        daemon.lxc("remote", "remove", "r2", check=False)
        if saved is None:
            os.environ.pop("FERRY_CONF", None)
        else:
            os.environ["FERRY_CONF"] = saved
        shutil.rmtree(conf, ignore_errors=True)
        for d in (daemon, daemon_b):
            d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": "", "core.trust_password": ""}})


@pytest.fixture
def pools(remotes):
    """A btrfs pool p1 on both; removed (with the instances) whatever the test did."""
    a, b = remotes
    for d in (a, b):
        d.lxc("storage", "create", "p1", "btrfs", "size=1GiB")
    yield a, b
    for d in (a, b):
        d.remove_all_instances()
        d.lxc("storage", "delete", "p1", check=False)


def make_instance(d, name, pool):
    """NAME on POOL with /marker, snapshots s0 and s1 (/marker changing in between), stopped."""
    d.lxc("launch", "busybox", name, "-s", pool)
    d.lxc("exec", name, "--", "sh", "-c", "echo zero > /marker")
    d.lxc("snapshot", name, "s0")
    d.lxc("exec", name, "--", "sh", "-c", "echo one > /marker; dd if=/dev/urandom of=/blob bs=1k count=256")
    d.lxc("snapshot", name, "s1")
    d.lxc("exec", name, "--", "sh", "-c", "echo two > /marker")
    d.lxc("stop", name, "--force")


def check_received(d, name, pool, btrfs):
    root = os.path.join(d.root, "containers", name, "rootfs")
    assert on_pool(d, name, pool)
    with open(os.path.join(root, "marker")) as f:
        assert f.read().strip() == "two"
    for snap, text in (("s0", "zero"), ("s1", "one")):
        with open(os.path.join(d.root, "snapshots", name, snap, "rootfs", "marker")) as f:
            assert f.read().strip() == text
    if btrfs:
        assert is_subvolume(root) and not readonly(root)
        for snap in ("s0", "s1"):
            path = os.path.join(d.root, "snapshots", name, snap, "rootfs")
            assert is_subvolume(path) and readonly(path), path
    # Nothing of the transfer stays.
    assert not os.path.exists(os.path.join(d.root, "containers", name, ".migrate-recv"))


def test_btrfs_to_btrfs_copy_and_move(pools):
    """Copies (lxc; stopped, and running: a frozen last pass) and a move (ferry) from
    a btrfs pool to a btrfs pool: btrfs send, received as subvolumes on the pool it names."""
    a, b = pools
    make_instance(a, "c1", "p1")
    a.lxc("copy", "c1", "r2:c2", timeout=MOVE_TIMEOUT)
    check_received(b, "c2", "p1", btrfs=True)
    assert "Migration of c1: its files go by btrfs send" in log_of(a)
    assert "Migration of c2: receiving on pool p1, its files by btrfs send" in log_of(b)
    # The copy works: it starts, restores a snapshot.
    b.lxc("start", "c2")
    assert b.lxc("exec", "c2", "--", "cat", "/marker").stdout.strip() == "two"
    b.lxc("stop", "c2", "--force")
    b.lxc("restore", "c2", "s0")
    with open(os.path.join(b.root, "containers", "c2", "rootfs", "marker")) as f:
        assert f.read().strip() == "zero"
    # Running, copied stateless: the rootfs twice, the second pass frozen, incremental.
    a.lxc("start", "c1")
    a.lxc("copy", "c1", "r2:c3", "--stateless", timeout=MOVE_TIMEOUT)
    check_received(b, "c3", "p1", btrfs=True)
    # Moved (ferry stops it first, and starts it on B).
    a.ferry("move", "c1", "r2:", "--stateless", timeout=MOVE_TIMEOUT)
    assert "c1" not in a.instance_names()
    check_received(b, "c1", "p1", btrfs=True)
    assert b.lxc("exec", "c1", "--", "cat", "/marker").stdout.strip() == "two"
    assert not os.path.lexists(os.path.join(a.root, "containers", "c1"))


def test_btrfs_to_dir_and_dir_to_btrfs(pools):
    """-s default (a dir pool) and from default to -s p1: rsync, the rootfs a subvolume on
    the btrfs side all the same."""
    a, b = pools
    make_instance(a, "d1", "p1")
    a.lxc("copy", "d1", "r2:d2", "-s", "default", timeout=MOVE_TIMEOUT)
    check_received(b, "d2", "default", btrfs=False)
    assert "Migration of d2: receiving on pool default, its files by rsync" in log_of(b)
    make_instance(a, "d3", "default")
    a.ferry("copy", "d3", "r2:d4", "-s", "p1", timeout=MOVE_TIMEOUT)
    check_received(b, "d4", "p1", btrfs=False)
    assert is_subvolume(os.path.join(b.root, "containers", "d4", "rootfs"))
    assert "Migration of d4: receiving on pool p1, its files by rsync" in log_of(b)
    a.lxc("move", "d3", "r2:", "-s", "p1", timeout=MOVE_TIMEOUT)
    check_received(b, "d3", "p1", btrfs=False)
    assert "d3" not in a.instance_names()


def test_storage_names_the_pool_and_falls_back(pools):
    """-s p1 for an instance on A's default pool lands on B's p1; an instance on a pool only
    A has lands on B's default pool (as LXD: its own pool, not one the user named)."""
    a, b = pools
    make_instance(a, "e1", "default")
    a.lxc("copy", "e1", "r2:e2", "-s", "p1", timeout=MOVE_TIMEOUT)
    assert on_pool(b, "e2", "p1")
    a.lxc("storage", "create", "onlya", "btrfs", "size=1GiB")
    try:
        make_instance(a, "e3", "onlya")
        a.lxc("move", "e3", "r2:", timeout=MOVE_TIMEOUT)
        check_received(b, "e3", "default", btrfs=False)
        root = b.instance("e3")["devices"].get("root")
        assert root is None or root.get("pool") == "default", root
    finally:
        a.remove_all_instances()
        a.lxc("storage", "delete", "onlya")


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_missing_pool_named(pools, client):
    """-s naming a pool the target lacks: a clear error, nothing changed on either side."""
    a, b = pools
    run = a.lxc if client == "lxc" else a.ferry
    make_instance(a, "f1", "p1")
    before = sorted(os.listdir(os.path.join(a.root, "snapshots", "f1")))
    cp = run("copy", "f1", "r2:f2", "-s", "nope", check=False, timeout=MOVE_TIMEOUT)
    assert cp.returncode != 0 and 'Storage pool "nope" doesn\'t exist on the target' in cp.stderr, cp.stderr
    nothing_of(b, "f2")
    cp = run("move", "f1", "r2:", "-s", "nope", check=False, timeout=MOVE_TIMEOUT)
    assert cp.returncode != 0 and 'Storage pool "nope" doesn\'t exist on the target' in cp.stderr, cp.stderr
    nothing_of(b, "f1")
    assert "f1" in a.instance_names() and on_pool(a, "f1", "p1")
    assert sorted(os.listdir(os.path.join(a.root, "snapshots", "f1"))) == before
    assert not os.path.exists(os.path.join(a.root, "containers", "f1", ".migrate-send"))
    a.lxc("start", "f1")
    assert a.lxc("exec", "f1", "--", "cat", "/marker").stdout.strip() == "two"


# ---- a live move between two lab hosts' btrfs pools ----

@pytest.fixture(scope="module")
def workload_binary(tmp_path_factory):
    return build_workload(str(tmp_path_factory.mktemp("workload")))


class PoolWorkload(Workload):
    """The workload of a lab host's instance on a btrfs pool: the pool is mounted in the
    host's mount namespace only, reached here through its ferryd's /proc/PID/root."""

    def __init__(self, daemon, name, binary, mib=16):
        self.daemon, self.name, self.mib = daemon, name, mib
        os.makedirs(self.host_dir, exist_ok=True)
        shutil.copy2(binary, os.path.join(self.host_dir, "cr-state"))
        self.next_round = 1
        self.pids = None

    @property
    def host_dir(self):
        link = os.readlink(os.path.join(self.daemon.root, "containers", self.name))
        return f"/proc/{self.daemon.pid}/root{link}/rootfs/cr"


def test_live_move_between_btrfs_pools(module_lab, workload_binary):
    """A running container with a workload moves live (CRIU) from h1's btrfs pool to h2's
    and back: the rootfs by btrfs send (its last pass while frozen), the workload's state
    intact, the rootfs a writable subvolume on the target's pool."""
    module_lab.remotes()
    h1, h2 = module_lab.hosts
    for h in (h1, h2):
        h.lxc("storage", "create", "p1", "btrfs", "size=1GiB")
    try:
        h1.lxc("launch", "busybox", "w1", "-s", "p1", timeout=MOVE_TIMEOUT)
        wait_until(lambda: h1.lxc("exec", "w1", "--", "true", check=False).returncode == 0, "w1 to run")
        h1.lxc("snapshot", "w1", "before")
        w = PoolWorkload(h1, "w1", workload_binary, mib=16).start()
        w.assert_pass(what="start")
        here, there = h1, h2
        for i in range(2):
            here.ferry("move", "w1", f"{there.name}:", timeout=MOVE_TIMEOUT)
            assert "w1" not in here.instance_names() and there.instance("w1")["status"] == "Running"
            w.daemon = there
            w.assert_pass(what=f"live move {i + 1} to {there.name}")
            w.assert_alive_inside()
            common = module_lab.common_root
            run = lambda argv: there.run(argv, mount_ns=True)  # noqa: E731
            root = os.path.join(common, "containers", "w1", "rootfs")
            assert is_subvolume(root, run) and not readonly(root, run)
            snap = os.path.join(common, "snapshots", "w1", "before", "rootfs")
            assert is_subvolume(snap, run) and readonly(snap, run)
            assert "Migration of w1: its files go by btrfs send" in log_of(here)
            here, there = there, here
    finally:
        for h in (h1, h2):
            for name in h.instance_names():
                h.ferry("delete", name, "--force")
            h.lxc("storage", "delete", "p1", check=False)
