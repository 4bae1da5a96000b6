"""Fixtures for Ferry's integration tests.

Every test drives a real ferryd in its own temporary root, real containers and the
real clients (`ferry` and Debian's stock `lxc`).  Teardown proves that nothing was
left behind: no process in the daemon's cgroups, no mount under the root.  A leak
fails the test that caused it, because a leak is a bug.

Binaries come from $FERRY_BUILD (default /work/main/build); CI points it at the
ASan/UBSan build.  Run with Debian's python: /usr/bin/python3 -m pytest tests/integration
"""

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

BUILD = os.environ.get("FERRY_BUILD", "/work/main/build")
FERRYD = os.path.join(BUILD, "src", "daemon", "ferryd")
FERRY = os.path.join(BUILD, "src", "cli", "ferry")
MONITOR = os.path.join(BUILD, "src", "runtime", "ferry-monitor")
LXC = "/usr/bin/lxc"

# Bounds that turn a hang into a failure; never used as performance assertions.
CMD_TIMEOUT = 30
API_TIMEOUT = 60
STOP_GRACE = 10

# Sanitizer reports in any log of the daemon or a monitor fail the test.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def _sanitizer_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=API_TIMEOUT):
        super().__init__("unix.socket", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class ApiError(AssertionError):
    pass


def cgroup_mounts():
    """Map controller name (or '' for cgroup2) to its mount point on the host."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = pre.split()
            fstype, _src, opts = post.split()[:3]
            if fstype == "cgroup2":
                mounts.setdefault("", fields[4])
            elif fstype == "cgroup":
                for opt in opts.split(","):
                    if opt in ("rw", "ro", "relatime", "noexec", "nosuid", "nodev", "clone_children"):
                        continue
                    mounts.setdefault(opt, fields[4])
    return mounts


def cgroup_dir_of(pid, controller):
    """Host directory of the cgroup `pid` is in for `controller` ('' = cgroup2)."""
    mounts = cgroup_mounts()
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _hid, ctrls, path = line.rstrip("\n").split(":", 2)
            names = ctrls.split(",") if ctrls else [""]
            if controller in names and controller in mounts:
                return mounts[controller] + path
    return None


def cgroup_limit(pid, v1_controller, v1_file, v2_file):
    """Read a limit of the container `pid` lives in, from v1 if that controller is there, else v2.
    Ferry's containers run in "ns" below their cgroup, which holds the limits."""
    def limits_dir(d):
        return os.path.dirname(d) if d is not None and os.path.basename(d) == "ns" else d
    d = limits_dir(cgroup_dir_of(pid, v1_controller))
    if d is not None and os.path.exists(os.path.join(d, v1_file)):
        with open(os.path.join(d, v1_file)) as f:
            return f.read().strip()
    d = limits_dir(cgroup_dir_of(pid, ""))
    if d is not None and os.path.exists(os.path.join(d, v2_file)):
        with open(os.path.join(d, v2_file)) as f:
            return f.read().strip()
    raise AssertionError(f"no {v1_controller}/{v1_file} or {v2_file} for pid {pid}")


def tls_context(cert=None, max_version=None):
    """A client TLS context for a test ferryd's self-signed certificate, with CERT as its own."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version is not None:
        ctx.maximum_version = max_version
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def https(port, method, path, body=None, cert=None, source="127.0.0.1"):
    """One JSON request to ferryd's HTTPS listener on 127.0.0.1:PORT, from address SOURCE: (status, envelope)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context(cert), timeout=30,
                                       source_address=(source, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def descendants(pid):
    """(pid, comm) of every process below PID: ours to kill, found by parentage."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat.split("(", 1)[1].rsplit(")", 1)[0]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append((int(entry), comm))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            return f.read().split("\0")
    except OSError:
        return []


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_until(predicate, what, bound=30.0, step=0.05):
    """Poll until predicate() is truthy; the bound only turns a hang into a failure."""
    deadline = time.monotonic() + bound
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(step)


class Daemon:
    """A ferryd on a private root, plus helpers to drive it."""

    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.socket = os.path.join(self.root, "unix.socket")
        self.stdlog = self.root + ".log"
        self.lxd_conf = self.root + "-lxdconf"
        os.makedirs(self.lxd_conf, exist_ok=True)
        digest = hashlib.sha256(self.root.encode()).hexdigest()
        self.cgroup_parent = "ferry-" + digest[:10]
        self.proc = None
        self.stopped_by_test = False
        self.stdlog_reported = 0  # bytes of stdlog whose sanitizer reports were already reported
        self.crashes = []  # exit statuses of ferryds that died while a test ran, already reported
        self.exits = []  # (how, returncode) of previous ferryd processes on this root
        self.wrapper = []  # argv that execs ferryd's argv (same PID), e.g. into a mount namespace
        self.env = {}  # extra environment of ferryd (FERRY_TEST_CRASH_AT for test_crash.py)

    # --- process control -------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        log = open(self.stdlog, "ab")
        self.proc = subprocess.Popen(
            [*self.wrapper, FERRYD, "--root", self.root],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**_sanitizer_env(), **self.env}, start_new_session=True,
        )
        log.close()
        self.stopped_by_test = False
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ferryd exited with {self.proc.returncode} at start:\n{self.log_tail()}")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(self.socket)
                s.close()
                break
            except OSError:
                s.close()
            if time.monotonic() > deadline:
                raise AssertionError(f"ferryd did not open {self.socket}:\n{self.log_tail()}")
            time.sleep(0.02)
        return self

    def kill(self, sig=signal.SIGKILL):
        """Signal ferryd and reap it; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None and not self.stopped_by_test:
            raise AssertionError(f"ferryd had already died (exit status {self.proc.returncode}):\n"
                                 f"{self.log_tail()}")
        self.stopped_by_test = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_GRACE)
                self.exits.append(("SIGKILL after timeout", self.proc.returncode))
                return self.proc.returncode
        self.exits.append((signal.Signals(sig).name, self.proc.returncode))
        return self.proc.returncode

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # --- logs ------------------------------------------------------------
    def log_tail(self, n=40):
        out = []
        for path in (self.stdlog, os.path.join(self.root, "logs", "ferryd.log")):
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()[-n:]
                out.append(f"--- {path} (last {len(lines)} lines)\n" + "".join(lines))
            except FileNotFoundError:
                pass
        return "\n".join(out)

    def instance_log(self, name, file="monitor.log"):
        try:
            with open(os.path.join(self.root, "logs", name, file), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # --- clients ---------------------------------------------------------
    def _run(self, argv, env, check, input, timeout):
        try:
            cp = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=timeout,
                stdin=subprocess.DEVNULL if input is None else None, input=input,
            )
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"{argv} hung for {timeout}s; stdout={e.stdout!r} stderr={e.stderr!r}\n"
                                 f"{self.log_tail()}")
        if check and cp.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}\n"
                f"{self.log_tail()}")
        return cp

    def lxc(self, *args, check=True, input=None, timeout=CMD_TIMEOUT):
        env = dict(os.environ, LXD_DIR=self.root, LXD_CONF=self.lxd_conf)
        env.pop("LXD_SOCKET", None)
        return self._run([LXC, *args], env, check, input, timeout)

    def ferry(self, *args, check=True, input=None, timeout=CMD_TIMEOUT):
        if not os.path.exists(FERRY):
            pytest.skip(f"ferry client not built yet ({FERRY})")
        env = dict(_sanitizer_env(), FERRY_DIR=self.root)
        return self._run([FERRY, *args], env, check, input, timeout)

    # --- raw API ---------------------------------------------------------
    def request(self, method, path, body=None, raw=False, headers=None, timeout=API_TIMEOUT):
        """Returns (status, body bytes). `body` may be bytes (sent as is) or a JSON value."""
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        else:
            data = None
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def api(self, method, path, body=None, **kw):
        """Returns (status, parsed JSON envelope)."""
        status, data = self.request(method, path, body, **kw)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            raise AssertionError(f"{method} {path} -> {status}: not JSON: {data[:300]!r}")
        return status, parsed

    def api_ok(self, method, path, body=None):
        """An API call that must succeed; returns metadata (after waiting for async ops)."""
        status, env = self.api(method, path, body)
        if status >= 400 or env.get("type") == "error":
            raise ApiError(f"{method} {path} {body!r} -> {status} {env}\n{self.log_tail()}")
        if env.get("type") == "async":
            op = self.wait_op(env)
            if op.get("status_code") != 200:
                raise ApiError(f"{method} {path} {body!r}: operation failed: {op}\n{self.log_tail()}")
            return op
        return env.get("metadata")

    def wait_op(self, op, timeout=API_TIMEOUT):
        """Wait for an operation (an async envelope, an operation object or an id); returns its final state."""
        if isinstance(op, dict) and "metadata" in op and op.get("type") in ("async", "sync"):
            op = op["metadata"]
        op_id = op["id"] if isinstance(op, dict) else op
        status, env = self.api("GET", f"/1.0/operations/{op_id}/wait?timeout={int(timeout)}",
                               timeout=timeout + 10)
        if status != 200:
            raise ApiError(f"wait on operation {op_id} -> {status} {env}")
        return env["metadata"]

    def instance(self, name):
        return self.api_ok("GET", f"/1.0/instances/{name}?recursion=1")

    def init_pid(self, name):
        st = self.api_ok("GET", f"/1.0/instances/{name}/state")
        return st["pid"]

    def launch(self, name, config=None, start=True):
        """Create (and start) an instance through the raw API."""
        self.api_ok("POST", "/1.0/instances", {
            "name": name, "source": {"type": "image", "alias": "busybox"}, "config": config or {},
        })
        if start:
            self.api_ok("PUT", f"/1.0/instances/{name}/state", {"action": "start", "timeout": -1})
        return name

    def instance_names(self):
        status, env = self.api("GET", "/1.0/instances")
        if status != 200:
            raise ApiError(f"GET /1.0/instances -> {status} {env}")
        return [u.rsplit("/", 1)[1] for u in env["metadata"]]

    def remove_all_instances(self):
        """Force-stop and delete every instance through the API."""
        errors = []
        for name in self.instance_names():
            try:
                inst = self.instance(name)
                if inst["status_code"] not in (102, 112):
                    self.api_ok("PUT", f"/1.0/instances/{name}/state", {"action": "stop", "force": True,
                                                                         "timeout": -1})
                self.api_ok("DELETE", f"/1.0/instances/{name}")
            except (AssertionError, OSError) as e:
                errors.append(f"{name}: {e}")
        return errors


# --- leak detection -----------------------------------------------------

def leaked_processes(d):
    """PIDs left by this daemon: in its cgroup parent (any hierarchy) or, like the
    per-container monitors that live outside it, started with a path under its root."""
    found = {}
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me or not pid_alive(int(entry)):
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                for line in f:
                    path = line.rstrip("\n").split(":", 2)[2]
                    if f"/{d.cgroup_parent}/" in path + "/":
                        found[pid] = "cgroup " + path
                        break
            if pid not in found:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
                # dnsmasq names our root in an option (--pid-file=ROOT/networks/...).
                if any(a == d.root or a.startswith(d.root + "/") or f"={d.root}/" in a for a in argv):
                    found[pid] = " ".join(argv)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return found


def cgroup_parent_dirs(parent):
    dirs = []
    for ctrl, mnt in cgroup_mounts().items():
        for base, subdirs, _files in os.walk(mnt):
            if os.path.basename(base) == parent:
                dirs.append(base)
                subdirs[:] = []
            elif base.count("/") - mnt.count("/") >= 3:
                subdirs[:] = []
    return sorted(set(dirs))


def mounts_under(root):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == root or mp.startswith(root + "/"):
                out.append(mp)
    return out


def network_dnsmasqs(d):
    """(bridge name, PID of its live dnsmasq or None) for each of D's networks: the PID in
    the network's pid file, if that process is the dnsmasq with this pid file."""
    base = os.path.join(d.root, "networks")
    for name in os.listdir(base) if os.path.isdir(base) else []:
        pid = None
        try:
            with open(os.path.join(base, name, "dnsmasq.pid")) as f:
                candidate = int(f.read().strip() or 0)
            with open(f"/proc/{candidate}/cmdline", "rb") as f:
                if f"--pid-file={base}/{name}/dnsmasq.pid".encode() in f.read().split(b"\0"):
                    pid = candidate
        except (OSError, ValueError):
            pass
        yield name, pid


def networks_up(d):
    """Whether a dnsmasq of D's networks still runs."""
    return any(pid is not None for _, pid in network_dnsmasqs(d))


def stop_networks_by_hand(d):
    """SIGKILL the dnsmasq of each of D's networks and delete the bridge."""
    for name, pid in list(network_dnsmasqs(d)):
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        subprocess.run(["ip", "link", "del", name], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


def teardown_daemon(d):
    """Stop everything the daemon made, then prove nothing leaked. Returns a list of problems."""
    problems = []
    died_on_its_own = not d.alive() and d.proc is not None and not d.stopped_by_test
    if d.alive():
        try:
            problems += [f"could not remove instance {e}" for e in d.remove_all_instances()]
        except (AssertionError, OSError) as e:
            problems.append(f"listing instances failed: {e}")
        rc = d.kill(signal.SIGTERM)
        if d.exits[-1][0] != "SIGTERM" or rc != 0:
            problems.append(f"ferryd did not exit cleanly on SIGTERM: {d.exits[-1]}")
    elif d.proc is not None and networks_up(d):
        # The test left ferryd dead (killed) with its networks up: start it again so
        # that it takes down what it made (bridge, dnsmasq, firewall table) on its way out.
        try:
            for key in [k for k in d.env if k.startswith("FERRY_TEST_CRASH")]:
                del d.env[key]
            d.start()
            problems += [f"could not remove instance {e}" for e in d.remove_all_instances()]
            d.kill(signal.SIGTERM)
        except (AssertionError, OSError) as e:
            # A root the test left unusable on purpose: take the networks down by hand.
            print(f"restarting ferryd to take its networks down failed ({e}); stopping its dnsmasq")
            stop_networks_by_hand(d)
    if d.crashes:
        problems.append(f"ferryd crashed during this module (already reported per test): {d.crashes}")
    if died_on_its_own:
        problems.append(f"ferryd died on its own during the test (exit status {d.proc.returncode})")

    leaked = leaked_processes(d)
    if leaked:
        problems.append(f"processes left behind: {leaked}")
        for pid in leaked:  # descendants of our daemon: ours to clean up
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not leaked_processes(d), "leaked processes to die", 10)

    for cg in cgroup_parent_dirs(d.cgroup_parent):
        children = [os.path.join(b, s) for b, subs, _ in os.walk(cg) for s in subs]
        if children:
            problems.append(f"cgroups of deleted instances left behind: {children}")
        for sub in sorted(children, key=len, reverse=True) + [cg]:
            try:
                os.rmdir(sub)
            except OSError:
                pass

    mounts = mounts_under(d.root)
    if mounts:
        problems.append(f"mounts left under {d.root}: {mounts}")
        for mp in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)

    problems += sanitizer_report(d.stdlog, d.stdlog_reported)
    problems += sanitizer_reports(os.path.join(d.root, "logs"))
    return problems


def sanitizer_report(path, offset=0):
    """[the first ASan/UBSan/LSan report in PATH from OFFSET on, with context], or []."""
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            text = f.read()
    except OSError:
        return []
    for marker in SANITIZER_MARKERS:
        if marker in text:
            i = text.index(marker)
            return [f"sanitizer report in {path}:\n{text[max(0, i - 200):i + 2000]}"]
    return []


def sanitizer_reports(directory):
    """sanitizer_report() of every file under DIRECTORY."""
    return [r for base, _, files in os.walk(directory) for name in files
            for r in sanitizer_report(os.path.join(base, name))]


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _keep_logs(d):
    if os.path.isdir(os.path.join(d.root, "logs")):
        shutil.copytree(os.path.join(d.root, "logs"), d.root + "-logs", dirs_exist_ok=True)


def _remove_tree(d, keep_logs):
    if keep_logs:
        _keep_logs(d)
    if not mounts_under(d.root):
        shutil.rmtree(d.root, ignore_errors=True)
    shutil.rmtree(d.lxd_conf, ignore_errors=True)
    if not keep_logs:
        try:
            os.unlink(d.stdlog)
        except FileNotFoundError:
            pass


# --- failures seen, so that the logs of a failed scope are kept -----------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        item.session.ferry_failures = getattr(item.session, "ferry_failures", 0) + 1


# On a hybrid host (these machines), a ferryd in a private mount namespace where the
# controller-less cgroup2 is bound on /sys/fs/cgroup sees the cgroup2-only layout of a stock
# Debian 12 host (the reference's "Testing cgroup v2 code paths").
HYBRID_CGROUPS = not os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def cgroup2_wrapper():
    """The Daemon.wrapper that gives ferryd the cgroup2-only layout ([] on a cgroup2 host)."""
    if not HYBRID_CGROUPS:
        return []
    if not os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
        pytest.skip("no cgroup2 hierarchy on this host")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec "$0" "$@"']


def _daemon_fixture(request, wrapper=()):
    if not os.path.exists(FERRYD):
        pytest.fail(f"ferryd not built: {FERRYD}")
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    before = getattr(request.session, "ferry_failures", 0)
    d = Daemon(tempfile.mkdtemp(prefix="ferry-test-", dir="/tmp"))
    d.wrapper = list(wrapper)
    d.start()
    try:
        yield d
    finally:
        if getattr(request.session, "ferry_failures", 0) != before:
            # Deleting the instances removes their logs: keep a copy first.
            _keep_logs(d)
        problems = teardown_daemon(d)
        failed = problems or getattr(request.session, "ferry_failures", 0) != before
        _remove_tree(d, keep_logs=failed)
        if problems:
            pytest.fail("teardown of " + d.root + " found:\n- " + "\n- ".join(problems)
                        + f"\n(logs kept in {d.stdlog} and {d.root}-logs)", pytrace=False)


@pytest.fixture(scope="module")
def daemon(request):
    """One ferryd per test module, for tests that do not interfere with each other."""
    yield from _daemon_fixture(request)


@pytest.fixture
def own_daemon(request):
    """A ferryd for one test only (kill/restart, counting instances)."""
    yield from _daemon_fixture(request)


@pytest.fixture(autouse=True)
def _daemon_survives(request):
    """A test during which the module's ferryd died fails, with the crash log; the daemon is
    then restarted on the same root so the rest of the module still tells us something.
    (own_daemon's teardown reports a death by itself.)"""
    d = request.getfixturevalue("daemon") if "daemon" in request.fixturenames else None
    yield
    if d is not None and d.proc is not None and not d.alive() and not d.stopped_by_test:
        rc = d.proc.returncode
        d.crashes.append(rc)
        tail = d.log_tail(80)
        d.stdlog_reported = os.path.getsize(d.stdlog)
        d.start()
        pytest.fail(f"ferryd died during this test (exit status {rc}):\n{tail}", pytrace=False)


@pytest.fixture
def ferry_client():
    if not os.path.exists(FERRY):
        pytest.skip(f"ferry client not built yet ({FERRY})")
    return FERRY


# --- the multi-host lab (tests/integration/lab.py, scripts/lab) ------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "lab(hosts=2, client=True, host_size_mb=None): options of the `lab` fixture")


@pytest.fixture
def lab(request):
    """A lab of its own for one test: hosts h1..hN, each with its own ferryd, on one L2
    segment, plus a client namespace. Teardown fails the test if anything was left."""
    from lab import lab_fixture  # lab.py imports this module
    marker = request.node.get_closest_marker("lab")
    yield from lab_fixture(request, dict(marker.kwargs) if marker else {})


@pytest.fixture(scope="module")
def module_lab(request):
    """One lab per test module; options in the module's LAB_OPTIONS dict."""
    from lab import lab_fixture
    yield from lab_fixture(request, dict(getattr(request.module, "LAB_OPTIONS", {})))


def host_range():
    """ferryd's rule (src/common/idmap-choice.c): root's entries when both files agree."""
    entries = []
    for path in ("/etc/subuid", "/etc/subgid"):
        found = None
        try:
            with open(path) as f:
                for line in f:
                    fields = line.strip().split(":")
                    if len(fields) == 3 and fields[0] == "root":
                        found = (int(fields[1]), int(fields[2]))
                        break
        except OSError:
            pass
        entries.append(found)
    if entries[0] is not None and entries[0] == entries[1]:
        return entries[0]
    return 1000000, 1000000000
