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
        assert "share" in run("config", "device", "list", name).stdout.split()
        shown = run("config", "device", "show", name).stdout
        assert f"source: {hostdir}" in shown and "path: /mnt/share" in shown, shown
        # Busy (a process works in it): removed all the same, lazily.
        sh(daemon, name, "setsid sh -c 'cd /mnt/share && exec sleep 1000' </dev/null >/dev/null 2>&1 &")
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


def test_required_false_and_missing_source(daemon, hostdir):
    name = "disk-req"
    missing = os.path.join(hostdir, "nope")
    daemon.lxc("init", "busybox", name)
    try:
        daemon.lxc("config", "device", "add", name, "opt", "disk", f"source={missing}", "path=/opt/x",
                   "required=false")
        daemon.lxc("start", name, timeout=CR_TIMEOUT)
        assert status_of(daemon, name)[0] == "Running"
        assert not mounted_at(daemon, name, "/opt/x")
        daemon.lxc("stop", name, "--force", timeout=CR_TIMEOUT)
        # Required (the default): the start fails and says why; nothing runs.
        daemon.lxc("config", "device", "add", name, "must", "disk", f"source={missing}", "path=/must")
        r = daemon.lxc("start", name, check=False, timeout=CR_TIMEOUT)
        assert r.returncode != 0
        assert f'Disk device "must": source "{missing}" does not exist' in r.stderr, r.stderr
        assert status_of(daemon, name)[0] == "Stopped"
        # Live: a missing required source is refused and not recorded; one not required is
        # accepted and left out.
        daemon.lxc("config", "device", "remove", name, "must")
        daemon.lxc("start", name, timeout=CR_TIMEOUT)
        r = daemon.lxc("config", "device", "add", name, "must", "disk", f"source={missing}", "path=/must",
                       check=False)
        assert r.returncode != 0 and "does not exist" in r.stderr, r.stderr
        assert "must" not in daemon.instance(name)["devices"]
        daemon.ferry("config", "device", "add", name, "opt2", "disk", f"source={missing}", "path=/opt/y",
                     "required=false")
        assert "opt2" in daemon.instance(name)["devices"]
        assert not mounted_at(daemon, name, "/opt/y")
        # Created later, it is there from the next start.
        os.mkdir(missing)
        daemon.lxc("restart", name, "--force", timeout=CR_TIMEOUT)
        assert mounted_at(daemon, name, "/opt/x") and mounted_at(daemon, name, "/opt/y")
    finally:
        delete(daemon, name)


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_bad_input_refused(daemon, hostdir, client):
    run = daemon.lxc if client == "lxc" else daemon.ferry
    name = f"disk-bad-{client}"
    daemon.lxc("init", "busybox", name)
    try:
        before = daemon.instance(name)["devices"]
        cases = [
            (["source=srv/rel", "path=/mnt"], "must be an absolute path on the host"),
            ([f"source={hostdir}", "path=mnt"], "must be an absolute path in the container"),
            ([f"source={hostdir}", "path=/"], 'cannot be mounted on "/"'),
            ([f"source={hostdir}", "path=/mnt/../etc"], "must be an absolute path in the container"),
            ([f"source={hostdir}", "path=/mnt", "pool=default"], 'unsupported disk key "pool"'),
            ([f"source={hostdir}", "path=/mnt", "bogus=1"], 'unsupported disk key "bogus"'),
            ([f"source={hostdir}", "path=/mnt", "shift=true"], "shift is not supported"),
            ([f"source={hostdir}", "path=/mnt", "readonly=maybe"], 'invalid value for "readonly"'),
            (["path=/mnt"], 'needs a "source"'),
        ]
        for args, words in cases:
            r = run("config", "device", "add", name, "bad", "disk", *args, check=False)
            assert r.returncode != 0 and words in r.stderr, (args, r.stderr)
        assert daemon.instance(name)["devices"] == before
        # A profile's devices are checked the same way.
        r = daemon.lxc("profile", "device", "add", "default", "bad", "disk", "source=rel", "path=/mnt",
                       check=False)
        assert r.returncode != 0 and "absolute path on the host" in r.stderr, r.stderr
    finally:
        delete(daemon, name)


def test_symlink_on_the_way_is_refused(daemon, hostdir):
    """Root inside owns the rootfs: a symlink it plants where a disk goes must not make
    ferry bind over what the link points to (the container's /etc, or through /proc/1/root
    anything else); the mount is refused, live and at start, and nothing is mounted."""
    name = "disk-symlink"
    boot(daemon, name, daemon.lxc)
    try:
        sh(daemon, name, "ln -s /etc /mnt/evil; ln -s /proc/1/root/etc /mnt/magic; touch /etc/marker")
        for path in ("/mnt/evil", "/mnt/evil/sub", "/mnt/magic/x"):
            r = daemon.lxc("config", "device", "add", name, "share", "disk", f"source={hostdir}",
                           f"path={path}", check=False)
            assert r.returncode != 0 and "symlink" in r.stderr, (path, r.stderr)
            assert "share" not in daemon.instance(name)["devices"]
        assert sh(daemon, name, "ls /etc/marker && ! grep -q ' /etc' /proc/self/mountinfo",
                  check=False).returncode == 0
        assert "from the host" not in sh(daemon, name, "cat /etc/hello 2>/dev/null", check=False).stdout
        # At start: the same refusal fails the start.
        daemon.lxc("stop", name, "--force", timeout=CR_TIMEOUT)
        daemon.lxc("config", "device", "add", name, "share", "disk", f"source={hostdir}", "path=/mnt/evil/x")
        r = daemon.lxc("start", name, check=False, timeout=CR_TIMEOUT)
        assert r.returncode != 0 and "symlink" in r.stderr, r.stderr
        assert status_of(daemon, name)[0] == "Stopped"
        assert not os.path.exists("/etc/x") or not host_mounts_of("/etc/x")
    finally:
        delete(daemon, name)


HOLDER = ("setsid sh -c 'echo $$ > /tmp/holder.pid; exec 3>>/mnt/share/log 4</mnt/ro/hello; "
          "while :; do echo tick >&3; sleep 0.2; done' </dev/null >/dev/null 2>&1 &")


def ticks(hostdir):
    try:
        with open(os.path.join(hostdir, "log")) as f:
            return f.read().count("tick")
    except FileNotFoundError:
        return 0


def start_holder(daemon, name, hostdir):
    sh(daemon, name, HOLDER)
    wait_until(lambda: ticks(hostdir) > 2, "the holder to write through its descriptor")
    return sh(daemon, name, "cat /tmp/holder.pid").stdout.strip()


def assert_holder_survived(daemon, name, hostdir, pid):
    links = sh(daemon, name, f"readlink /proc/{pid}/fd/3; readlink /proc/{pid}/fd/4", check=False)
    assert links.stdout.split() == ["/mnt/share/log", "/mnt/ro/hello"], (links.stdout, links.stderr,
                                                                       fail_detail(daemon, name))
    n = ticks(hostdir)
    wait_until(lambda: ticks(hostdir) > n + 2, "the restored holder to write on")
    assert mounted_at(daemon, name, "/mnt/share") and mounted_at(daemon, name, "/mnt/ro")
    if "onefile" in daemon.instance(name)["devices"]:
        assert sh(daemon, name, "cat /etc/host-hello").stdout == "from the host\n"
        assert sh(daemon, name, "echo x >> /etc/host-hello", check=False).returncode != 0
    r = sh(daemon, name, "mount -o remount,rw,bind /mnt/ro /mnt/ro", check=False)
    assert r.returncode != 0, "the restored read-only bind can be remounted read-write"
    w = sh(daemon, name, "echo x > /mnt/ro/new", check=False)
    assert w.returncode != 0 and not os.path.exists(os.path.join(hostdir, "new"))


@pytest.fixture(params=["unprivileged", "privileged"])
def holder(daemon, hostdir, request):
    name = f"disk-cr-{request.param}"
    boot(daemon, name, daemon.lxc, *(["-c", "security.privileged=true"] if request.param == "privileged" else []))
    os.chown(hostdir, host_uid(daemon.init_pid(name)), -1)
    daemon.lxc("config", "device", "add", name, "share", "disk", f"source={hostdir}", "path=/mnt/share")
    daemon.lxc("config", "device", "add", name, "ro", "disk", f"source={hostdir}", "path=/mnt/ro",
               "readonly=true")
    daemon.lxc("config", "device", "add", name, "onefile", "disk", f"source={hostdir}/hello",
               "path=/etc/host-hello", "readonly=true")
    yield name
    delete(daemon, name)


def test_stateful_stop_start_keeps_open_file(daemon, hostdir, holder):
    name = holder
    pid = start_holder(daemon, name, hostdir)
    daemon.lxc("stop", name, "--stateful", timeout=CR_TIMEOUT)
    assert status_of(daemon, name) == ("Stopped", True), fail_detail(daemon, name)
    daemon.lxc("start", name, timeout=CR_TIMEOUT)
    assert status_of(daemon, name)[0] == "Running", fail_detail(daemon, name)
    assert_holder_survived(daemon, name, hostdir, pid)
    # The restored binds are recorded again: they can be removed live, and dumped again.
    daemon.lxc("stop", name, "--stateful", timeout=CR_TIMEOUT)
    daemon.lxc("start", name, timeout=CR_TIMEOUT)
    assert_holder_survived(daemon, name, hostdir, pid)


def test_stateful_snapshot_restore_keeps_open_file(daemon, hostdir, holder):
    name = holder
    pid = start_holder(daemon, name, hostdir)
    daemon.lxc("snapshot", name, "s1", "--stateful", timeout=CR_TIMEOUT)
    daemon.lxc("restore", name, "s1", "--stateful", timeout=CR_TIMEOUT)
    assert status_of(daemon, name)[0] == "Running", fail_detail(daemon, name)
    assert_holder_survived(daemon, name, hostdir, pid)


def test_stateful_start_refused_without_the_device(daemon, hostdir, holder):
    name = holder
    start_holder(daemon, name, hostdir)
    daemon.lxc("stop", name, "--stateful", timeout=CR_TIMEOUT)
    daemon.lxc("config", "device", "remove", name, "share")
    r = daemon.lxc("start", name, check=False, timeout=CR_TIMEOUT)
    assert r.returncode != 0 and 'Disk device "share" was mounted on /mnt/share' in r.stderr, r.stderr
    assert status_of(daemon, name) == ("Stopped", True)
    daemon.lxc("config", "device", "add", name, "share", "disk", f"source={hostdir}", "path=/mnt/share")
    # One added while the state waits is mounted once the processes are back.
    daemon.lxc("config", "device", "add", name, "extra", "disk", f"source={hostdir}", "path=/mnt/extra")
    daemon.lxc("start", name, timeout=CR_TIMEOUT)
    assert status_of(daemon, name)[0] == "Running", fail_detail(daemon, name)
    assert sh(daemon, name, "cat /mnt/extra/hello").stdout == "from the host\n"
    daemon.lxc("config", "device", "remove", name, "extra")
    assert not mounted_at(daemon, name, "/mnt/extra")


MOVE_TIMEOUT = 180


@pytest.mark.lab(hosts=2)
def test_live_move_with_disk_devices(lab):
    """Each lab host sees lab.common_root as its own directory: a source made there on both
    hosts moves along (the process holding files open on the binds writes on, on the
    target); a source only the source host has is refused by the target's checks before
    anything is frozen, and the container runs on where it was, unchanged."""
    lab.remotes()
    h1, h2 = lab.hosts
    src = os.path.join(lab.common_root, "share")
    # The same storage on both hosts (as a network file system would be): the file the
    # holder has open must be there on the target too.
    os.mkdir(h1.real_path(src))
    os.chmod(h1.real_path(src), 0o777)
    with open(os.path.join(h1.real_path(src), "hello"), "w") as f:
        f.write("from the host\n")
    os.symlink(h1.real_path(src), h2.real_path(src))
    h1.lxc("launch", "busybox", "m1", timeout=CR_TIMEOUT)
    wait_until(lambda: "boot complete" in console(h1, "m1"), "m1 to boot")
    h1.lxc("config", "device", "add", "m1", "share", "disk", f"source={src}", "path=/mnt/share")
    h1.ferry("config", "device", "add", "m1", "ro", "disk", f"source={src}", "path=/mnt/ro", "readonly=true")
    pid = start_holder(h1, "m1", h1.real_path(src))
    h1.lxc("move", "m1", "h2:", timeout=MOVE_TIMEOUT)
    assert "m1" not in h1.instance_names() and h2.instance("m1")["status"] == "Running"
    assert_holder_survived(h2, "m1", h2.real_path(src), pid)

    # Only h1 has this one: refused by h2's checks, m1 running on h1 as it was.
    only = os.path.join(lab.common_root, "only-here")
    os.mkdir(h1.real_path(only))
    h1.lxc("launch", "busybox", "m2", timeout=CR_TIMEOUT)
    wait_until(lambda: "boot complete" in console(h1, "m2"), "m2 to boot")
    h1.lxc("config", "device", "add", "m2", "only", "disk", f"source={only}", "path=/mnt/only")
    init = h1.init_pid("m2")
    r = h1.ferry("move", "m2", "h2:", check=False, timeout=MOVE_TIMEOUT)
    assert r.returncode != 0, r.stdout
    assert (f"Migration check 'disks' failed: Disk device \"only\": source \"{only}\" does not exist on the target"
            in r.stderr), r.stderr
    assert h1.instance("m2")["status"] == "Running" and h1.init_pid("m2") == init
    assert "m2" not in h2.instance_names()
    assert not os.path.exists(os.path.join(h2.root, "containers", "m2"))
    assert mounted_at(h1, "m2", "/mnt/only")
    # Nothing was ever frozen: no dump was attempted on the source.
    assert not [f for f in os.listdir(os.path.join(h1.root, "logs", "m2")) if "dump" in f]
    for h, names in ((h1, ["m2"]), (h2, ["m1"])):
        for n in names:
            h.lxc("delete", "--force", n, timeout=CR_TIMEOUT)


def test_profile_devices_live(daemon, hostdir):
    """A profile's disk devices reach the instances using it, at start and live; a change
    one running instance refuses leaves the profile as it was."""
    name = "disk-prof"
    daemon.lxc("profile", "create", "disks")
    try:
        daemon.lxc("profile", "device", "add", "disks", "early", "disk", f"source={hostdir}", "path=/mnt/early")
        boot(daemon, name, daemon.lxc, "-p", "default", "-p", "disks")
        assert mounted_at(daemon, name, "/mnt/early")
        daemon.lxc("profile", "device", "add", "disks", "late", "disk", f"source={hostdir}", "path=/mnt/late",
                   "readonly=true")
        assert sh(daemon, name, "cat /mnt/late/hello").stdout == "from the host\n"
        r = daemon.lxc("profile", "device", "add", "disks", "gone", "disk", f"source={hostdir}/nope",
                       "path=/mnt/gone", check=False)
        assert r.returncode != 0 and "does not exist" in r.stderr, r.stderr
        assert "gone" not in daemon.api_ok("GET", "/1.0/profiles/disks")["devices"]
        daemon.lxc("profile", "device", "remove", "disks", "early")
        assert not mounted_at(daemon, name, "/mnt/early") and mounted_at(daemon, name, "/mnt/late")
        # The instance's own device of the same name wins over the profile's.
        daemon.lxc("config", "device", "add", name, "late", "disk", f"source={hostdir}", "path=/mnt/own")
        assert mounted_at(daemon, name, "/mnt/own") and not mounted_at(daemon, name, "/mnt/late")
    finally:
        delete(daemon, name)
        daemon.lxc("profile", "delete", "disks", check=False)
