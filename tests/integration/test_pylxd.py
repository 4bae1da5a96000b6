"""pylxd 2.2.10 (Debian's python3-pylxd), a third client, driving ferryd.

pylxd talks to LXD's unix socket with requests-unixsocket and opens exec's
websockets with ws4py, which sends `Host: localhost:None` and never connects
exec's control socket: both must work as they do with LXD.
"""

import os
import time
import urllib.parse

import pytest

pylxd = pytest.importorskip("pylxd")


@pytest.fixture(scope="module")
def client(daemon):
    # Client(endpoint=PATH) wants a regular file (os.path.isfile), not a socket:
    # the socket is given as pylxd spells it itself.
    return pylxd.Client(endpoint="http+unix://" + urllib.parse.quote(daemon.socket, safe=""))


@pytest.fixture(scope="module")
def p1(client):
    c = client.containers.create({"name": "p1", "source": {"type": "image", "alias": "busybox"}}, wait=True)
    c.start(wait=True)
    return client.containers.get("p1")


def test_create_start_state(client, p1):
    assert p1.status == "Running"
    assert "p1" in [c.name for c in client.containers.all()]


def test_execute_stdout_and_exit_code(p1):
    result = p1.execute(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert result.exit_code == 3, result
    assert result.stdout == "out\n", result
    assert result.stderr == "err\n", result


def test_execute_stdin_and_environment(p1):
    result = p1.execute(["sh", "-c", "cat; echo $GREETING"], environment={"GREETING": "hello"},
                        stdin_payload="from stdin\n")
    assert result.exit_code == 0, result
    assert result.stdout == "from stdin\nhello\n", result


def test_execute_many_times(p1):
    # Each execute polls its operation; none may be left waiting for a control socket.
    for i in range(5):
        result = p1.execute(["echo", str(i)])
        assert (result.exit_code, result.stdout) == (0, f"{i}\n"), result


def test_exec_without_websockets_records_output(daemon, p1):
    """"wait-for-websocket": false and "record-output": true, as LXD: the output is kept
    under the instance's logs and named in the operation's metadata."""
    op = daemon.api_ok("POST", "/1.0/instances/p1/exec", {
        "command": ["sh", "-c", "echo recorded; echo oops >&2; exit 4"],
        "wait-for-websocket": False, "record-output": True, "interactive": False,
    })
    done = daemon.wait_op(op)
    meta = done["metadata"]
    assert meta["return"] == 4, done
    out, err = meta["output"]["1"], meta["output"]["2"]
    assert out.startswith("/1.0/instances/p1/logs/exec_") and out.endswith(".stdout"), meta
    assert err.startswith("/1.0/instances/p1/logs/exec_") and err.endswith(".stderr"), meta
    assert daemon.request("GET", out)[1] == b"recorded\n"
    assert daemon.request("GET", err)[1] == b"oops\n"
    logs = daemon.api_ok("GET", "/1.0/instances/p1/logs")
    assert out in logs and err in logs, logs
    # Deleting a recorded output, as lxc does after `lxc exec` of LXD's older clients.
    assert daemon.request("DELETE", out)[0] == 200
    assert daemon.request("GET", out)[0] == 404


def test_exec_without_websockets_and_without_recording(daemon, p1):
    op = daemon.api_ok("POST", "/1.0/instances/p1/exec", {
        "command": ["sh", "-c", "exit 7"], "wait-for-websocket": False, "interactive": False,
    })
    done = daemon.wait_op(op)
    assert done["metadata"]["return"] == 7, done
    assert "output" not in done["metadata"] or not done["metadata"]["output"], done


def test_host_header_with_port_none(daemon):
    """ws4py's Host header on a unix socket; LXD accepts it, so does ferryd."""
    status, _ = daemon.request("GET", "/1.0", headers={"Host": "localhost:None"})
    assert status == 200


def test_snapshots_restore(client, p1):
    p1.execute(["sh", "-c", "echo before > /root/mark"])
    p1.snapshots.create("s1", wait=True)
    p1.execute(["sh", "-c", "echo after > /root/mark"])
    assert [s.name for s in p1.snapshots.all()] == ["s1"]
    assert p1.snapshots.get("s1").stateful is False
    p1.restore_snapshot("s1", wait=True)
    c = client.containers.get("p1")
    if c.status != "Running":  # a stateless restore of a running container boots it again
        c.start(wait=True)
    assert c.execute(["cat", "/root/mark"]).stdout == "before\n"
    c.snapshots.get("s1").delete(wait=True)
    assert c.snapshots.all() == []


def test_stateful_snapshot_restore(client):
    c = client.containers.create({"name": "p2", "source": {"type": "image", "alias": "busybox"}}, wait=True)
    c.start(wait=True)
    # A shell variable lives in memory only: it survives a stateful restore alone.
    c.execute(["sh", "-c", "setsid sh -c 'echo $$ > /tmp/loop.pid; x=kept; while :; do echo $x > /tmp/x; "
                           "sleep 0.2; done' </dev/null >/dev/null 2>&1 &"])
    deadline = time.monotonic() + 20
    while c.execute(["cat", "/tmp/x"]).stdout != "kept\n":
        assert time.monotonic() < deadline, "the loop never wrote /tmp/x"
        time.sleep(0.2)
    snap = c.snapshots.create("live", stateful=True, wait=True)
    assert snap.stateful is True
    assert c.execute(["sh", "-c", "kill $(cat /tmp/loop.pid)"]).exit_code == 0
    c.restore_snapshot("live", wait=True)
    c = client.containers.get("p2")
    assert c.status == "Running"
    # The loop is back: it writes the file again once removed.
    c.execute(["rm", "-f", "/tmp/x"])
    deadline = time.monotonic() + 20
    while c.execute(["cat", "/tmp/x"]).stdout != "kept\n":
        assert time.monotonic() < deadline, "the restored loop never wrote /tmp/x"
        time.sleep(0.2)
    c.stop(wait=True)
    c.delete(wait=True)
    assert "p2" not in [x.name for x in client.containers.all()]


def test_files_put_get_delete(p1):
    p1.files.put("/root/from-pylxd", b"pushed by pylxd\n", mode=0o640, uid=1000, gid=1000)
    assert p1.execute(["stat", "-c", "%a %u %g", "/root/from-pylxd"]).stdout == "640 1000 1000\n"
    assert p1.files.get("/root/from-pylxd") == b"pushed by pylxd\n"
    assert p1.files.delete_available()
    p1.files.delete("/root/from-pylxd")
    assert p1.execute(["test", "-e", "/root/from-pylxd"]).exit_code == 1


def test_files_recursive_put(p1, tmp_path):
    (tmp_path / "t" / "sub").mkdir(parents=True)
    (tmp_path / "t" / "sub" / "f").write_text("deep\n")
    p1.files.recursive_put(str(tmp_path / "t"), "/root/t")
    assert p1.execute(["cat", "/root/t/sub/f"]).stdout == "deep\n"
