"""Helpers for the checkpoint/restore integration tests (test_checkpoint*.py).

The zdtm way: a workload inside the container (workload/cr-state.c) sets up state
(memory with a checksum, a file offset, a pipe and a socketpair with data in flight,
a process tree), the test checkpoints and restores the container, then asks the
workload to verify: it writes "PASS K" or "FAIL K: what" for round K.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import BUILD, cgroup_dir_of, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD_SRC = os.path.join(HERE, "workload", "cr-state.c")
WORKLOAD_BUILT = os.path.join(BUILD, "tests", "integration", "workload", "cr-state")
IN_CONTAINER_DIR = "/cr"

# Bound on a checkpoint/restore command (512 MiB go through the disk): a hang
# becomes a failure, never a performance assertion.
CR_TIMEOUT = 180


def build_workload(into):
    """The static workload: built by meson if it is there, else compiled now."""
    if os.path.exists(WORKLOAD_BUILT) and os.path.getmtime(WORKLOAD_BUILT) >= os.path.getmtime(WORKLOAD_SRC):
        return WORKLOAD_BUILT
    out = os.path.join(into, "cr-state")
    cp = subprocess.run(["cc", "-static", "-O2", "-Wall", "-o", out, WORKLOAD_SRC],
                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    if cp.returncode != 0:
        pytest.fail(f"compiling {WORKLOAD_SRC} failed:\n{cp.stderr}")
    return out


def console(daemon, name):
    status, body = daemon.request("GET", f"/1.0/instances/{name}/logs/console.log")
    return body.decode(errors="replace") if status == 200 else ""


def rootfs(daemon, name):
    return os.path.join(daemon.root, "containers", name, "rootfs")


def state_dir(daemon, name):
    return os.path.join(daemon.root, "containers", name, "state")


def snapshot_dir(daemon, name, snap):
    return os.path.join(daemon.root, "snapshots", name, snap)


def logs_dir(daemon, name):
    return os.path.join(daemon.root, "logs", name)


def criu_logs(daemon, name, prefix):
    d = logs_dir(daemon, name)
    return sorted(f for f in os.listdir(d) if f.startswith(prefix) and f.endswith(".log")) if os.path.isdir(d) else []


def status_of(daemon, name):
    inst = daemon.instance(name)
    return inst["status"], inst.get("stateful")


def snapshots_of(daemon, name):
    """{snapshot name: its API object}."""
    snaps = daemon.api_ok("GET", f"/1.0/instances/{name}/snapshots?recursion=1")
    return {s["name"]: s for s in snaps}


def freezer_state(daemon, name):
    """The container's freezer state (v1 freezer.state or v2 cgroup.freeze)."""
    pid = daemon.init_pid(name)
    d = cgroup_dir_of(pid, "freezer")
    if d is not None and os.path.exists(os.path.join(d, "freezer.state")):
        with open(os.path.join(d, "freezer.state")) as f:
            return f.read().strip()
    d = cgroup_dir_of(pid, "")
    with open(os.path.join(d, "cgroup.freeze")) as f:
        return "FROZEN" if f.read().strip() == "1" else "THAWED"


def processes_inside(daemon, name):
    """{pid inside the container: command line}, from busybox ps."""
    out = daemon.lxc("exec", name, "--", "ps", "-o", "pid,args").stdout
    table = {}
    for line in out.splitlines()[1:]:
        pid, _, args = line.strip().partition(" ")
        if pid.isdigit() and not args.startswith(("ps ", "{ps}")):
            table[int(pid)] = args.strip()
    return table


def services(procs):
    """pid of init and of busybox's services, by name."""
    found = {}
    for pid, args in procs.items():
        prog = os.path.basename(args.split()[0]) if args else ""
        if prog in ("init", "syslogd", "crond", "httpd"):
            found[prog] = pid
    return found


# A tree changed every 20 ms, for a final sync (test_migration) or a snapshot's
# rootfs copy (test_checkpoint) to be caught missing something.
CHURN = r"""#!/bin/sh
# Every cycle checks what the one before left, then changes the tree: a new
# directory and file, a directory tree removed, a file rewritten in place and
# its mode changed, a rename. A final sync that missed any of it (a stale
# file, a directory not made or not deleted) is seen here on the target.
mkdir -p /churn
# "linked": also a file with two names, rewritten in place through one.
[ "$1" != linked ] || { echo 0 > /churn/one; ln /churn/one /churn/two; }
# "many": also 300 files rewritten in place, more than a list is for.
[ "$1" != many ] || mkdir -p /churn/m
i=0
while [ ! -e /churn-stop ]; do
  i=$((i+1))
  if [ $i -gt 1 ]; then
    p=$((i-1))
    [ "$(cat /churn/d$p/v 2>/dev/null)" = "$p" ] || echo "cycle $i: d$p/v is $(cat /churn/d$p/v 2>&1)" >> /churn-bad
    [ "$(cat /churn/counter)" = "$p" ] || echo "cycle $i: counter is $(cat /churn/counter)" >> /churn-bad
    [ ! -e /churn/d$((i-4)) ] || echo "cycle $i: d$((i-4)) still there" >> /churn-bad
    [ ! -e /churn/d$p/tmp ] || echo "cycle $i: d$p/tmp still there" >> /churn-bad
    [ "$1" != linked ] || [ "$(cat /churn/two)" = "$p" ] || echo "cycle $i: two is $(cat /churn/two)" >> /churn-bad
    [ "$1" != many ] || [ "$(cat /churn/m/300)" = "$p" ] || echo "cycle $i: m/300 is $(cat /churn/m/300)" >> /churn-bad
  fi
  [ "$1" != linked ] || echo $i > /churn/one
  [ "$1" != many ] || for j in $(seq 300); do echo $i > /churn/m/$j; done
  mkdir -p /churn/d$i/sub
  echo $i > /churn/d$i/tmp
  mv /churn/d$i/tmp /churn/d$i/v
  echo deep > /churn/d$i/sub/f
  rm -rf /churn/d$((i-3))
  echo $i > /churn/counter
  chmod $((600 + i % 2 * 44)) /churn/counter
  echo $i > /churn/done.new
  mv /churn/done.new /churn/done  # read by the test: never half-written
  sleep 0.02
done
"""


# Config every launch() adds: a test module runs its tests in both modes by setting it
# (test_checkpoint.py's `mode` fixture).
MODE_CONFIG = {}


def launch(daemon, name, config=None, client="lxc"):
    """A busybox container, booted (its boot message on the console)."""
    args = ["launch", "busybox", name]
    for k, v in {**MODE_CONFIG, **(config or {})}.items():
        args += ["-c", f"{k}={v}"]
    if client == "lxc":
        daemon.lxc(*args, timeout=CR_TIMEOUT)
    else:
        daemon.ferry(*args, timeout=CR_TIMEOUT)
    wait_until(lambda: "boot complete" in console(daemon, name), f"{name} to boot")
    return name


def delete(daemon, name):
    daemon.lxc("delete", "--force", name, timeout=CR_TIMEOUT)


def fail_detail(daemon, name):
    """Context for an assertion message: the instance's logs."""
    out = [daemon.log_tail(20)]
    for f in criu_logs(daemon, name, "")[-2:]:
        with open(os.path.join(logs_dir(daemon, name), f), errors="replace") as fh:
            errs = [l for l in fh if "Error" in l]
        out.append(f"--- {f}: {''.join(errs[-10:])}")
    out.append("--- monitor.log:\n" + daemon.instance_log(name)[-3000:])
    return "\n".join(out)


class Workload:
    """cr-state running in a container; rounds are numbered from 1."""

    def __init__(self, daemon, name, binary, mib=64):
        self.daemon, self.name, self.mib = daemon, name, mib
        host_dir = os.path.join(rootfs(daemon, name), IN_CONTAINER_DIR.lstrip("/"))
        os.makedirs(host_dir, exist_ok=True)
        shutil.copy2(binary, os.path.join(host_dir, "cr-state"))
        self.next_round = 1
        self.pids = None

    @property
    def host_dir(self):
        # Looked up each time: a restore puts another rootfs at this path.
        return os.path.join(rootfs(self.daemon, self.name), IN_CONTAINER_DIR.lstrip("/"))

    def path(self, f):
        return os.path.join(self.host_dir, f)

    def start(self):
        d = IN_CONTAINER_DIR
        # Detached from the exec session (setsid, stdio inside the container), or
        # it would die with the session and hold fds that lead outside.
        self.daemon.lxc("exec", self.name, "--", "sh", "-c",
                        f"setsid {d}/cr-state state {d} {self.mib} </dev/null >/dev/null 2>&1 &")
        wait_until(lambda: os.path.exists(self.path("ready")), f"cr-state ready in {self.name}",
                   bound=120)
        with open(self.path("ready")) as f:
            self.pids = [int(x) for x in f.read().split()]
        assert len(self.pids) == 3 and all(self.pids), f"cr-state ready file: {self.pids}"
        return self

    def verify(self, k=None):
        """Triggers round K (default: the next one) and returns its result line."""
        k = self.next_round if k is None else k
        with open(self.path(f"go.{k}"), "w"):
            pass
        result = self.path(f"result.{k}")
        wait_until(lambda: os.path.exists(result), f"cr-state result of round {k} in {self.name}",
                   bound=120)
        with open(result) as f:
            text = f.read().strip()
        self.next_round = k + 1
        return text

    def assert_pass(self, k=None, what=""):
        k = self.next_round if k is None else k
        text = self.verify(k)
        assert text == f"PASS {k}", f"workload after {what}: {text}\n{fail_detail(self.daemon, self.name)}"

    def assert_alive_inside(self):
        procs = processes_inside(self.daemon, self.name)
        for pid in self.pids:
            assert pid in procs and "cr-state" in procs[pid], \
                f"cr-state PID {pid} not in the container any more: {procs}"


class ExternalListener:
    """A unix socket listening on the host, bound inside a container's rootfs: a
    process in the container connected to it holds a socket whose peer CRIU cannot
    dump (an external unix socket), so a dump must fail."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)  # the container's connect completes in the backlog

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def hold_external_socket(daemon, name, binary):
    """Starts `cr-state hold-socket` in NAME connected to a listener on the host;
    returns (listener, pid inside the container)."""
    host_dir = os.path.join(rootfs(daemon, name), "hold")
    os.makedirs(host_dir, exist_ok=True)
    shutil.copy2(binary, os.path.join(host_dir, "cr-state"))
    listener = ExternalListener(os.path.join(host_dir, "l.sock"))
    daemon.lxc("exec", name, "--", "sh", "-c",
               "setsid /hold/cr-state hold-socket /hold /hold/l.sock </dev/null >/dev/null 2>&1 & echo $!")
    wait_until(lambda: os.path.exists(os.path.join(host_dir, "ready")), "hold-socket connected")
    procs = processes_inside(daemon, name)
    pid = next(p for p, a in procs.items() if "hold-socket" in a)
    return listener, pid


def start_queued_creds(daemon, name, binary):
    """`cr-state creds /cr/q` in NAME: a unix socket with SO_PASSCRED (and SO_PASSPIDFD)
    holding a message from a child (uid and gid 1000), as journald's sockets and systemd's
    notify socket hold them at a dump now and then."""
    q = os.path.join(rootfs(daemon, name), "cr", "q")
    os.makedirs(q)
    shutil.copy2(binary, os.path.join(rootfs(daemon, name), "cr", "cr-state"))
    daemon.ferry("exec", name, "--", "sh", "-c", "setsid /cr/cr-state creds /cr/q </dev/null >/dev/null 2>&1 &")
    wait_until(lambda: os.path.exists(os.path.join(q, "ready")), "the queued message with credentials")


def assert_queued_creds(daemon, name, k, what):
    """Round K of `cr-state creds`: the message still queued, naming its sender."""
    q = os.path.join(rootfs(daemon, name), "cr", "q")
    open(os.path.join(q, f"go.{k}"), "w").close()
    wait_until(lambda: os.path.exists(os.path.join(q, f"result.{k}")), f"round {k} of the queued credentials")
    with open(os.path.join(q, f"result.{k}")) as f:
        result = f.read().strip()
    assert result == f"PASS {k}", f"{what}: {result}"


def corrupt(path):
    """Overwrites bytes of a CRIU image (keeping a copy to repair it)."""
    backup = path + ".test-backup"
    shutil.copy2(path, backup)
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(b"garbage-garbage-garbage")
    return backup


def repair(path):
    os.replace(path + ".test-backup", path)


def tmpdir():
    return tempfile.mkdtemp(prefix="ferry-cr-test-", dir="/tmp")


def api_error(daemon, method, path, body):
    """An API call expected to fail: returns (HTTP status, error text) of the call or
    of its operation."""
    status, env = daemon.api(method, path, body)
    if status >= 400 or env.get("type") == "error":
        return status, env.get("error", "")
    op = daemon.wait_op(env, timeout=CR_TIMEOUT)
    return op.get("status_code"), op.get("err", "")


def short(text, n=1500):
    return text if len(text) <= n else text[:n] + "..."


def dump_json(x):
    return json.dumps(x, indent=1, sort_keys=True)
