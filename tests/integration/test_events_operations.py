"""/1.0/events (websocket) and /1.0/operations, through a minimal RFC 6455 client."""

import base64
import json
import os
import socket
import struct
import time

import pytest


class EventSocket:
    """Just enough of a websocket client: handshake over AF_UNIX, read server frames."""

    def __init__(self, path, query="", timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /1.0/events{query} HTTP/1.1\r\nHost: unix.socket\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise AssertionError(f"events handshake: connection closed after {head!r}")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status, f"events handshake refused: {head!r}"
        import hashlib
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
                                  .digest()).decode()
        assert f"sec-websocket-accept: {accept}".lower() in head.decode().lower(), head
        self.buf = b""

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("events socket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode, payload=b""):
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def message(self):
        """Next complete text/binary message, as parsed JSON."""
        data = b""
        while True:
            b0, b1 = self._read(2)
            assert not b1 & 0x80, "server frames must not be masked"
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping
                self._send(0xA, payload)
                continue
            if opcode == 0x8:
                raise EOFError("server closed the events socket")
            if opcode == 0xA:
                continue
            data += payload
            if b0 & 0x80:
                return json.loads(data)

    def wait_for(self, predicate, what, bound=30):
        deadline = time.monotonic() + bound
        seen = []
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                ev = self.message()
            except (socket.timeout, TimeoutError):
                break
            seen.append(ev)
            if predicate(ev):
                return ev, seen
        raise AssertionError(f"no event {what}; saw {json.dumps(seen)[:3000]}")

    def close(self):
        try:
            self._send(0x8, struct.pack(">H", 1000))
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def events(daemon):
    sockets = []

    def open_(query=""):
        s = EventSocket(daemon.socket, query)
        sockets.append(s)
        return s
    yield open_
    for s in sockets:
        s.close()


def check_event_envelope(ev, type_):
    assert ev["type"] == type_
    assert ev["timestamp"] and "T" in ev["timestamp"], ev
    assert isinstance(ev["metadata"], dict)


def test_create_emits_operation_event_with_success(daemon, events):
    ws = events("?type=operation")
    status, env = daemon.api("POST", "/1.0/instances", {"name": "e1", "source": {"type": "image",
                                                                                 "alias": "busybox"}})
    assert status == 202 and env["type"] == "async", env
    op_id = env["metadata"]["id"]
    ev, _ = ws.wait_for(lambda e: e["type"] == "operation" and e["metadata"]["id"] == op_id
                        and e["metadata"]["status_code"] == 200, "create op success")
    check_event_envelope(ev, "operation")
    assert ev["metadata"]["status"] == "Success"
    assert "/1.0/instances/e1" in ev["metadata"]["resources"]["instances"]
    assert "e1" in daemon.instance_names()
    daemon.api_ok("DELETE", "/1.0/instances/e1")


def test_operations_list_get_and_wait(daemon):
    status, env = daemon.api("POST", "/1.0/instances", {"name": "e2", "source": {"type": "image",
                                                                                 "alias": "busybox"}})
    op_id = env["metadata"]["id"]
    assert env["operation"] == f"/1.0/operations/{op_id}"
    final = daemon.wait_op(env)
    assert final["id"] == op_id and final["status"] == "Success" and final["status_code"] == 200, final
    assert final["resources"]["instances"] == ["/1.0/instances/e2"]

    status, env = daemon.api("GET", f"/1.0/operations/{op_id}")
    assert status == 200 and env["metadata"]["status_code"] == 200, env

    status, env = daemon.api("GET", "/1.0/operations")
    assert status == 200
    urls = [u for lst in env["metadata"].values() for u in lst]
    assert f"/1.0/operations/{op_id}" in urls, env
    status, env = daemon.api("GET", "/1.0/operations?recursion=1")
    ids = [o["id"] for lst in env["metadata"].values() for o in lst]
    assert op_id in ids, env
    daemon.api_ok("DELETE", "/1.0/instances/e2")


def test_wait_on_running_operation_blocks_until_done(daemon):
    daemon.api_ok("POST", "/1.0/instances", {"name": "e3", "source": {"type": "image", "alias": "busybox"}})
    status, env = daemon.api("PUT", "/1.0/instances/e3/state", {"action": "start", "timeout": -1})
    final = daemon.wait_op(env)
    assert final["status_code"] == 200, final
    # The wait returned the final state: the instance is running now, not "soon".
    st = daemon.api_ok("GET", "/1.0/instances/e3/state")
    assert st["status_code"] == 103 and st["pid"] > 0
    daemon.api_ok("PUT", "/1.0/instances/e3/state", {"action": "stop", "force": True})
    daemon.api_ok("DELETE", "/1.0/instances/e3")


def test_failed_operation_reports_error(daemon):
    daemon.api_ok("POST", "/1.0/instances", {"name": "e4", "source": {"type": "image", "alias": "busybox"}})
    status, env = daemon.api("PUT", "/1.0/instances/e4/state", {"action": "stop", "timeout": -1})
    if env.get("type") == "async":
        final = daemon.wait_op(env)
        assert final["status_code"] == 400 and final["err"], final
    else:
        assert 400 <= status < 500 and env["error"], env
    daemon.api_ok("DELETE", "/1.0/instances/e4")


def test_lifecycle_events_started_and_stopped(daemon, events):
    ws = events("?type=lifecycle")
    daemon.api_ok("POST", "/1.0/instances", {"name": "e5", "source": {"type": "image", "alias": "busybox"}})
    daemon.api_ok("PUT", "/1.0/instances/e5/state", {"action": "start", "timeout": -1})
    ev, seen = ws.wait_for(lambda e: e["metadata"].get("action") == "instance-started", "instance-started")
    check_event_envelope(ev, "lifecycle")
    assert ev["metadata"]["source"] == "/1.0/instances/e5", ev
    assert all(e["type"] == "lifecycle" for e in seen), "type=lifecycle must filter out other events"
    daemon.api_ok("PUT", "/1.0/instances/e5/state", {"action": "stop", "timeout": -1})
    ev, _ = ws.wait_for(lambda e: e["metadata"].get("action") == "instance-shutdown"
                        and e["metadata"]["source"] == "/1.0/instances/e5", "instance-shutdown")
    daemon.api_ok("DELETE", "/1.0/instances/e5")
    ws.wait_for(lambda e: e["metadata"].get("action") == "instance-deleted", "instance-deleted")


def test_stop_from_inside_emits_stopped(daemon, events):
    """A container that powers itself off is noticed: event and state."""
    daemon.launch("e6")
    ws = events("?type=lifecycle")
    daemon.lxc("exec", "e6", "--", "poweroff", check=False)
    # LXD reports an instance that stopped by itself as instance-shutdown.
    ws.wait_for(lambda e: e["metadata"].get("action") in ("instance-stopped", "instance-shutdown")
                and e["metadata"].get("source") == "/1.0/instances/e6", "instance-shutdown after poweroff")
    assert daemon.api_ok("GET", "/1.0/instances/e6/state")["status_code"] == 102
    daemon.api_ok("DELETE", "/1.0/instances/e6")


def test_events_survive_many_subscribers(daemon, events):
    sockets = [events() for _ in range(5)]
    status, env = daemon.api("POST", "/1.0/instances", {"name": "e7", "source": {"type": "image",
                                                                                 "alias": "busybox"}})
    op_id = env["metadata"]["id"]
    for ws in sockets:
        ws.wait_for(lambda e: e["type"] == "operation" and e["metadata"]["id"] == op_id
                    and e["metadata"]["status_code"] == 200, "create op success on every subscriber")
    sockets[0].close()
    daemon.api_ok("DELETE", "/1.0/instances/e7")
    assert daemon.alive()
