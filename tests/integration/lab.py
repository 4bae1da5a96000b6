"""The multi-host lab (scripts/lab) for pytest: several ferryds on one machine, each in a
network namespace of its own, joined by one L2 segment. docs/lab.md describes the layout.

    lab = Lab("mylab", hosts=2, client=True).up()
    h1, h2 = lab.hosts
    h1.launch("c1")                       # raw API over h1's unix socket (conftest.Daemon)
    h1.ferry("list", "h2:")               # after lab.remotes()
    lab.client_run(["busybox", "ping", "-c1", h1.ipv4("c1")])
    h2.kill_daemon(); h2.restart_daemon()
    problems = lab.down()                 # [] when nothing was left behind

The fixtures `lab` (one per test; options with @pytest.mark.lab(hosts=3, client=False,
host_size_mb=64)) and `module_lab` (one per module; options in the module's LAB_OPTIONS)
are in conftest.py and fail a test whose lab leaks.

A Host is a conftest.Daemon, so api/api_ok/launch/instance/... work as for a single daemon.
ferryd sees its root at lab.common_root on every host; from here a host's files are under
host.root (host.real_path() translates a path ferryd reported)."""

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time

from conftest import (BUILD, CMD_TIMEOUT, FERRY, LXC, Daemon, _sanitizer_env, cgroup_mounts, mounts_under,
                      pid_alive, sanitizer_reports, wait_until)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_SCRIPT = os.path.join(REPO, "scripts", "lab")
_names = itertools.count(1)


def _argv(cmd):
    return ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)


class Host(Daemon):
    """One lab host: its ferryd, its clients (run inside its network namespace)."""

    def __init__(self, lab, name):
        # Not Daemon.__init__: scripts/lab starts ferryd, not a Popen of ours.
        self.lab = lab
        self.name = name
        self.index = int(name[1:])
        self.root = os.path.join(lab.dir, "hosts", name)
        self.socket = os.path.join(self.root, "unix.socket")
        self.stdlog = os.path.join(lab.dir, "logs", name + ".log")
        self.ferry_conf = os.path.join(lab.dir, "conf", name, "ferry")
        self.lxd_conf = os.path.join(lab.dir, "conf", name, "lxc")
        self.netns = f"{lab.name}-{name}"
        self.cgroup_parent = f"ferry-lab-{lab.name}-{name}"
        self.address = f"{lab.subnet4}.{self.index}"  # on ferrybr0 and the segment
        self.address6 = f"{lab.prefix6}::{self.index:x}"
        self.https_address = f"{self.address}:8443"
        self.proc = None
        self.stopped_by_test = False
        self.stdlog_reported = 0
        self.crashes = []
        self.exits = []

    def __repr__(self):
        return f"<Host {self.name} of lab {self.lab.name}>"

    # --- ferryd ------------------------------------------------------------------
    @property
    def pid(self):
        try:
            with open(os.path.join(self.lab.dir, "pids", self.name)) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return None
        try:
            if os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)") != os.path.realpath(self.lab.ferryd):
                return None
        except OSError:
            return None
        return pid

    def alive(self):
        pid = self.pid
        return pid is not None and pid_alive(pid)

    def kill(self, sig=signal.SIGKILL):
        """Signal ferryd by its recorded PID and wait until it is gone (containers stay)."""
        pid = self.pid
        if pid is None or not pid_alive(pid):
            raise AssertionError(f"{self}: ferryd is not running:\n{self.log_tail()}")
        self.stopped_by_test = True
        os.kill(pid, sig)
        wait_until(lambda: not pid_alive(pid), f"ferryd of {self.name} to exit on {sig!r}", 15)
        self.exits.append((signal.Signals(sig).name, None))

    def kill_daemon(self):
        self.kill(signal.SIGKILL)

    def stop_daemon(self):
        self.kill(signal.SIGTERM)

    def start(self):
        self.lab.script("daemon", self.lab.name, self.name, "start")
        self.stopped_by_test = False
        return self

    def restart_daemon(self):
        """Kill (if it runs) and start this host's ferryd again, in the same namespaces."""
        if self.alive():
            self.kill_daemon()
        return self.start()

    # --- commands in the host --------------------------------------------------------
    def env(self):
        env = dict(_sanitizer_env(), FERRY_DIR=self.root, FERRY_CONF=self.ferry_conf,
                   LXD_DIR=self.root, LXD_CONF=self.lxd_conf)
        env.pop("LXD_SOCKET", None)
        env.pop("FERRY_SOCKET", None)
        return env

    def nsenter(self, argv, mount_ns=False):
        """argv run in this host's network namespace (and its mount namespace, where
        lab.common_root is this host's root, if mount_ns)."""
        ns = [f"--net=/run/netns/{self.netns}"]
        if mount_ns:
            ns.append(f"--mount={self.lab.dir}/ns/{self.name}.mnt")
        return ["nsenter", *ns, "--", *argv]

    def run(self, cmd, check=True, input=None, timeout=CMD_TIMEOUT, mount_ns=False):
        """A command (argv list, or a string for sh -c) in the host's network namespace."""
        return self._run(self.nsenter(_argv(cmd), mount_ns), self.env(), check, input, timeout)

    def popen(self, cmd, mount_ns=False, **kw):
        kw.setdefault("env", self.env())
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(self.nsenter(_argv(cmd), mount_ns), **kw)

    def ferry(self, *args, check=True, input=None, timeout=CMD_TIMEOUT):
        return self.run([self.lab.ferry_bin, *args], check=check, input=input, timeout=timeout)

    def lxc(self, *args, check=True, input=None, timeout=CMD_TIMEOUT):
        return self.run([LXC, *args], check=check, input=input, timeout=timeout)

    def real_path(self, path):
        """Where a path ferryd reported (under lab.common_root) is seen from here."""
        common = self.lab.common_root
        if path == common or path.startswith(common + "/"):
            return self.root + path[len(common):]
        return path

    # --- addresses -------------------------------------------------------------------
    def addresses(self, name, device="eth0"):
        """(IPv4, global IPv6) of an instance's device, None where it has none yet."""
        st = self.api_ok("GET", f"/1.0/instances/{name}/state")
        dev = (st.get("network") or {}).get(device) or {}
        v4 = [a["address"] for a in (dev.get("addresses") or []) if a["family"] == "inet"]
        v6 = [a["address"] for a in (dev.get("addresses") or [])
              if a["family"] == "inet6" and a["scope"] == "global"]
        return (v4[0] if v4 else None, v6[0] if v6 else None)

    def ipv4(self, name, bound=30.0):
        """The instance's DHCP address, once it has one."""
        return wait_until(lambda: self.addresses(name)[0], f"an IPv4 address for {name} on {self.name}", bound)

    def ipv6(self, name, bound=30.0):
        return wait_until(lambda: self.addresses(name)[1], f"an IPv6 address for {name} on {self.name}", bound)

    def reaches(self, address, bound=5.0):
        """True if ICMP echo to address is answered from this host (within bound seconds)."""
        return _ping(self.run, address, bound)


def _ping(run, address, bound=5.0):
    """ICMP echo answered within bound seconds. Retried: a fresh SLAAC address answers only
    once duplicate address detection is over (~1 s), and the API does not say when."""
    argv = ["busybox", "ping", "-c", "1", "-W", "1"] + (["-6"] if ":" in address else []) + [address]
    deadline = time.monotonic() + bound
    while True:
        if run(argv, check=False).returncode == 0:
            return True
        if time.monotonic() > deadline:
            return False


class Lab:
    """N hosts (h1..hN) and optionally a client namespace, made by scripts/lab."""

    def __init__(self, name=None, hosts=2, client=True, host_size_mb=None, build=None):
        self.name = name or f"t{os.getpid() % 100000}-{next(_names)}"
        self.n_hosts = hosts
        self.with_client = client
        self.host_size_mb = host_size_mb
        self.build = build or BUILD
        self.ferryd = os.path.join(self.build, "src", "daemon", "ferryd")
        self.ferry_bin = FERRY if build is None else os.path.join(self.build, "src", "cli", "ferry")
        self.dir = None
        self.hosts = []
        self._inodes = []
        self._ns_fds = []

    def __repr__(self):
        return f"<Lab {self.name} in {self.dir}>"

    def script(self, *args, timeout=120, check=True):
        cp = subprocess.run([LAB_SCRIPT, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            timeout=timeout, env=_sanitizer_env())
        if check and cp.returncode != 0:
            raise AssertionError(f"scripts/lab {' '.join(args)} exited {cp.returncode}\n"
                                 f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp

    def up(self):
        self.dir = tempfile.mkdtemp(prefix=f"ferry-lab-{self.name}-", dir="/tmp")
        # As /var/lib is for a real ferryd: the root of an unprivileged container passes
        # through to its console in ferryd's run directory at a restore.
        os.chmod(self.dir, 0o711)
        args = ["up", self.name, "--hosts", str(self.n_hosts), "--bin", self.build, "--dir", self.dir]
        if self.with_client:
            args.append("--client")
        if self.host_size_mb:
            args += ["--host-size-mb", str(self.host_size_mb)]
        try:
            self.script(*args)
        except AssertionError:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        env = {}
        with open(os.path.join(self.dir, "lab.env")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                env[k] = v
        self.subnet4 = env["SUBNET4"]          # "10.X.Y"
        self.prefix6 = env["PREFIX6"]          # "fdXX:XXXX:XXXX:1"
        self.common_root = os.path.join(self.dir, "root")
        self.client_address = f"{self.subnet4}.254"
        self.client_address6 = f"{self.prefix6}::fe"
        self.hosts = [Host(self, f"h{i}") for i in range(1, self.n_hosts + 1)]
        # Held open until the leak check: a freed namespace's inode number is soon reused
        # by someone else's, and would then look like one of ours.
        self._ns_fds = [os.open(p, os.O_RDONLY | os.O_CLOEXEC) for p in self._ns_files() if os.path.exists(p)]
        self._inodes = [os.fstat(fd).st_ino for fd in self._ns_fds]
        return self

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)

    def _ns_files(self):
        names = [f"{self.name}-sw"] + [h.netns for h in self.hosts] + ([f"{self.name}-client"]
                                                                        if self.with_client else [])
        files = [f"/run/netns/{n}" for n in names]
        for h in self.hosts:
            files += [f"{self.dir}/ns/{h.name}.mnt", f"{self.dir}/ns/{h.name}.uts"]
        return files

    def remotes(self):
        """Every host knows every other as a remote named after it, for ferry and lxc."""
        self.script("remotes", self.name)

    # --- the client namespace ----------------------------------------------------------
    def client_argv(self, cmd):
        assert self.with_client, "this lab has no client namespace"
        return ["nsenter", f"--net=/run/netns/{self.name}-client", "--", *_argv(cmd)]

    def client_run(self, cmd, check=True, input=None, timeout=CMD_TIMEOUT):
        cp = subprocess.run(self.client_argv(cmd), capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL if input is None else None, input=input)
        if check and cp.returncode != 0:
            raise AssertionError(f"client: {cmd} exited {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp

    def client_popen(self, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(self.client_argv(cmd), **kw)

    def client_reaches(self, address, bound=5.0):
        return _ping(self.client_run, address, bound)

    # --- teardown ------------------------------------------------------------------
    def down(self, keep_logs=None):
        """Take the lab down; returns what it left behind (a list of problems, [] if none)."""
        if self.dir is None:
            return []
        problems = []
        cgroups = [h.cgroup_parent for h in self.hosts]
        for h in self.hosts:
            if not h.alive() and not h.stopped_by_test:
                problems.append(f"ferryd of {h.name} died on its own during the test:\n{h.log_tail()}")
        cp = self.script("down", self.name, "--dir", self.dir, *(["--keep-logs", keep_logs] if keep_logs else []),
                         check=False)
        if cp.returncode != 0:
            problems.append(f"scripts/lab down exited {cp.returncode}: {cp.stderr}")
        elif "killing processes left" in cp.stderr:
            problems.append(f"scripts/lab down had to kill processes: {cp.stderr}")
        try:
            problems += self.leaks(cgroups)
        finally:
            for fd in self._ns_fds:
                os.close(fd)
            self._ns_fds = []
        if keep_logs:
            problems += sanitizer_reports(keep_logs)
        self.dir_was, self.dir = self.dir, None
        return problems

    def leaks(self, cgroups):
        """What is left of this lab on the machine (after down)."""
        out = []
        netns = [n for n in os.listdir("/run/netns") if n.startswith(self.name + "-")] \
            if os.path.isdir("/run/netns") else []
        if netns:
            out.append(f"network namespaces left: {netns}")
        mounts = mounts_under(self.dir)
        if mounts:
            out.append(f"mounts left: {mounts}")
        if os.path.exists(self.dir):
            out.append(f"lab directory left: {self.dir}")
        procs = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid() or not pid_alive(int(entry)):
                continue
            try:
                for ns in ("net", "mnt", "uts"):
                    if os.stat(f"/proc/{entry}/ns/{ns}").st_ino in self._inodes:
                        procs[int(entry)] = f"in the lab's {ns} namespace"
                with open(f"/proc/{entry}/cgroup") as f:
                    if any(f"/{c}/" in line.rstrip("\n") + "/" for line in f for c in cgroups):
                        procs[int(entry)] = "in the lab's cgroups"
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if self.dir.encode() in f.read():
                        procs[int(entry)] = "running with a lab path"
            except OSError:
                continue
        if procs:
            out.append(f"processes left: {procs}")
        for mnt in cgroup_mounts().values():
            for c in cgroups:
                for base, _subdirs, _files in os.walk(mnt):
                    if base.count("/") - mnt.count("/") > 3:
                        _subdirs[:] = []
                    elif os.path.basename(base) == c:
                        out.append(f"cgroup left: {base}")
                        _subdirs[:] = []
        return sorted(set(out))


def lab_fixture(request, options):
    """Body of the `lab` and `module_lab` fixtures: up, yield, down, fail on any leak."""
    if os.geteuid() != 0:
        import pytest
        pytest.skip("the lab needs root")
    before = getattr(request.session, "ferry_failures", 0)
    lab = Lab(**options).up()
    logs = tempfile.mkdtemp(prefix=f"ferry-lab-{lab.name}-logs-", dir="/tmp")
    try:
        yield lab
    finally:
        problems = lab.down(keep_logs=logs)
        failed = problems or getattr(request.session, "ferry_failures", 0) != before
        if not failed:
            shutil.rmtree(logs, ignore_errors=True)
        if problems:
            import pytest
            pytest.fail(f"teardown of lab {lab.name} found:\n- " + "\n- ".join(problems)
                        + f"\n(logs kept in {logs})", pytrace=False)

