"""Disk devices (issue 14, requirement 5): host paths bound into a container, as LXD's
`lxc config device add c1 share disk source=/srv path=/mnt`. Added to and removed from a
running container live and a stopped one; readonly really read-only; required=false lets a
missing source be skipped; bad input refused; a symlink planted by root inside the
container never turns the bind into one over something else; the binds survive stateful
stop/start and stateful snapshot restore (with a file held open on them) and a live move
when the target has the source, and a move is refused before freezing when it has not.
Driven with the stock `lxc` client and `ferry`."""

import os
import shutil
import tempfile

import pytest

from checkpoint_helpers import CR_TIMEOUT, console, delete, fail_detail, status_of
from conftest import wait_until


@pytest.fixture
def hostdir():
    d = tempfile.mkdtemp(prefix="ferry-disk-")
    os.chmod(d, 0o755)
    with open(os.path.join(d, "hello"), "w") as f:
        f.write("from the host\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def boot(daemon, name, client, *extra):
    client("launch", "busybox", name, *extra, timeout=CR_TIMEOUT)
    wait_until(lambda: "boot complete" in console(daemon, name), f"{name} to boot")


def sh(daemon, name, script, check=True):
    return daemon.lxc("exec", name, "--", "sh", "-c", script, check=check)


def mounted_at(daemon, name, path):
    out = sh(daemon, name, "cat /proc/self/mountinfo").stdout
    return any(line.split()[4] == path for line in out.splitlines())


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_add_remove_live(daemon, hostdir, client):
    run = daemon.lxc if client == "lxc" else daemon.ferry
    name = f"disk-live-{client}"
    boot(daemon, name, run)
    try:
        run("config", "device", "add", name, "share", "disk", f"source={hostdir}", "path=/mnt/share")
        assert sh(daemon, name, "cat /mnt/share/hello").stdout == "from the host\n", fail_detail(daemon, name)
        dev = daemon.instance(name)["devices"]["share"]
        assert dev == {"type": "disk", "source": hostdir, "path": "/mnt/share"}
        run("config", "device", "remove", name, "share")
        assert not mounted_at(daemon, name, "/mnt/share")
        assert sh(daemon, name, "test -e /mnt/share/hello", check=False).returncode != 0
        assert "share" not in daemon.instance(name)["devices"]
    finally:
        delete(daemon, name)


def host_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Uid:")).split()[1])


def host_mounts_of(path):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if line.split()[3] == path or line.split()[4] == path]


@pytest.mark.parametrize("privileged", [False, True])
def test_stopped_add_readonly_file_and_ids(daemon, hostdir, privileged):
    """Added while stopped, mounted at start: a directory read-only and a file. readonly
    holds against root inside: writes fail and so does a remount read-write. Unprivileged,
    the host's ids show through the idmap (unmapped ones as nobody), as in LXD without
    shifting."""
    name = "disk-ro-priv" if privileged else "disk-ro"
    extra = ["-c", "security.privileged=true"] if privileged else []
    daemon.lxc("init", "busybox", name, *extra)
    try:
        with open(os.path.join(hostdir, "mapped"), "w") as f:
            f.write("x\n")
        daemon.lxc("config", "device", "add", name, "ro", "disk", f"source={hostdir}", "path=/srv/ro",
                   "readonly=true")
        daemon.lxc("config", "device", "add", name, "onefile", "disk",
                   f"source={os.path.join(hostdir, 'hello')}", "path=/etc/host-hello")
        daemon.lxc("start", name, timeout=CR_TIMEOUT)
        wait_until(lambda: "boot complete" in console(daemon, name), f"{name} to boot")
        assert sh(daemon, name, "cat /srv/ro/hello /etc/host-hello").stdout == "from the host\n" * 2
        w = sh(daemon, name, "echo x > /srv/ro/new", check=False)
        assert w.returncode != 0 and "Read-only" in w.stderr, (w.stdout, w.stderr)
        r = sh(daemon, name, "mount -o remount,rw,bind /srv/ro /srv/ro", check=False)
        after = sh(daemon, name, "echo x > /srv/ro/new", check=False)
        assert not os.path.exists(os.path.join(hostdir, "new"))
        if not privileged:
            base = host_uid(daemon.init_pid(name))
            os.chown(os.path.join(hostdir, "mapped"), base + 1000, base + 1000)
            # LXD gives no more: root of a user namespace may not clear a read-only flag
            # of a bind made for it.
            assert r.returncode != 0, (r.stdout, r.stderr)
            assert after.returncode != 0
            ls = sh(daemon, name, "ls -ln /srv/ro/hello /srv/ro/mapped").stdout.split("\n")
            assert ls[0].split()[2:4] == ["65534", "65534"], ls
            assert ls[1].split()[2:4] == ["1000", "1000"], ls
        else:
            assert r.returncode != 0 and after.returncode != 0, (r.stdout, r.stderr)
        assert not host_mounts_of("/srv/ro")
    finally:
        delete(daemon, name)
