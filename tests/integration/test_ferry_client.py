"""The `ferry` client: the same flows as with lxc, checked against the host."""

import json
import os

import pytest

from conftest import FERRY, cgroup_limit, pid_alive, wait_until
from imagetar import base_image

pytestmark = pytest.mark.skipif(not os.path.exists(FERRY), reason=f"ferry client not built yet ({FERRY})")


@pytest.fixture(scope="module")
def f1(daemon):
    daemon.ferry("launch", "busybox", "f1")
    return "f1"


def csv_state(daemon, name):
    for line in daemon.ferry("list", "--format", "csv").stdout.splitlines():
        cells = line.split(",")
        if cells[0] == name:
            return cells[1]
    return None


def pid_of(daemon, name):
    for line in daemon.ferry("info", name).stdout.splitlines():
        if line.startswith("PID:"):
            return int(line.split(":")[1])
    return None


def test_list_table(daemon, f1):
    out = daemon.ferry("list").stdout
    header = [c.strip() for c in out.splitlines()[1].strip("|").split("|")]
    assert header == ["NAME", "STATE", "IPV4", "IPV6", "TYPE", "SNAPSHOTS"], out
    row = [ln for ln in out.splitlines() if ln.startswith("| f1 ")]
    assert row and "RUNNING" in row[0] and "CONTAINER" in row[0], out


def test_list_csv_and_json(daemon, f1):
    assert csv_state(daemon, "f1") == "RUNNING"
    data = json.loads(daemon.ferry("list", "--format", "json").stdout)
    inst = [i for i in data if i["name"] == "f1"][0]
    assert inst["status_code"] == 103 and pid_alive(inst["state"]["pid"])


def test_list_yaml(daemon, f1):
    out = daemon.ferry("list", "--format", "yaml").stdout
    assert "name: f1" in out and "status: Running" in out, out


def test_exec_effects_and_exit_code(daemon, f1):
    assert daemon.ferry("exec", "f1", "--", "hostname").stdout == "f1\n"
    out = daemon.ferry("exec", "f1", "--", "ps").stdout
    assert any(line.split()[0] == "1" and "init" in line for line in out.splitlines()[1:]), out
    cp = daemon.ferry("exec", "f1", "--", "sh", "-c", "echo o; echo e >&2; exit 9", check=False)
    assert cp.returncode == 9 and cp.stdout == "o\n" and "e" in cp.stderr


def test_exec_stdin(daemon, f1):
    assert daemon.ferry("exec", "f1", "--", "cat", input="via ferry\n", timeout=20).stdout == "via ferry\n"


def test_info_instance(daemon, f1):
    out = daemon.ferry("info", "f1").stdout
    assert "Status: RUNNING" in out, out
    pid = pid_of(daemon, "f1")
    assert pid == daemon.init_pid("f1") and pid_alive(pid)
    for word in ("Processes", "Memory", "Created"):
        assert word in out, f"{word} missing from ferry info:\n{out}"


def test_info_server(daemon):
    out = daemon.ferry("info").stdout
    assert os.uname().release in out, out
    assert "criu" in out.lower(), f"ferry info should name the CRIU in use:\n{out}"
    assert "instances" in out


def test_config_show_expanded(daemon, f1):
    out = daemon.ferry("config", "show", "f1", "--expanded").stdout
    assert "root:" in out and "type: disk" in out, out  # from the default profile
    assert "volatile.base_image" in out or "image.os" in out, out


def test_config_set_unset_limits(daemon):
    daemon.ferry("launch", "busybox", "fl")
    daemon.ferry("config", "set", "fl", "limits.memory", "96MiB")
    assert daemon.ferry("config", "get", "fl", "limits.memory").stdout.strip() == "96MiB"
    daemon.ferry("restart", "fl")
    assert cgroup_limit(pid_of(daemon, "fl"), "memory", "memory.limit_in_bytes", "memory.max") \
        == str(96 * 1024 * 1024)
    daemon.ferry("config", "unset", "fl", "limits.memory")
    assert daemon.ferry("config", "get", "fl", "limits.memory").stdout.strip() == ""
    cp = daemon.ferry("config", "set", "fl", "limits.memory", "lots", check=False)
    assert cp.returncode != 0 and "limits.memory" in cp.stderr
    daemon.ferry("delete", "--force", "fl")


def test_stop_start_restart_delete(daemon):
    daemon.ferry("launch", "busybox", "fs")
    p1 = pid_of(daemon, "fs")
    daemon.ferry("stop", "fs")
    assert csv_state(daemon, "fs") == "STOPPED" and not pid_alive(p1)
    daemon.ferry("start", "fs")
    p2 = pid_of(daemon, "fs")
    assert csv_state(daemon, "fs") == "RUNNING" and p2 != p1
    daemon.ferry("restart", "fs")
    p3 = pid_of(daemon, "fs")
    assert p3 != p2 and pid_alive(p3) and not pid_alive(p2)
    cp = daemon.ferry("delete", "fs", check=False)
    assert cp.returncode != 0 and csv_state(daemon, "fs") == "RUNNING"
    daemon.ferry("delete", "--force", "fs")
    assert csv_state(daemon, "fs") is None and not pid_alive(p3)


def test_init_rename_start(daemon):
    daemon.ferry("init", "busybox", "fi")
    assert csv_state(daemon, "fi") == "STOPPED"
    daemon.ferry("rename", "fi", "fj")
    daemon.ferry("start", "fj")
    assert daemon.ferry("exec", "fj", "--", "hostname").stdout == "fj\n"
    daemon.ferry("delete", "--force", "fj")


def test_errors_exit_nonzero(daemon):
    assert daemon.ferry("info", "no-such", check=False).returncode != 0
    assert daemon.ferry("launch", "no-such-image", "x1", check=False).returncode != 0
    assert daemon.ferry("launch", "busybox", "1bad", check=False).returncode != 0
    assert "x1" not in daemon.instance_names() and "1bad" not in daemon.instance_names()


def test_image_list(daemon):
    out = daemon.ferry("image", "list", "--format", "csv").stdout
    assert any(line.split(",")[0] == "busybox" for line in out.splitlines()), out


def test_image_import_and_launch(daemon, tmp_path):
    tarball = tmp_path / "testimg.tar.gz"
    tarball.write_bytes(base_image(tag="imported").bytes())
    daemon.ferry("image", "import", str(tarball), "--alias", "testimg")
    out = daemon.ferry("image", "list", "--format", "csv").stdout
    assert any(line.split(",")[0] == "testimg" for line in out.splitlines()), out
    assert "testimg" in daemon.lxc("image", "list", "--format", "csv").stdout

    daemon.ferry("launch", "testimg", "fimp")
    assert csv_state(daemon, "fimp") == "RUNNING"
    # It really runs the imported rootfs: its rcS line reaches the console.
    wait_until(lambda: "test image imported: booted" in daemon.ferry("console", "--show-log", "fimp").stdout,
               "the imported image's boot line on the console")
    assert daemon.ferry("exec", "fimp", "--", "sh", "-c", "ls /etc/init.d").stdout.split() == ["rcS"]
    daemon.ferry("delete", "--force", "fimp")
    daemon.ferry("image", "delete", "testimg")
    assert "testimg" not in daemon.ferry("image", "list", "--format", "csv").stdout


def test_image_import_bad_tarball(daemon, tmp_path):
    tarball = tmp_path / "bad.tar.gz"
    tarball.write_bytes(base_image(with_busybox=False).file("rootfs/../../evil", "x").bytes())
    before = daemon.ferry("image", "list", "--format", "csv").stdout
    cp = daemon.ferry("image", "import", str(tarball), "--alias", "bad", check=False)
    assert cp.returncode != 0
    assert ".." in cp.stderr or "outside" in cp.stderr, cp.stderr
    assert daemon.ferry("image", "list", "--format", "csv").stdout == before


def test_operation_list(daemon):
    daemon.ferry("init", "busybox", "fop")
    data = json.loads(daemon.ferry("operation", "list", "--format", "json").stdout)
    assert isinstance(data, list)
    status, env = daemon.api("GET", "/1.0/operations?recursion=1")
    ids = [o["id"] for lst in env["metadata"].values() for o in lst]
    # Finished operations expire meanwhile: what the API still lists, ferry listed.
    assert set(ids) <= {o["id"] for o in data}, (ids, data)
    assert any(o["description"] == "Creating instance" for o in data), data
    daemon.ferry("delete", "fop")


def test_profile_list_show(daemon):
    out = daemon.ferry("profile", "list", "--format", "csv").stdout
    assert "default" in [line.split(",")[0] for line in out.splitlines()], out
    show = daemon.ferry("profile", "show", "default").stdout
    assert "name: default" in show and "type: disk" in show, show


def test_console_show_log(daemon, f1):
    wait_until(lambda: "Ferry busybox: boot complete" in daemon.ferry("console", "--show-log", "f1").stdout,
               "boot line in ferry console --show-log")


# Config values that trip up a YAML writer or reader: each must come out of
# `ferry config show` as the stock lxc (go-yaml v2) prints it, and read back
# unchanged through `ferry config edit`.
TRICKY_CONFIG = {
    "user.colon": "key: value",
    "user.quotes": "say \"hi\", it's",
    "user.leading": "  two leading spaces",
    "user.trailing": "trailing space ",
    "user.cr": "one\rtwo",
    "user.crlf": "one\r\ntwo",
    "user.lines": "line one\nline two",
    "user.lines-newline": "line one\nline two\n",
    "user.lines-keep": "kept\n\n",
    "user.lines-indented": "  indented\nsecond",
    "user.number": "1000",
    "user.octal": "0755",
    "user.float": "1.5",
    "user.sexagesimal": "12:30",
    "user.date": "2024-01-02",
    "user.true": "true",
    "user.yes": "yes",
    "user.null": "null",
    "user.tilde": "~",
    "user.empty": "",
    "user.unicode": "h\u00e9llo w\u00f6rld \u2713 \U0001F600",
    "user.tab": "a\tb",
    "user.hash": "a #b",
    "user.dash": "- x",
    "user.flow": "[a, 'b, c']",
    "user.anchor": "&a *b !c",
    "user.long": " ".join(["word"] * 40),
    "user.long-quoted": "'" + " ".join(["quoted"] * 20),
    "user.nbsp": "a\u00a0b",
}


@pytest.fixture(scope="module")
def tricky(daemon):
    daemon.launch("ftricky", config=TRICKY_CONFIG, start=False)
    yield "ftricky"
    daemon.api_ok("DELETE", "/1.0/instances/ftricky")


@pytest.mark.parametrize("args", [["config", "show", "ftricky"], ["config", "show", "ftricky", "--expanded"],
                                  ["profile", "show", "default"]])
def test_yaml_matches_lxc_byte_for_byte(daemon, tricky, args):
    ours = daemon.ferry(*args).stdout
    theirs = daemon.lxc(*args).stdout
    assert ours == theirs


def test_config_edit_round_trip(daemon, tricky):
    before = daemon.instance(tricky)
    shown = daemon.ferry("config", "show", tricky).stdout
    daemon.ferry("config", "edit", tricky, input=shown)
    after = daemon.instance(tricky)
    assert after["config"] == before["config"]
    assert after["devices"] == before["devices"] and after["profiles"] == before["profiles"]
    assert daemon.ferry("config", "show", tricky).stdout == shown
    for key, value in TRICKY_CONFIG.items():
        assert after["config"].get(key, "") == value, key
