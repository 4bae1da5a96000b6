"""HTTP and websocket over a unix socket, the same for LXD (recorder) and ferryd (checker).

Only the standard library: the checker runs in CI with Debian's python3, the recorder on a
host with the LXD oracle.
"""

import base64
import hashlib
import http.client
import json
import os
import socket
import struct
import threading
import time

# Headers a client reads; the rest (Date, Content-Length, ...) are not compared.
KEPT_HEADERS = ("content-type", "location", "etag", "content-disposition")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("unix.socket", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, data):
        self.status = status
        self.headers = headers  # lower-case name -> value, only KEPT_HEADERS and X-LXD-*
        self.data = data

    def json(self):
        try:
            return json.loads(self.data) if self.data else None
        except ValueError:
            return None


class Client:
    def __init__(self, socket_path, timeout=120):
        self.socket_path = socket_path
        self.timeout = timeout

    def request(self, method, path, body=None, headers=None, timeout=None):
        conn = _UnixConnection(self.socket_path, timeout or self.timeout)
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            else:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            kept = {}
            for name, value in resp.getheaders():
                low = name.lower()
                if low in KEPT_HEADERS or low.startswith("x-lxd-"):
                    kept[low] = value
            return Response(resp.status, kept, raw)
        finally:
            conn.close()

    def events(self, query=""):
        return EventListener(self.socket_path, query)


class EventListener:
    """/1.0/events as a websocket; a thread collects every message until close()."""

    def __init__(self, path, query):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
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
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise AssertionError(f"events handshake refused: {head!r}")
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
                                  .digest()).decode()
        self.buf = head.split(b"\r\n\r\n", 1)[1]
        self.messages = []
        self.last = time.monotonic()
        self.closed = False
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert accept

    def _read(self, n):
        while len(self.buf) < n:
            if self.closed:
                raise EOFError()
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            if not chunk:
                raise EOFError()
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode, payload=b""):
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _run(self):
        data = b""
        try:
            while True:
                b0, b1 = self._read(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._read(8))[0]
                payload = self._read(n)
                opcode = b0 & 0x0F
                if opcode == 0x9:
                    self._send(0xA, payload)
                    continue
                if opcode == 0x8:
                    return
                if opcode == 0xA:
                    continue
                data += payload
                if b0 & 0x80:
                    self.messages.append(json.loads(data))
                    self.last = time.monotonic()
                    data = b""
        except (EOFError, OSError, ValueError):
            return

    def settle(self, quiet=0.6, bound=5.0):
        """Wait until no event came for QUIET seconds (BOUND at most): trailing events arrive."""
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if time.monotonic() - self.last >= quiet:
                break
            time.sleep(0.05)

    def close(self):
        self.closed = True
        try:
            self._send(0x8, struct.pack(">H", 1000))
        except OSError:
            pass
        self.thread.join(timeout=5)
        self.sock.close()
        return list(self.messages)
