"""The unmodified LXD 5.0.2 client (`/usr/bin/lxc`) driving ferryd.

Each test checks what the client prints *and* the effect on the host: the init
process, its cgroup, the container's files.
"""

import hashlib
import json
import os

import pytest

from conftest import cgroup_dir_of, cgroup_limit, pid_alive, wait_until


@pytest.fixture(scope="module")
def c1(daemon):
    daemon.lxc("launch", "busybox", "c1")
    return "c1"


def table_rows(text):
    """Rows of an lxc table as lists of stripped cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def list_state(daemon, name):
    """STATE column of `name` in `lxc list --format csv`, or None if absent."""
    out = daemon.lxc("list", "--format", "csv").stdout
    for line in out.splitlines():
        cells = line.split(",")
        if cells[0] == name:
            return cells[1]
    return None


def info_pid(daemon, name):
    out = daemon.lxc("info", name).stdout
    for line in out.splitlines():
        if line.startswith("PID:"):
            return int(line.split(":", 1)[1])
    return None


# --- server-level commands on a daemon without instances -------------------

def test_list_with_no_instances(own_daemon):
    out = own_daemon.lxc("list").stdout
    rows = table_rows(out)
    assert rows[0][:6] == ["NAME", "STATE", "IPV4", "IPV6", "TYPE", "SNAPSHOTS"], out
    assert len(rows) == 1, f"expected only the header row:\n{out}"
    assert own_daemon.lxc("list", "--format", "csv").stdout.strip() == ""
    assert json.loads(own_daemon.lxc("list", "--format", "json").stdout) == []


def test_server_info(own_daemon):
    out = own_daemon.lxc("info").stdout
    assert "api_extensions:" in out, out
    for ext in ("instances", "api_filtering", "container_full", "instance_get_full"):
        assert f"- {ext}\n" in out, f"extension {ext} missing:\n{out}"
    assert "api_version: \"1.0\"" in out or "api_version: 1.0" in out, out
    assert f"kernel_version: {os.uname().release}" in out, out


def test_image_list_shows_busybox(daemon):
    out = daemon.lxc("image", "list", "--format", "csv").stdout
    assert any(line.split(",")[0] == "busybox" for line in out.splitlines()), out
    table = daemon.lxc("image", "list").stdout
    assert "busybox" in table


def test_profile_show_default(daemon):
    out = daemon.lxc("profile", "show", "default").stdout
    assert "name: default" in out, out
    assert "root:" in out and "type: disk" in out and "path: /" in out, out
    names = daemon.lxc("profile", "list", "--format", "csv").stdout
    assert "default" in [line.split(",")[0] for line in names.splitlines()], names


# --- one running container ----------------------------------------------

def test_launch_and_list_table(daemon, c1):
    out = daemon.lxc("list").stdout
    rows = [r for r in table_rows(out) if r[0] == "c1"]
    assert len(rows) == 1, out
    assert rows[0][1] == "RUNNING", out
    assert rows[0][4] == "CONTAINER", out


def test_list_csv(daemon, c1):
    out = daemon.lxc("list", "--format", "csv").stdout
    line = [ln for ln in out.splitlines() if ln.startswith("c1,")]
    assert len(line) == 1, out
    assert line[0].split(",")[1] == "RUNNING"
    assert line[0].split(",")[4] == "CONTAINER"


def test_list_json(daemon, c1):
    data = json.loads(daemon.lxc("list", "--format", "json").stdout)
    inst = [i for i in data if i["name"] == "c1"]
    assert len(inst) == 1
    assert inst[0]["status"] == "Running" and inst[0]["status_code"] == 103
    pid = inst[0]["state"]["pid"]
    assert pid > 1 and pid_alive(pid)


def test_exec_ps_shows_init_and_services(daemon, c1):
    def ps():
        out = daemon.lxc("exec", "c1", "--", "ps").stdout
        procs = {}
        for line in out.splitlines()[1:]:
            fields = line.split(None, 2)
            procs.setdefault(fields[2].split()[0], []).append(int(fields[0]))
        return out, procs

    def services_up():
        out, procs = ps()
        return (out, procs) if all(any(c.endswith(s) for c in procs) for s in ("syslogd", "crond", "httpd")) else None

    # rcS starts the services once DHCP answered: seconds after the launch.
    out, procs = wait_until(services_up, "the image's services run", 30, 0.5)
    assert procs.get("init") == [1], out


def test_exec_hostname_is_name(daemon, c1):
    assert daemon.lxc("exec", "c1", "--", "hostname").stdout == "c1\n"


def test_exec_exit_code_propagates(daemon, c1):
    cp = daemon.lxc("exec", "c1", "--", "sh", "-c", "exit 7", check=False)
    assert cp.returncode == 7, (cp.stdout, cp.stderr)
    assert daemon.lxc("exec", "c1", "--", "true").returncode == 0
    assert daemon.lxc("exec", "c1", "--", "false", check=False).returncode == 1


def test_exec_missing_command_fails(daemon, c1):
    cp = daemon.lxc("exec", "c1", "--", "/no/such/binary", check=False)
    assert cp.returncode != 0, (cp.stdout, cp.stderr)


def test_exec_stdout_and_stderr_are_separate(daemon, c1):
    cp = daemon.lxc("exec", "c1", "--", "sh", "-c", "echo to-out; echo to-err >&2")
    assert cp.stdout == "to-out\n"
    assert "to-err" in cp.stderr and "to-out" not in cp.stderr


def test_exec_stdin_is_piped(daemon, c1):
    assert daemon.lxc("exec", "c1", "--", "cat", input="hello\n", timeout=20).stdout == "hello\n"


def test_exec_stdin_eof_reaches_command(daemon, c1):
    """stdin at EOF (here /dev/null) must end `cat`, not leave it waiting forever."""
    cp = daemon.lxc("exec", "c1", "--", "sh", "-c", "cat; echo eof-seen", timeout=20)
    assert cp.stdout == "eof-seen\n"


def test_exec_large_stdin_arrives_intact(daemon, c1):
    blob = "".join(f"line {i:06d}\n" for i in range(30000))  # 360 kB
    out = daemon.lxc("exec", "c1", "--", "sh", "-c", "cat | md5sum", input=blob, timeout=20).stdout
    assert out.split()[0] == hashlib.md5(blob.encode()).hexdigest()


def test_exec_large_stdout_arrives_intact(daemon, c1):
    """The command exits right after writing: its last output must still be delivered."""
    for _ in range(3):
        out = daemon.lxc("exec", "c1", "--", "sh", "-c",
                         "i=0; while [ $i -lt 20000 ]; do echo x$i; i=$((i+1)); done").stdout
        lines = out.splitlines()
        assert len(lines) == 20000 and lines[0] == "x0" and lines[-1] == "x19999", \
            f"{len(lines)} lines, last {lines[-1:]}"


def test_exec_environment_and_cwd(daemon, c1):
    out = daemon.lxc("exec", "c1", "--env", "FOO=bar baz", "--", "sh", "-c", 'echo "$FOO"; pwd').stdout
    assert out.splitlines() == ["bar baz", "/root"] or out.splitlines()[0] == "bar baz", out


def test_info_shows_status_and_pid(daemon, c1):
    out = daemon.lxc("info", "c1").stdout
    assert "Status: RUNNING" in out, out
    pid = info_pid(daemon, "c1")
    assert pid is not None and pid > 1, out
    assert pid == daemon.init_pid("c1")
    with open(f"/proc/{pid}/status") as f:
        nspid = [ln for ln in f if ln.startswith("NSpid:")][0].split()
    assert nspid[-1] == "1", f"host PID {pid} is not PID 1 in the container: {nspid}"


def test_delete_refused_while_running(daemon, c1):
    pid = daemon.init_pid("c1")
    cp = daemon.lxc("delete", "c1", check=False)
    assert cp.returncode != 0, cp.stdout
    assert list_state(daemon, "c1") == "RUNNING"
    assert pid_alive(pid) and daemon.init_pid("c1") == pid


# --- lifecycle on dedicated containers --------------------------------------

def test_stop_start_restart(daemon):
    daemon.lxc("launch", "busybox", "life")
    pid1 = info_pid(daemon, "life")
    cgdir = cgroup_dir_of(pid1, "pids") or cgroup_dir_of(pid1, "")

    daemon.lxc("stop", "life")
    assert list_state(daemon, "life") == "STOPPED"
    assert not pid_alive(pid1), "init survived lxc stop"
    assert info_pid(daemon, "life") is None
    if cgdir and os.path.exists(cgdir):
        with open(os.path.join(cgdir, "cgroup.procs")) as f:
            assert f.read().strip() == "", "processes left in the container's cgroup after stop"

    daemon.lxc("start", "life")
    assert list_state(daemon, "life") == "RUNNING"
    pid2 = info_pid(daemon, "life")
    assert pid2 != pid1 and pid_alive(pid2)
    assert daemon.lxc("exec", "life", "--", "hostname").stdout == "life\n"

    daemon.lxc("restart", "life")
    assert list_state(daemon, "life") == "RUNNING"
    pid3 = info_pid(daemon, "life")
    assert pid3 != pid2 and pid_alive(pid3) and not pid_alive(pid2)
    assert daemon.lxc("exec", "life", "--", "true").returncode == 0
    daemon.lxc("delete", "--force", "life")


def console_log(daemon, name):
    status, body = daemon.request("GET", f"/1.0/instances/{name}/logs/console.log")
    assert status == 200, body
    return body.decode(errors="replace")


def test_stop_is_graceful(daemon):
    """A plain stop lets init run its shutdown action (rcK prints to the console)."""
    daemon.lxc("launch", "busybox", "grace")
    daemon.lxc("stop", "grace")
    assert list_state(daemon, "grace") == "STOPPED"
    assert "Ferry busybox: shutting down" in console_log(daemon, "grace")
    daemon.lxc("delete", "grace")


def test_force_stop_kills_without_shutdown(daemon):
    daemon.lxc("launch", "busybox", "hard")
    wait_until(lambda: "boot complete" in console_log(daemon, "hard"), "boot message on the console")
    pid = info_pid(daemon, "hard")
    daemon.lxc("stop", "--force", "hard")
    assert list_state(daemon, "hard") == "STOPPED"
    assert not pid_alive(pid)
    assert "shutting down" not in console_log(daemon, "hard")
    daemon.lxc("delete", "hard")


def test_pause_and_resume(daemon):
    daemon.lxc("launch", "busybox", "frz")
    pid = info_pid(daemon, "frz")
    daemon.lxc("pause", "frz")
    assert list_state(daemon, "frz") == "FROZEN"
    d = cgroup_dir_of(pid, "freezer")
    if d and os.path.exists(os.path.join(d, "freezer.state")):
        with open(os.path.join(d, "freezer.state")) as f:
            assert f.read().strip() == "FROZEN"
    else:
        with open(os.path.join(cgroup_dir_of(pid, ""), "cgroup.freeze")) as f:
            assert f.read().strip() == "1"
    daemon.lxc("start", "frz")  # lxc start on a frozen instance sends "unfreeze"
    assert list_state(daemon, "frz") == "RUNNING"
    assert daemon.lxc("exec", "frz", "--", "echo", "thawed").stdout == "thawed\n"
    assert daemon.init_pid("frz") == pid
    daemon.lxc("delete", "--force", "frz")


def test_delete_force_removes_everything(daemon):
    daemon.lxc("launch", "busybox", "gone")
    pid = info_pid(daemon, "gone")
    cgdir = cgroup_dir_of(pid, "pids") or cgroup_dir_of(pid, "")
    daemon.lxc("delete", "--force", "gone")
    assert list_state(daemon, "gone") is None
    assert not pid_alive(pid)
    assert not os.path.exists(os.path.join(daemon.root, "containers", "gone"))
    assert cgdir is None or not os.path.exists(cgdir), f"cgroup {cgdir} left after delete"
    cp = daemon.lxc("info", "gone", check=False)
    assert cp.returncode != 0


def test_limits_memory_applied_after_restart(daemon):
    daemon.lxc("launch", "busybox", "mem")
    daemon.lxc("config", "set", "mem", "limits.memory", "128MiB")
    assert daemon.lxc("config", "get", "mem", "limits.memory").stdout.strip() == "128MiB"
    daemon.lxc("restart", "mem")
    pid = info_pid(daemon, "mem")
    assert cgroup_limit(pid, "memory", "memory.limit_in_bytes", "memory.max") == "134217728"
    daemon.lxc("delete", "--force", "mem")


def test_launch_with_limits_processes(daemon):
    daemon.lxc("launch", "busybox", "c2", "-c", "limits.processes=50")
    pid = info_pid(daemon, "c2")
    assert cgroup_limit(pid, "pids", "pids.max", "pids.max") == "50"
    # The limit bites: an inner shell forking 60 sleepers dies on the first failed fork;
    # the outer shell counts (and kills, with builtins only) the ones that were made.
    script = ('rm -f /tmp/p; '
              'sh -c "i=0; while [ \\$i -lt 60 ]; do sleep 300 & echo \\$! >> /tmp/p; i=\\$((i+1)); done" 2>/dev/null; '
              'n=0; while read p; do kill $p; n=$((n+1)); done < /tmp/p; echo $n')
    out = daemon.lxc("exec", "c2", "--", "sh", "-c", script).stdout
    assert 0 < int(out.split()[-1]) < 50, out
    daemon.lxc("delete", "--force", "c2")


def test_init_then_start(daemon):
    daemon.lxc("init", "busybox", "c3")
    assert list_state(daemon, "c3") == "STOPPED"
    assert info_pid(daemon, "c3") is None
    assert "Status: STOPPED" in daemon.lxc("info", "c3").stdout
    daemon.lxc("start", "c3")
    assert list_state(daemon, "c3") == "RUNNING"
    assert pid_alive(info_pid(daemon, "c3"))
    daemon.lxc("delete", "--force", "c3")


def test_rename(daemon):
    daemon.lxc("init", "busybox", "c4")
    daemon.lxc("rename", "c4", "c5")
    assert list_state(daemon, "c4") is None
    assert list_state(daemon, "c5") == "STOPPED"
    assert not os.path.exists(os.path.join(daemon.root, "containers", "c4"))
    daemon.lxc("start", "c5")
    assert daemon.lxc("exec", "c5", "--", "hostname").stdout == "c5\n"
    daemon.lxc("delete", "--force", "c5")


def test_launch_duplicate_name_fails(daemon, c1):
    pid = daemon.init_pid("c1")
    cp = daemon.lxc("launch", "busybox", "c1", check=False)
    assert cp.returncode != 0
    assert daemon.init_pid("c1") == pid
