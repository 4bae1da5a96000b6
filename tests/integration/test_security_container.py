"""Root inside a container against the host, in both modes: privileged (no user
namespace; issue 9, items 9-11) and unprivileged (LXD's default; issue 11): host
sysctls, sysfs and sysrq through mounts, device limits raised from inside, cgroup
v1 release agents, cgroup mounts reaching outside its own subtree, the host's
kernel log, modules, kexec, file handles.
Every attack runs for real, as root in a container, through `ferry exec`, and
from a process the container keeps running across a stateful snapshot and
restore; each must fail while ferryd keeps serving, and what systemd needs of
mount(2) must keep working."""

import os
import shutil
import subprocess

import pytest

from conftest import BUILD, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
ATTACK_SRC = os.path.join(HERE, "workload", "attack.c")
ATTACK_BUILT = os.path.join(BUILD, "tests", "integration", "workload", "attack")
CR_TIMEOUT = 180

LOOP = """mkdir -p /sec
while true; do
  if [ -f /sec/cmd ]; then sh /sec/cmd > /sec/out 2>&1; echo "rc=$?" >> /sec/out; rm /sec/cmd; fi
  sleep 0.05
done
"""


def attack_binary(tmp_path_factory):
    if os.path.exists(ATTACK_BUILT) and os.path.getmtime(ATTACK_BUILT) >= os.path.getmtime(ATTACK_SRC):
        return ATTACK_BUILT
    out = str(tmp_path_factory.mktemp("attack") / "attack")
    cp = subprocess.run(["cc", "-static", "-O2", "-Wall", "-pthread", "-o", out, ATTACK_SRC],
                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    if cp.returncode != 0:
        pytest.fail(f"compiling {ATTACK_SRC} failed:\n{cp.stderr}")
    return out


class Container:
    """A busybox container with the attack helper, and a shell loop started at
    boot time that runs /sec/cmd: a process of the container's own tree (not an
    exec session), which a stateful snapshot dumps and a restore brings back."""

    def __init__(self, daemon, name, attack, privileged):
        self.daemon, self.name, self.privileged = daemon, name, privileged
        daemon.lxc("launch", "busybox", name, "-c", f"security.privileged={str(privileged).lower()}",
                   timeout=CR_TIMEOUT)
        shutil.copy2(attack, os.path.join(self.rootfs, "attack"))
        with open(os.path.join(self.rootfs, "loop.sh"), "w") as f:
            f.write(LOOP)
        self.exec("setsid sh /loop.sh </dev/null >/dev/null 2>&1 &")
        wait_until(lambda: os.path.isdir(os.path.join(self.rootfs, "sec")), "the command loop")

    @property
    def rootfs(self):
        return os.path.join(self.daemon.root, "containers", self.name, "rootfs")

    def exec(self, script):
        cp = self.daemon.lxc("exec", self.name, "--", "sh", "-c", script, check=False)
        return cp.stdout + cp.stderr + f"rc={cp.returncode}\n"

    def in_tree(self, script):
        """SCRIPT run by the container's own command loop; its output and rc."""
        sec = os.path.join(self.rootfs, "sec")
        with open(os.path.join(sec, "cmd.tmp"), "w") as f:
            f.write(script)
        os.rename(os.path.join(sec, "cmd.tmp"), os.path.join(sec, "cmd"))
        wait_until(lambda: not os.path.exists(os.path.join(sec, "cmd")), f"{script!r} in the loop")
        with open(os.path.join(sec, "out")) as f:
            return f.read()


def failed(out):
    return not out.rstrip().endswith("rc=0")


def assert_serving(daemon):
    status, _ = daemon.api("GET", "/1.0")
    assert status == 200, "ferryd stopped serving"


@pytest.fixture(scope="module", params=["privileged", "unprivileged"])
def box(daemon, tmp_path_factory, request):
    privileged = request.param == "privileged"
    box = Container(daemon, "sec-priv" if privileged else "sec-unpriv", attack_binary(tmp_path_factory), privileged)
    uid_map = box.exec("cat /proc/self/uid_map").split()
    assert (uid_map[:2] == ["0", "0"]) == privileged, uid_map
    return box


def both(box, script):
    """SCRIPT through an exec session and through the container's own tree."""
    return [box.exec(script), box.in_tree(script)]


def mounts_refused(box, attacks):
    """Privileged: each mount attack fails (the monitor refuses it). Unprivileged: the
    kernel decides, and lets the container's root remount or unmount what it mounted in
    its own user namespace (/proc/sys read-only, the masks), as in LXD's unprivileged
    containers: what holds is the kernel's ownership check on every host sysctl and
    sysfs file, which the callers then test by opening them for writing."""
    for attack in attacks:
        for out in both(box, attack):
            assert failed(out) or not box.privileged, f"{attack!r} worked:\n{out}"


def test_proc_sys_stays_read_only(box, daemon):
    attacks = [
        "mount -o remount,bind,rw /proc/sys",
        "mount -o remount,rw /proc/sys",
        "mount -o remount,bind,rw /proc/sys/kernel",
        "umount /proc/sys",
        "umount -l /proc/sys",
        "mkdir -p /mnt/m && mount --move /proc/sys /mnt/m",
        "mkdir -p /mnt/p && mount -t proc proc /mnt/p",
        "mkdir -p /mnt/b && mount --bind /proc /mnt/b",
        # systemd's way of naming a target (mount_nofollow): the same checks apply.
        "mkdir -p /mnt/fb && exec 4</proc && mount --bind /proc/self/fd/4 /mnt/fb",
        "mkdir -p /mnt/fm && exec 4</mnt/fm && mount --move /proc/sys /proc/thread-self/fd/4",
        # A mount no path reaches any more (covered), moved from the inside: the kernel still
        # knows it sits on proc.
        "mkdir -p /mnt/rp /mnt/ry && mount --rbind /proc /mnt/rp && cd /mnt/rp/sys"
        " && mount -t tmpfs cover /mnt/rp && mount --move . /mnt/ry",
        "mkdir -p /mnt/r && mount --rbind /proc /mnt/r && umount /mnt/r/sys",
        # umount2(".") (the end of pivot_root(".", ".")) of what a working directory in
        # proc or sysfs is: the masks themselves.
        "/attack umount-dot /proc/sys",
        "/attack umount-dot /proc/sys/kernel",
        "/attack umount-dot /sys",
    ]
    mounts_refused(box, attacks)
    for path in ("/proc/sys/kernel/core_pattern", "/mnt/r/sys/kernel/core_pattern",
                 "/mnt/p/sys/kernel/core_pattern", "/mnt/b/sys/kernel/core_pattern",
                 "/mnt/fb/sys/kernel/core_pattern", "/mnt/fm/kernel/core_pattern",
                 "/mnt/m/kernel/core_pattern"):
        for out in both(box, f"/attack open-write {path}"):
            assert "open-write ok" not in out, f"{path} opened for writing:\n{out}"
    with open("/proc/sys/kernel/core_pattern") as f:
        assert "ferry" not in f.read()
    assert_serving(daemon)


def test_sysfs_and_sysrq_stay_read_only(box, daemon):
    attacks = [
        "mkdir -p /mnt/s && mount -t sysfs sysfs /mnt/s",
        "mount -o remount,rw /sys",
        "mount -o remount,bind,rw /sys",
        "mount -o remount,bind,rw /proc/sysrq-trigger",
        "umount /proc/sysrq-trigger",
        "umount /sys/firmware",
        "mkdir -p /mnt/d && mount -t devtmpfs devtmpfs /mnt/d",
        "mkdir -p /mnt/f && mount -t binfmt_misc binfmt_misc /mnt/f",
        "mkdir -p /mnt/g && mount -t debugfs debugfs /mnt/g",
    ]
    mounts_refused(box, attacks)
    for path in ("/sys/kernel/uevent_helper", "/proc/sysrq-trigger", "/sys/power/state", "/proc/sys/vm/drop_caches"):
        for out in both(box, f"/attack open-write {path}"):
            assert "open-write ok" not in out, f"{path} opened for writing:\n{out}"
    assert_serving(daemon)


def test_device_limits_cannot_be_raised(box, daemon):
    if not os.path.exists("/sys/fs/cgroup/devices"):
        pytest.skip("no cgroup v1 devices hierarchy on this host")
    for out in both(box, "mkdir -p /mnt/dev && (mountpoint -q /mnt/dev || mount -t cgroup -o devices cgroup /mnt/dev)"
                    " && echo 'b 7:0 r' > /mnt/dev/devices.allow"):
        assert failed(out), f"devices.allow was writable:\n{out}"
    for out in both(box, "rm -f /dev/loop0; mknod /dev/loop0 b 7 0 && head -c 1 /dev/loop0 >/dev/null"):
        assert failed(out), f"the host's /dev/loop0 was readable:\n{out}"
    assert_serving(daemon)


def test_cgroup_v1_release_agent(box, daemon):
    # New hierarchies (unbound controllers, names) would have their root, and
    # its release_agent (run as host root), inside the container.
    attacks = [
        "mkdir -p /mnt/x && mount -t cgroup -o rdma cgroup /mnt/x",
        "mkdir -p /mnt/x && mount -t cgroup -o none,name=escape cgroup /mnt/x",
        "mkdir -p /mnt/x && mount -t cgroup cgroup /mnt/x",
        "mkdir -p /mnt/x && mount -t cgroup -o memory,release_agent=/evil cgroup /mnt/x",
    ]
    for attack in attacks:
        for out in both(box, attack):
            assert failed(out), f"{attack!r} worked:\n{out}"
    assert_serving(daemon)


def test_kernel_log(box, daemon):
    for out in both(box, "dmesg"):
        assert failed(out), f"dmesg worked:\n{out}"
    for out in both(box, "head -c 1 /proc/kmsg"):
        assert failed(out), f"/proc/kmsg was readable:\n{out}"


def test_new_mount_api_and_bpf_refused(box, daemon):
    for out in both(box, "/attack syscalls"):
        for call in ("fsopen", "fspick", "fsconfig", "fsmount", "open_tree", "open_tree_attr", "move_mount",
                     "mount_setattr"):
            assert f"{call} ENOSYS" in out, f"{call} not refused with ENOSYS:\n{out}"
        assert "bpf EPERM" in out, out


def test_kernel_calls_refused(box, daemon):
    """LXD's default seccomp denials and what no container root may do to the kernel."""
    calls = ("init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "open_by_handle_at",
             "keyctl", "iopl", "ioperm")
    for out in both(box, "/attack kernel"):
        for call in calls:
            assert f"{call} " in out and f"{call} ok" not in out, f"{call} was not refused:\n{out}"
    assert_serving(daemon)


def test_cgroup_mounts_stay_in_its_subtree(box, daemon):
    """A cgroup file system mounted inside shows its own cgroup namespace's tree: its
    processes, none of the host's cgroups or its own parents, and limits it cannot raise."""
    v2 = not os.path.exists("/sys/fs/cgroup/memory")
    fstype = "-t cgroup2" if v2 else "-t cgroup -o memory"
    limit = "memory.max" if v2 else "memory.limit_in_bytes"
    for out in both(box, f"mkdir -p /mnt/cg && (mountpoint -q /mnt/cg || mount {fstype} cg /mnt/cg) && "
                         "cat /proc/self/cgroup && ls /mnt/cg && cat /mnt/cg/cgroup.procs"):
        if failed(out):
            continue  # refused: nothing reaches outside either
        assert "system.slice" not in out and "user.slice" not in out and daemon.cgroup_parent not in out, out
        assert "\n1\n" in out, f"its init is not in the mounted tree's root:\n{out}"
    for out in both(box, f"mountpoint -q /mnt/cg && echo max > /mnt/cg/{limit} && cat /mnt/cg/{limit}"):
        assert failed(out), f"its own limit was writable:\n{out}"
    assert_serving(daemon)


def test_mount_string_race(box, daemon):
    # Another thread rewrites "tmpfs" into "proc" while mount(2) waits: the
    # monitor mounts what it checked.
    for out in both(box, "/attack race /mnt/race 300"):
        assert "escaped 0" in out, out
        assert "mounted 0" not in out, f"no tmpfs mount went through:\n{out}"


def test_what_systemd_needs_still_works(box, daemon):
    script = """set -e
mkdir -p /mnt/t /mnt/t2 /mnt/cg
mount -t tmpfs tmp /mnt/t
mount -o remount,size=1m /mnt/t
mkdir /mnt/t/d && mount --bind /mnt/t/d /mnt/t2
mount -o remount,bind,ro /mnt/t2
mount --make-rslave /mnt/t
mount --rbind /proc/sys /mnt/t/d
mount -o remount,bind,ro /mnt/t/d
mount -t cgroup2 cgroup2 /mnt/cg
test -f /mnt/cg/cgroup.procs
umount /mnt/cg
umount /mnt/t2
umount -l /mnt/t/d
umount /mnt/t
mount -t cgroup -o name=systemd cgroup /mnt/cg && umount /mnt/cg
mount -t mqueue mqueue /mnt/t && umount /mnt/t
# systemd 257 moves a new root no path reaches onto / when pivot_root fails: a covered
# mount that is not on proc or sysfs may move
mkdir -p /mnt/u/in /mnt/u2 && mount -t tmpfs inner /mnt/u/in && cd /mnt/u/in
mount -t tmpfs cover /mnt/u && mount --move . /mnt/u2 && cd /
grep -q " /mnt/u2 .* - tmpfs inner " /proc/self/mountinfo && umount /mnt/u2 && umount /mnt/u
# systemd mounts on /proc/self/fd/N of a descriptor it opened (mount_nofollow)
mkdir -p /mnt/fd && exec 3</mnt/fd
mount -t tmpfs fd /proc/self/fd/3
grep -q " /mnt/fd .* - tmpfs fd " /proc/self/mountinfo
mount -o remount,size=2m /proc/self/fd/3 && mount -o remount,bind,ro /proc/thread-self/fd/3
exec 3<&- && umount /mnt/fd
# pivot_root(".", ".") then umount2("."), in a mount namespace of its own (systemd 257, runc)
mkdir -p /mnt/pv && mount -t tmpfs pv /mnt/pv && touch /mnt/pv/pivot-marker
/attack pivot /mnt/pv
umount /mnt/pv
"""
    for out in both(box, script):
        assert not failed(out), f"an ordinary mount failed:\n{out}"
    assert_serving(daemon)


def test_host_pressure_information_is_hidden(box):
    # /proc/pressure: host-wide, and its triggers are kernel state no checkpoint holds.
    for out in both(box, "ls -A /proc/pressure"):
        assert out.strip() == "rc=0", out
    for out in both(box, "echo 'some 150000 1000000' > /proc/pressure/memory"):
        assert failed(out), out


def test_attacks_fail_after_stateful_snapshot_restore(box, daemon):
    daemon.lxc("snapshot", box.name, "s1", "--stateful", timeout=CR_TIMEOUT)
    daemon.lxc("restore", box.name, "s1", "--stateful", timeout=CR_TIMEOUT)
    # The loop came back from the images: its mount(2) reaches the new monitor.
    out = box.in_tree("mkdir -p /mnt/after && mount -t tmpfs after /mnt/after && umount /mnt/after")
    assert not failed(out), f"a tmpfs mount failed after the restore:\n{out}"
    mounts_refused(box, ("mount -o remount,bind,rw /proc/sys", "mkdir -p /mnt/p && mount -t proc proc /mnt/p",
                         "mount -t sysfs sysfs /mnt/p", "umount /proc/sysrq-trigger"))
    for attack in ("mount -t cgroup -o rdma cgroup /mnt/p", "dmesg",
                   "mount -t cgroup -o devices cgroup /mnt/p && echo 'b 7:0 r' > /mnt/p/devices.allow"):
        for out in both(box, attack):
            assert failed(out), f"{attack!r} worked after the restore:\n{out}"
    for path in ("/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/sys/kernel/uevent_helper"):
        for out in both(box, f"/attack open-write {path}"):
            assert "open-write ok" not in out, f"{path} opened for writing after the restore:\n{out}"
    for out in both(box, "/attack syscalls"):
        assert "open_tree ENOSYS" in out and "bpf EPERM" in out, out
    for out in both(box, "/attack kernel"):
        assert "init_module ok" not in out and "kexec_load ok" not in out and "open_by_handle_at ok" not in out, out
    assert_serving(daemon)
