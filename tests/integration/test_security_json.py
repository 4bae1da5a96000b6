"""Issue 9, items 1 and 16: every JSON text ferryd reads goes through one guarded parser
(strict RFC 8259, at most 64 levels), and POST /1.0/instances type-checks every field.

The attacks are the issue's own payloads, sent to a real ferryd over HTTPS by an
untrusted client and over the unix socket; after each, ferryd must still answer.
json-glib 1.6 recurses once per nesting level and reads /* comments */, so before the
fix 100,000 "[" in a trust token, or a comment full of "]" ahead of a deep body,
overflowed ferryd's stack."""

import base64
import http.client
import json
import os
import ssl

import pytest

from conftest import free_port

IMAGE_SRC = {"type": "image", "alias": "busybox"}
DEEP = 100000


def https_raw(port, method, path, data):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    try:
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def port(daemon):
    """The module's ferryd also listens on HTTPS, with a trust password."""
    p = free_port()
    daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{p}",
                                               "core.trust_password": "s3cret-pass"}})
    return p


def still_serves(daemon, port):
    assert daemon.alive(), daemon.log_tail()
    assert daemon.api_ok("GET", "/1.0")["api_version"] == "1.0"
    status, env = https_raw(port, "GET", "/1.0", None)
    assert status == 200 and env["metadata"]["auth"] == "untrusted"


def certificate_body(password):
    return json.dumps({"type": "client", "name": "x", "certificate": "", "password": password}).encode()


def comment_bypass(n):
    """The issue's second payload: the old guard counted the "]" inside the comment."""
    return b"/*" + b"]" * n + b'*/ {"password": ' + b"[" * n + b"]" * n + b"}"


def containers_on_disk(d):
    return sorted(os.listdir(os.path.join(d.root, "containers")))


# --- item 1: nesting, from every source --------------------------------------------------

def test_token_decoding_to_deep_nesting(daemon, port):
    token = base64.b64encode(b"[" * DEEP).decode()
    status, env = https_raw(port, "POST", "/1.0/certificates", certificate_body(token))
    # 403 once the token is refused; 413 where a body cap stops it before.
    assert status in (403, 413), env
    still_serves(daemon, port)


def test_token_decoding_to_deep_nesting_under_body_caps(daemon, port):
    # 40,000 levels fit in 64 KiB of body: this one reaches the token's parser.
    token = base64.b64encode(b"[" * 40000).decode()
    status, env = https_raw(port, "POST", "/1.0/certificates", certificate_body(token))
    assert status == 403 and env["error"] == "not authorized", env
    still_serves(daemon, port)


@pytest.mark.parametrize("text", [
    b'/* */ {"secret": "x"}', b"{'secret': 'x'}", b'{"secret": 5}', b'{"secret": "x", "addresses": "a"}',
])
def test_token_with_json_glib_extensions_or_wrong_types(daemon, port, text):
    status, env = https_raw(port, "POST", "/1.0/certificates", certificate_body(base64.b64encode(text).decode()))
    assert status == 403 and env["error"] == "not authorized", env
    still_serves(daemon, port)


@pytest.mark.parametrize("field,value", [("password", 5), ("password", ["x"]), ("certificate", 5), ("name", {}),
                                         ("type", 1), ("token", "yes")])
def test_certificate_body_with_wrong_type(daemon, port, field, value):
    # json-glib returned NULL for "password": 5, which ferryd then read: a segfault.
    body = {"type": "client", "name": "x", "certificate": "", "password": "wrong"}
    body[field] = value
    status, env = https_raw(port, "POST", "/1.0/certificates", json.dumps(body).encode())
    assert status == 400 and f'"{field}"' in env["error"], env
    still_serves(daemon, port)


def test_comment_bypass_over_https(daemon, port):
    status, env = https_raw(port, "POST", "/1.0/certificates", comment_bypass(DEEP))
    assert status in (400, 413), env
    status, env = https_raw(port, "POST", "/1.0/certificates", comment_bypass(20000))
    assert status == 400 and "Invalid JSON" in env["error"], env
    still_serves(daemon, port)


def test_comment_bypass_over_unix_socket(daemon, port):
    for path in ("/1.0/certificates", "/1.0/instances", "/1.0"):
        status, data = daemon.request("POST" if path != "/1.0" else "PATCH", path, comment_bypass(DEEP))
        env = json.loads(data)
        assert status == 400 and "Invalid JSON" in env["error"], (path, env)
    still_serves(daemon, port)


# Each is a valid body once the extension is removed; json-glib 1.6 reads most of them.
EXTENSIONS = [
    b'/* c */ {"name": "x1", "source": {"type": "image", "alias": "busybox"}}',
    b'{"name": "x1", "source": {"type": "image", "alias": "busybox"}} // c',
    b"{'name': 'x1', 'source': {'type': 'image', 'alias': 'busybox'}}",
    b'{"name": "x1", "source": {"type": "image", "alias": "busybox"}, "config": {"limits.cpu": 0x2}}',
    b'{"name": "x1", "source": {"type": "image", "alias": "busybox"}, "ephemeral": false,}',
    b'{"name": "x\t1", "source": {"type": "image", "alias": "busybox"}}',
    b'{"name": "x1", "source": {"type": "image", "alias": "busybox"}, "description": "\\ud800"}',
    b'{"name": "x1", "source": {"type": "image", "alias": "busybox"}}\x00',
]


@pytest.mark.parametrize("body", EXTENSIONS, ids=range(len(EXTENSIONS)))
def test_json_glib_extensions_are_refused(daemon, port, body):
    before_list, before_disk = daemon.instance_names(), containers_on_disk(daemon)
    status, data = daemon.request("POST", "/1.0/instances", body)
    env = json.loads(data)
    assert status == 400 and "Invalid JSON" in env["error"], env
    assert daemon.instance_names() == before_list and containers_on_disk(daemon) == before_disk
    still_serves(daemon, port)


def test_nesting_limit_is_64_levels(daemon, port):
    def body(levels):
        return b'{"name": "x1", "source": {"type": "image", "alias": "busybox"}, "description": ' \
            + b"[" * levels + b"]" * levels + b"}"
    status, env = daemon.api("POST", "/1.0/instances", body(64))  # 65 levels with the body's object
    assert status == 400 and "nested deeper than 64 levels" in env["error"], env
    status, env = daemon.api("POST", "/1.0/instances", body(63))  # 64: parsed, then refused for its type
    assert status == 400 and env["error"] == 'Field "description" must be a string', env


# --- item 16: POST /1.0/instances, every field typed ------------------------------------------

WRONG_TYPES = [
    ("architecture", 5), ("stateful", "yes"), ("instance_type", ["c1"]), ("start", "true"), ("restore", 1),
    ("source.type", 5), ("source.certificate", 5), ("source.alias", ["busybox"]), ("source.fingerprint", {}),
    ("source.properties", "os=busybox"), ("source.properties", {"os": 1}), ("source.server", True),
    ("source.secret", 1), ("source.protocol", 1), ("source.base-image", 1), ("source.mode", 1),
    ("source.operation", 1), ("source.secrets", ["control"]), ("source.secrets", {"control": 1}),
    ("source.source", 1), ("source.live", "yes"), ("source.container_only", 1), ("source.instance_only", "no"),
    ("source.refresh", 0), ("source.project", 1), ("source.allow_inconsistent", "x"),
]


@pytest.mark.parametrize("field,value", WRONG_TYPES, ids=[f"{f}={v!r}" for f, v in WRONG_TYPES])
def test_create_field_with_wrong_type(daemon, port, field, value):
    body = {"name": "typed1", "source": dict(IMAGE_SRC)}
    if field.startswith("source."):
        body["source"][field[len("source."):]] = value
    else:
        body[field] = value
    before_list, before_disk = daemon.instance_names(), containers_on_disk(daemon)
    status, env = daemon.api("POST", "/1.0/instances", body)
    assert status == 400 and f'"{field}"' in env["error"], env
    assert daemon.instance_names() == before_list and containers_on_disk(daemon) == before_disk


def test_create_with_all_fields_well_typed(daemon, port):
    body = {"name": "typed2", "architecture": "", "stateful": False, "instance_type": "", "start": False,
            "restore": "", "source": dict(IMAGE_SRC, certificate="", fingerprint="", properties={}, server="",
                                          secret="", protocol="lxd", mode="pull", project="", live=False,
                                          container_only=False, instance_only=False, refresh=False,
                                          allow_inconsistent=False, secrets={}, source="")}
    body["source"]["base-image"] = ""
    body["source"]["operation"] = None
    daemon.api_ok("POST", "/1.0/instances", body)
    assert "typed2" in daemon.instance_names()
    daemon.api_ok("DELETE", "/1.0/instances/typed2")
