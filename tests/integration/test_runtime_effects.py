"""What a process inside a Ferry container actually sees: namespaces, mounts,
capabilities, devices, console.  Looked at from inside (lxc exec) and from the host
(/proc/<init pid>)."""

import os
import subprocess

import pytest

from conftest import LXC, pid_alive, wait_until

CAP_SYS_MODULE = 16
CAP_SYS_RAWIO = 17
CAP_MAC_OVERRIDE = 32
CAP_MAC_ADMIN = 33


@pytest.fixture(scope="module")
def c1(daemon):
    daemon.lxc("launch", "busybox", "c1")
    wait_until(lambda: "boot complete" in console(daemon, "c1"), "the boot message on the console")
    return "c1"


def console(daemon, name):
    status, body = daemon.request("GET", f"/1.0/instances/{name}/logs/console.log")
    return body.decode(errors="replace") if status == 200 else ""


def sh(daemon, script, **kw):
    return daemon.lxc("exec", "c1", "--", "sh", "-c", script, **kw)


def mounts_inside(daemon):
    out = daemon.lxc("exec", "c1", "--", "cat", "/proc/mounts").stdout
    table = {}
    for line in out.splitlines():
        src, mp, fstype, opts = line.split()[:4]
        table[mp] = (fstype, opts.split(","))
    return table


def test_mounts(daemon, c1):
    m = mounts_inside(daemon)
    assert m["/proc"][0] == "proc"
    assert m["/sys"][0] == "sysfs" and "ro" in m["/sys"][1], m["/sys"]
    assert m["/dev"][0] == "tmpfs", m["/dev"]
    assert m["/dev/pts"][0] == "devpts", m.get("/dev/pts")
    assert "/proc/sys" in m and "ro" in m["/proc/sys"][1], "expected /proc/sys mounted read-only"


def test_no_host_paths_visible(daemon, c1):
    """The container sees its own rootfs: the daemon's root directory is not reachable."""
    cp = sh(daemon, f"ls {daemon.root}", check=False)
    assert cp.returncode != 0
    m = mounts_inside(daemon)
    assert not any(daemon.root in mp for mp in m), m


def test_proc_sys_is_read_only(daemon, c1):
    cp = sh(daemon, "echo test > /proc/sys/kernel/domainname", check=False)
    assert cp.returncode != 0
    assert "Read-only" in cp.stderr, cp.stderr
    with open("/proc/sys/kernel/domainname") as f:
        assert f.read().strip() != "test"


def test_sys_is_read_only(daemon, c1):
    cp = sh(daemon, "echo 1 > /sys/kernel/profiling || echo 1 > /sys/kernel/uevent_helper", check=False)
    assert cp.returncode != 0
    assert "Read-only" in cp.stderr, cp.stderr


def test_dev_nodes(daemon, c1):
    out = daemon.lxc("exec", "c1", "--", "ls", "-l", "/dev/console", "/dev/null", "/dev/zero",
                     "/dev/urandom", "/dev/tty", "/dev/ptmx").stdout
    lines = {ln.split()[-1]: ln for ln in out.splitlines()}
    assert lines["/dev/console"].startswith("c"), out
    assert lines["/dev/null"].startswith("crw-rw-rw-") and " 1,   3 " in lines["/dev/null"], out
    # /dev/console is a pty slave (major 136), whose output goes to the console log.
    assert " 136, " in lines["/dev/console"], out
    assert daemon.lxc("exec", "c1", "--", "sh", "-c", "head -c 16 /dev/zero | wc -c").stdout.strip() == "16"
    # No host disks are exposed.
    assert sh(daemon, "ls /dev/vda /dev/sda /dev/mem /dev/kmsg 2>/dev/null", check=False).stdout == ""


def test_console_is_a_tty(daemon, c1):
    """init's stdio is the console, and it is a terminal."""
    out = sh(daemon, "readlink /proc/1/fd/0; [ -t 0 ] < /dev/console && echo isatty").stdout
    assert out.splitlines() == ["/dev/console", "isatty"], out


def test_capability_bounding_set(daemon, c1):
    out = sh(daemon, "grep CapBnd /proc/1/status").stdout
    bnd = int(out.split()[1], 16)
    for cap in (CAP_SYS_MODULE, CAP_MAC_ADMIN, CAP_MAC_OVERRIDE):
        assert not bnd & (1 << cap), f"capability {cap} still in the bounding set: {out}"
    assert bnd & (1 << 21), "CAP_SYS_ADMIN should stay (privileged system container)"
    # Exec'd processes get the same bounding set as init.
    assert sh(daemon, "grep CapBnd /proc/self/status").stdout.split()[1] == out.split()[1]


def test_seccomp_filter_active(daemon, c1):
    out = sh(daemon, "grep Seccomp: /proc/1/status").stdout
    assert out.split()[1] == "2", f"init is not under a seccomp filter: {out}"


def test_own_network_namespace_with_only_its_devices(daemon, c1):
    """Only lo and the nics of its expanded devices (the default profile's eth0); no host link."""
    out = daemon.lxc("exec", "c1", "--", "ip", "-o", "link").stdout
    ifaces = sorted(ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines())
    expanded = daemon.api("GET", "/1.0/instances/c1")[1]["metadata"]["expanded_devices"]
    nics = sorted(dev.get("name", name) for name, dev in expanded.items() if dev.get("type") == "nic")
    assert ifaces == sorted(["lo"] + nics), out
    pid = daemon.init_pid("c1")
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")


@pytest.mark.parametrize("ns", ["mnt", "pid", "uts", "ipc", "net", "cgroup"])
def test_namespaces_differ_from_host(daemon, c1, ns):
    pid = daemon.init_pid("c1")
    assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")


def test_pid_namespace(daemon, c1):
    pid = daemon.init_pid("c1")
    assert pid != 1 and pid_alive(pid)
    with open(f"/proc/{pid}/status") as f:
        nspid = [ln.split()[1:] for ln in f if ln.startswith("NSpid:")][0]
    assert nspid[0] == str(pid) and nspid[-1] == "1", nspid
    # From inside, only the container's own processes are visible.
    inside = sh(daemon, "ls -d /proc/[0-9]* | wc -l").stdout.strip()
    assert int(inside) < 20, inside


def test_hostname_and_uts(daemon, c1):
    assert sh(daemon, "cat /proc/sys/kernel/hostname").stdout == "c1\n"
    assert os.uname().nodename != "c1"


def test_init_is_image_init(daemon, c1):
    pid = daemon.init_pid("c1")
    assert sh(daemon, "readlink /proc/1/exe").stdout.strip() in ("/bin/busybox", "/sbin/init")
    with open(f"/proc/{pid}/comm") as f:
        assert f.read().strip() == "init"


def test_init_fds_stay_inside_container(daemon, c1):
    """Checkpointability: no fd of init may point outside the container's mount namespace."""
    out = sh(daemon, "ls -l /proc/1/fd | tail -n +2").stdout
    for line in out.splitlines():
        target = line.split(" -> ")[1]
        if target.startswith(("pipe:", "socket:", "anon_inode:")):
            continue
        assert sh(daemon, f"test -e '{target}'", check=False).returncode == 0, \
            f"init holds {target}, which does not exist inside the container"


def test_console_log_has_boot_message(daemon, c1):
    assert "Ferry busybox: boot complete" in console(daemon, "c1")
    # The list of log files names the console log.
    status, env = daemon.api("GET", "/1.0/instances/c1/logs")
    assert status == 200 and "/1.0/instances/c1/logs/console.log" in env["metadata"], env


def test_console_output_from_inside_reaches_log(daemon, c1):
    sh(daemon, "echo marker-from-inside-12345 > /dev/console")
    wait_until(lambda: "marker-from-inside-12345" in console(daemon, "c1"), "console marker in the log")


def test_lxc_console_show_log(daemon, c1):
    out = daemon.lxc("console", "--show-log", "c1").stdout
    assert "boot complete" in out, out


def test_lxc_info_show_log(daemon, c1):
    out = daemon.lxc("info", "--show-log", "c1").stdout
    assert "Log:" in out
    assert "c1" in out.split("Log:", 1)[1], out


def test_interactive_exec_gets_a_pty(daemon, c1):
    """`lxc exec` on a terminal runs the command on a pty; the exit code still propagates."""
    env = dict(os.environ, LXD_DIR=daemon.root, LXD_CONF=daemon.lxd_conf, TERM="xterm")
    cmd = f"{LXC} exec c1 -- sh -c 'tty; exit 5'"
    cp = subprocess.run(["script", "-qec", cmd, "/dev/null"], env=env, stdin=subprocess.DEVNULL,
                        capture_output=True, text=True, timeout=30)
    assert "/dev/pts/" in cp.stdout, f"tty printed: {cp.stdout!r} stderr: {cp.stderr!r}"
    assert cp.returncode == 5, (cp.returncode, cp.stdout)


def test_exec_runs_in_container_cgroup_and_namespaces(daemon, c1):
    """Exec'd processes join init's cgroups and namespaces, so limits apply to them too."""
    out = sh(daemon, "cat /proc/1/cgroup; echo ==; cat /proc/self/cgroup; echo ==; "
                     "for n in mnt pid uts ipc net cgroup; do "
                     "[ $(readlink /proc/1/ns/$n) = $(readlink /proc/self/ns/$n) ] || echo differs $n; done").stdout
    init_cg, self_cg, ns = out.split("==\n")
    assert init_cg == self_cg, out
    assert ns.strip() == "", out
