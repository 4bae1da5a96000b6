"""ETag and If-Match (issue 16, requirement 4): every object LXD 5.0 gives an ETag
has one here, quoted as LXD sends it, and a PUT or PATCH made from a stale one gets
412 and changes nothing, so two concurrent `lxc config edit`s cannot lose an update.
PATCH of an instance answers 200 at once, as LXD's does.
"""

import http.client
import json
import os
import pty
import re
import subprocess
import time

import pytest

from conftest import FERRY, LXC, UnixHTTPConnection, _sanitizer_env, free_port, https, tls_context, wait_until

ETAG = re.compile(r'^"[0-9a-f]{64}"$')
STALE = "ETag doesn't match: "


def call(daemon, method, path, body=None, if_match=None):
    """(status, envelope, ETag header) of one request on the unix socket."""
    conn = UnixHTTPConnection(daemon.socket)
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if if_match is not None:
        headers["If-Match"] = if_match
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None, resp.getheader("ETag")
    finally:
        conn.close()


def etag_of(daemon, path):
    status, env, etag = call(daemon, "GET", path)
    assert status == 200, env
    assert etag is not None and ETAG.match(etag), f"GET {path}: ETag {etag!r}"
    return etag, env["metadata"]


def change(daemon, method, path, body, if_match=None):
    """A change that must succeed (an async one is waited on); returns the envelope."""
    status, env, _ = call(daemon, method, path, body, if_match)
    assert status in (200, 202), f"{method} {path} {body} -> {status} {env}"
    if status == 202:
        op = daemon.wait_op(env)
        assert op["status_code"] == 200, op
    return env


def refused_stale(daemon, method, path, body, stale):
    status, env, _ = call(daemon, method, path, body, stale)
    assert status == 412, f"{method} {path} with a stale ETag -> {status} {env}"
    assert env["type"] == "error" and env["error_code"] == 412, env
    current, _ = etag_of(daemon, path)
    assert env["error"] == f"{STALE}{current.strip(chr(34))} vs {stale.strip(chr(34))}", env


# --- the objects ------------------------------------------------------------

@pytest.fixture(scope="module")
def objects(daemon):
    """An instance e1 with a snapshot, a profile, an alias, a network: the objects edited."""
    daemon.launch("e1", start=False)
    daemon.api_ok("POST", "/1.0/instances/e1/snapshots", {"name": "s1"})
    daemon.api_ok("POST", "/1.0/profiles", {"name": "ep", "config": {}, "devices": {}})
    fp = daemon.api_ok("GET", "/1.0/images/aliases/busybox")["target"]
    daemon.api_ok("POST", "/1.0/images/aliases", {"name": "ealias", "target": fp})
    subprocess.run(["ip", "link", "del", "etag0"], capture_output=True)
    daemon.api_ok("POST", "/1.0/networks", {"name": "etag0", "config": {
        "ipv4.address": "10.250.88.1/24", "ipv6.address": "none"}})
    pools = daemon.api_ok("GET", "/1.0/storage-pools")
    yield {"fingerprint": fp, "pool": pools[0].rsplit("/", 1)[1]}
    daemon.api_ok("DELETE", "/1.0/networks/etag0")
    daemon.api_ok("DELETE", "/1.0/instances/e1")
    daemon.api_ok("DELETE", "/1.0/profiles/ep")
    daemon.api_ok("DELETE", "/1.0/images/aliases/ealias")
    daemon.api_ok("PATCH", "/1.0", {"config": {"user.etag": ""}})


def image_props(daemon, fp, value):
    props = daemon.api_ok("GET", f"/1.0/images/{fp}")["properties"]
    return {"properties": dict(props, etag=value)}


def instance_put(daemon, value):
    inst = daemon.instance("e1")
    put = {k: inst[k] for k in ("architecture", "config", "devices", "profiles", "ephemeral", "description")}
    put["config"]["user.etag"] = value
    return put


EXPIRIES = {"a": "2031-01-02T03:04:05Z", "b": "2032-01-01T00:00:00Z"}

# Each case: path (format: fp, pool), method, a body setting a value, a reader of it.
CASES = {
    "server": ("/1.0", "PATCH", lambda d, o, v: {"config": {"user.etag": v}},
               lambda m: m["config"].get("user.etag")),
    "instance-patch": ("/1.0/instances/e1", "PATCH", lambda d, o, v: {"config": {"user.etag": v}},
                       lambda m: m["config"].get("user.etag")),
    "instance-put": ("/1.0/instances/e1", "PUT", lambda d, o, v: instance_put(d, v),
                     lambda m: m["config"].get("user.etag")),
    "snapshot": ("/1.0/instances/e1/snapshots/s1", "PUT", lambda d, o, v: {"description": v},
                 lambda m: m["description"]),
    "snapshot-patch": ("/1.0/instances/e1/snapshots/s1", "PATCH",
                       lambda d, o, v: {"expires_at": EXPIRIES.get(v, "2033-01-01T00:00:00Z")},
                       lambda m: {"2031": "a", "2032": "b"}.get(m["expires_at"][:4])),
    "profile-patch": ("/1.0/profiles/ep", "PATCH", lambda d, o, v: {"config": {"user.etag": v}},
                      lambda m: m["config"].get("user.etag")),
    "profile-put": ("/1.0/profiles/ep", "PUT", lambda d, o, v: {"config": {}, "devices": {}, "description": v},
                    lambda m: m["description"]),
    "image": ("/1.0/images/{fp}", "PUT", lambda d, o, v: image_props(d, o["fingerprint"], v),
              lambda m: m["properties"].get("etag")),
    "image-patch": ("/1.0/images/{fp}", "PATCH", lambda d, o, v: image_props(d, o["fingerprint"], v),
                    lambda m: m["properties"].get("etag")),
    "alias": ("/1.0/images/aliases/ealias", "PUT", lambda d, o, v: {"target": o["fingerprint"], "description": v},
              lambda m: m["description"]),
    "alias-patch": ("/1.0/images/aliases/ealias", "PATCH", lambda d, o, v: {"description": v},
                    lambda m: m["description"]),
    "network": ("/1.0/networks/etag0", "PATCH", lambda d, o, v: {"description": v},
                lambda m: m["description"]),
    "network-put": ("/1.0/networks/etag0", "PUT",
                    lambda d, o, v: {"description": v, "config": {"ipv4.address": "10.250.88.1/24",
                                                                  "ipv6.address": "none"}},
                    lambda m: m["description"]),
    "storage-pool": ("/1.0/storage-pools/{pool}", "PATCH", lambda d, o, v: {"description": v},
                     lambda m: m["description"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_two_edits_from_one_etag_second_refused(daemon, objects, case):
    path, method, body, read = CASES[case]
    path = path.format(fp=objects["fingerprint"], pool=objects["pool"])
    start = f"start-{case}"
    change(daemon, method, path, body(daemon, objects, start))
    etag, meta = etag_of(daemon, path)
    assert read(meta) in (start, None), meta  # (the snapshot-patch case reads a date: None)
    assert etag_of(daemon, path)[0] == etag, "the ETag changed while the object did not"

    # The first edit, from the ETag it read (quoted, as lxc sends it back).
    first = change(daemon, method, path, body(daemon, objects, "a"), if_match=etag)
    after, meta = etag_of(daemon, path)
    assert read(meta) == "a", meta
    assert after != etag, "the ETag did not change with the object"

    # The second, from the same ETag: refused, and the first edit stays.
    refused_stale(daemon, method, path, body(daemon, objects, "b"), etag)
    assert etag_of(daemon, path) == (after, meta)

    # The current ETag, unquoted as LXD also takes it, is accepted; no If-Match is no check.
    change(daemon, method, path, body(daemon, objects, "b"), if_match=after.strip('"'))
    assert read(etag_of(daemon, path)[1]) == "b"
    change(daemon, method, path, body(daemon, objects, "a"))
    assert read(etag_of(daemon, path)[1]) == "a"
    if case == "instance-patch":
        assert first["type"] == "sync" and first["status_code"] == 200 and first["metadata"] == {}, first


def test_instance_patch_is_sync_and_put_async(daemon, objects):
    status, env, _ = call(daemon, "PATCH", "/1.0/instances/e1", {"config": {"user.sync": "1"}})
    assert status == 200 and env["type"] == "sync" and env["metadata"] == {}, env
    assert daemon.instance("e1")["config"]["user.sync"] == "1"
    status, env, _ = call(daemon, "PATCH", "/1.0/instances/e1", {"restore": "s1"})
    assert status == 400 and env["error"] == "Can't call PATCH in restore mode", env
    put = daemon.instance("e1")
    put = {k: put[k] for k in ("config", "devices", "profiles", "ephemeral", "description")}
    status, env, _ = call(daemon, "PUT", "/1.0/instances/e1", put)
    assert status == 202 and env["type"] == "async", env
    assert daemon.wait_op(env)["status_code"] == 200


def test_etag_follows_writable_fields_only(daemon, objects):
    """Not a field the client cannot write: a profile's stays when an instance starts using
    it (used_by), an instance's is the same with its state shown (recursion=1)."""
    etag, _ = etag_of(daemon, "/1.0/profiles/ep")
    daemon.launch("e2", start=False)
    try:
        inst_etag, _ = etag_of(daemon, "/1.0/instances/e2")
        change(daemon, "PATCH", "/1.0/instances/e2", {"profiles": ["default", "ep"]})
        assert etag_of(daemon, "/1.0/instances/e2")[0] != inst_etag
        assert etag_of(daemon, "/1.0/profiles/ep")[0] == etag
        # recursion=1 shows the state too; the ETag is the same.
        assert call(daemon, "GET", "/1.0/instances/e2?recursion=1")[2] == etag_of(daemon, "/1.0/instances/e2")[0]
    finally:
        daemon.api_ok("DELETE", "/1.0/instances/e2")


def test_bad_input_with_stale_etag_changes_nothing(daemon, objects):
    """A stale If-Match is checked first: a bad body behind it is not applied either, and
    garbage in the header is a mismatch, not a crash."""
    etag, meta = etag_of(daemon, "/1.0/instances/e1")
    for bad in ('"*"', "*", "W/" + etag, '""', "x" * 4000, etag + ", " + etag):
        status, env, _ = call(daemon, "PATCH", "/1.0/instances/e1", {"config": {"user.etag": "junk"}}, bad)
        assert status == 412, (bad, env)
    status, env, _ = call(daemon, "PUT", "/1.0/instances/e1", {"config": "not a map"}, '"0' + "0" * 63 + '"')
    assert status == 412, env
    assert etag_of(daemon, "/1.0/instances/e1") == (etag, meta)


def test_untrusted_client_gets_no_etag_and_cannot_edit(own_daemon):
    port = free_port()
    own_daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})
    etag, _ = etag_of(own_daemon, "/1.0")
    conn_status, env = https(port, "GET", "/1.0")
    assert conn_status == 200 and env["metadata"]["auth"] == "untrusted"
    ctx = tls_context()
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    try:
        conn.request("GET", "/1.0")
        resp = conn.getresponse()
        resp.read()
        assert resp.getheader("ETag") is None, "an untrusted client was given the server's ETag"
    finally:
        conn.close()
    for method in ("PUT", "PATCH"):
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
        try:
            conn.request(method, "/1.0", body=json.dumps({"config": {"user.x": "1"}}),
                         headers={"Content-Type": "application/json", "If-Match": etag})
            resp = conn.getresponse()
            body = json.loads(resp.read())
            assert resp.status == 403, (method, body)
        finally:
            conn.close()
    assert "user.x" not in own_daemon.api_ok("GET", "/1.0")["config"]
    own_daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": ""}})


# --- the lost update of two concurrent `config edit`s --------------------------

EDITOR = """#!/bin/sh
# Waits until the test says go, then sets the description in the file lxc gave.
i=0
while [ ! -e "{go}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
sed -i 's/^description: .*/description: from-editor/' "$1"
"""


def interleaved_edit(daemon, tmp_path, argv, env):
    """Runs ARGV (a `config edit` on a terminal) with an editor that waits, makes another
    change meanwhile, then lets the editor save: returns (exit status, output)."""
    go = tmp_path / "go"
    editor = tmp_path / "editor.sh"
    editor.write_text(EDITOR.replace("{go}", str(go)))
    editor.chmod(0o755)
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, env=dict(env, EDITOR=str(editor), VISUAL=str(editor)), stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    os.close(slave)
    try:
        # The editor runs once the GET is done: the change below comes after it.
        wait_until(lambda: any("editor.sh" in p for p in _children_cmdlines(proc.pid)) or None,
                   "the editor of config edit", 30)
        daemon.lxc("config", "set", "e1", "user.concurrent", "kept")
        go.touch()
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            # Refused: it asks whether to edit again and waits on the terminal.
            os.close(master)
            master = None
            out, _ = proc.communicate(timeout=30)
        return proc.returncode, out.decode(errors="replace")
    finally:
        if master is not None:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _children_cmdlines(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found.extend(a.decode(errors="replace") for a in f.read().split(b"\0") if a)
        except (OSError, ValueError, IndexError):
            pass
    return found


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_concurrent_config_edit_loses_no_update(daemon, objects, tmp_path, client):
    daemon.api_ok("PATCH", "/1.0/instances/e1", {"description": "before", "config": {"user.concurrent": "old"}})
    if client == "lxc":
        argv = [LXC, "config", "edit", "e1"]
        env = dict(os.environ, LXD_DIR=daemon.root, LXD_CONF=daemon.lxd_conf)
        env.pop("LXD_SOCKET", None)
    else:
        if not os.path.exists(FERRY):
            pytest.skip(f"ferry client not built yet ({FERRY})")
        argv = [FERRY, "config", "edit", "e1"]
        env = dict(_sanitizer_env(), FERRY_DIR=daemon.root)
    status, out = interleaved_edit(daemon, tmp_path, argv, env)
    assert status != 0, f"{client} config edit saved over a newer change:\n{out}"
    assert STALE in out, out
    inst = daemon.instance("e1")
    assert inst["config"]["user.concurrent"] == "kept", inst["config"]
    assert inst["description"] == "before", inst["description"]


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_config_set_and_edit_still_work(daemon, objects, client):
    run = daemon.lxc if client == "lxc" else daemon.ferry
    run("config", "set", "e1", "user.cli", client)
    run("config", "set", "e1", "user.gone", "1")
    run("config", "unset", "e1", "user.gone")
    out = run("config", "show", "e1").stdout
    assert f"user.cli: {client}" in out and "user.gone" not in out, out
    assert daemon.instance("e1")["config"]["user.cli"] == client
    # An edit from a terminal-less stdin sends no If-Match, as lxc: it applies.
    yaml = run("config", "show", "e1").stdout.replace(f"user.cli: {client}", "user.cli: piped")
    run("config", "edit", "e1", input=yaml)
    assert daemon.instance("e1")["config"]["user.cli"] == "piped"


def test_stock_lxc_setters_send_back_a_matching_etag(daemon, objects):
    """lxc's set commands GET the object and PUT it back with its ETag: each must match
    what ferryd computes at the PUT, or every `lxc ... set` would fail with 412."""
    fp, pool = objects["fingerprint"], objects["pool"]
    daemon.lxc("config", "set", "user.lxcset", "1")
    assert daemon.api_ok("GET", "/1.0")["config"]["user.lxcset"] == "1"
    daemon.lxc("config", "unset", "user.lxcset")
    daemon.lxc("profile", "set", "ep", "user.lxcset", "1")
    assert daemon.api_ok("GET", "/1.0/profiles/ep")["config"]["user.lxcset"] == "1"
    daemon.lxc("network", "set", "etag0", "ipv4.dhcp", "true")
    assert daemon.api_ok("GET", "/1.0/networks/etag0")["config"]["ipv4.dhcp"] == "true"
    source = daemon.api_ok("GET", f"/1.0/storage-pools/{pool}")["config"]["source"]
    daemon.lxc("storage", "set", pool, "source", source)
    daemon.lxc("image", "set-property", fp, "lxcset", "1")
    assert daemon.api_ok("GET", f"/1.0/images/{fp}")["properties"]["lxcset"] == "1"
    daemon.lxc("image", "unset-property", fp, "lxcset")
