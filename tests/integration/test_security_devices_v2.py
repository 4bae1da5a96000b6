"""Root inside a privileged container against the host's devices on a cgroup2-only host (issue 9,
item 10 on Debian 12's default layout). v2 has no devices controller: Ferry attaches a
BPF_CGROUP_DEVICE program with v1's allow list to the container's cgroup NAME, whose
processes live in NAME/ns. Root inside may still mknod any node, but opening one outside
the list fails with EPERM: the host's loop device and root disk stay unreadable, while
/dev/null, /dev/zero, /dev/urandom, /dev/tty and /dev/pts/* keep working.

On a hybrid host (these machines), as in test_security_perms, ferryd runs in a private
mount namespace where the controller-less cgroup2 is bound on /sys/fs/cgroup (the
reference's "Testing cgroup v2 code paths"); on a cgroup2 host it runs as it is."""

import ctypes
import os
import signal
import struct
import tempfile

import pytest

from conftest import Daemon, _remove_tree, cgroup_dir_of, teardown_daemon

NAME = "dev2"
BPF_PROG_QUERY = 16
BPF_CGROUP_DEVICE = 6
BPF_F_QUERY_EFFECTIVE = 1
SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)


HYBRID = not os.path.exists("/sys/fs/cgroup/cgroup.controllers")


@pytest.fixture(scope="module")
def d():
    """A ferryd on the cgroup2-only layout (this host's, or the hybrid host's cgroup2
    bound on /sys/fs/cgroup in a private mount namespace), with one running container."""
    if HYBRID and not os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
        pytest.skip("no cgroup2 hierarchy on this host")
    daemon = Daemon(tempfile.mkdtemp(prefix="ferry-test-", dir="/tmp"))
    if HYBRID:
        daemon.wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          'mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec "$0" "$@"']
    daemon.start()
    try:
        assert daemon.api_ok("GET", "/1.0")["environment"]["cgroup_layout"] == "cgroup2"
        # Privileged: root inside may mknod (an unprivileged one may not at all,
        # test_security_container), and only the program stands between it and a disk.
        daemon.launch(NAME, config={"security.privileged": "true"})
        yield daemon
    finally:
        problems = teardown_daemon(daemon)
        _remove_tree(daemon, keep_logs=bool(problems))
        if problems:
            pytest.fail("teardown of " + daemon.root + " found:\n- " + "\n- ".join(problems), pytrace=False)


def sh(d, script, tty=False):
    """SCRIPT as root in the container; its output and exit status."""
    cp = d.ferry("exec", *(["-t"] if tty else []), NAME, "--", "sh", "-c", script, check=False)
    return cp.stdout + cp.stderr + f"rc={cp.returncode}\n"


def host_disk():
    """major, minor of the block device the host's / is on, or None (e.g. an overlay)."""
    dev = os.stat("/").st_dev
    return (os.major(dev), os.minor(dev)) if os.major(dev) != 0 else None


def device_programs(cgroup_dir, effective=False):
    """How many BPF_CGROUP_DEVICE programs are attached to (or run for) CGROUP_DIR."""
    if SYS_BPF is None:
        pytest.skip(f"bpf(2) number unknown on {os.uname().machine}")
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ids = (ctypes.c_uint32 * 64)()
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("IIIIQI", attr, 0, fd, BPF_CGROUP_DEVICE, BPF_F_QUERY_EFFECTIVE if effective else 0, 0,
                         ctypes.addressof(ids), len(ids))
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(SYS_BPF, BPF_PROG_QUERY, attr, len(attr)) != 0:
            raise OSError(ctypes.get_errno(), f"BPF_PROG_QUERY on {cgroup_dir}")
        return struct.unpack_from("I", attr, 24)[0]
    finally:
        os.close(fd)


def assert_host_devices_unreadable(d):
    disks = [("loop0", 7, 0)]
    if host_disk() is not None:
        disks.append(("disk", *host_disk()))
    for node, major, minor in disks:
        out = sh(d, f"rm -f /tmp/{node}; mknod /tmp/{node} b {major} {minor} && head -c 1 /tmp/{node} >/dev/null")
        assert "Operation not permitted" in out and not out.endswith("rc=0\n"), \
            f"block device {major}:{minor} was readable (or failed otherwise) in the container:\n{out}"
    status, _ = d.api("GET", "/1.0")
    assert status == 200, "ferryd stopped serving"


def test_program_is_on_the_cgroup_outside_the_container(d):
    """The program is attached to NAME, which the container's cgroup namespace hides
    (it sees NAME/ns as "/"), and it runs for NAME/ns."""
    ns = cgroup_dir_of(d.init_pid(NAME), "")
    assert os.path.basename(ns) == "ns", ns
    assert device_programs(os.path.dirname(ns)) == 1
    assert device_programs(ns) == 0
    assert device_programs(ns, effective=True) == 1
    assert "0::/\n" in sh(d, "cat /proc/self/cgroup")


def test_host_disks_unreadable(d):
    assert_host_devices_unreadable(d)


def test_allowed_devices_still_work(d):
    out = sh(d, "head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && head -c 4 /dev/full | wc -c"
                " && echo x > /dev/null && rm -f /tmp/null && mknod /tmp/null c 1 3 && echo x > /tmp/null")
    assert out == "4\n4\n4\nrc=0\n", out
    out = sh(d, "echo x > /dev/tty && echo y > $(tty) && tty", tty=True)
    assert "/dev/pts/" in out and out.rstrip().endswith("rc=0"), out
    # The kernel's check comes before the driver's: mem is refused, not missing.
    out = sh(d, "rm -f /tmp/mem; mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem")
    assert "Operation not permitted" in out, out


def test_policy_survives_ferryd_restart(d):
    """The kernel holds the program while NAME exists: a new ferryd adds nothing."""
    d.kill(signal.SIGKILL)
    d.start()
    ns = cgroup_dir_of(d.init_pid(NAME), "")
    assert device_programs(os.path.dirname(ns)) == 1
    assert_host_devices_unreadable(d)


@pytest.mark.skipif(HYBRID, reason="the emulation cannot restore: CRIU also restores the container's cgroups "
                    "in the v1 hierarchies a hybrid kernel keeps, fails writing cpuset.cpus there and leaves "
                    "v1 cgroups behind (reference page)")
def test_policy_after_stateful_snapshot_restore(d):
    """A restore makes a fresh NAME through the same path as a start, program included."""
    d.ferry("snapshot", NAME, "s1", "--stateful", timeout=180)
    d.ferry("restore", NAME, "s1", timeout=180)
    ns = cgroup_dir_of(d.init_pid(NAME), "")
    assert device_programs(os.path.dirname(ns)) == 1
    assert_host_devices_unreadable(d)
