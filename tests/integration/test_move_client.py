"""`ferry move` / `ferry copy` (issue 5): the client side of migration between two
ferryds, as lxc 5.0 drives LXD's migration API (reference section 8).

Two ferryds on loopback, each with its own root (and so its own cgroup parent): A is
`local` (unix socket) and listens on HTTPS too, so that a target can pull from it; B is
the HTTPS remote `r2`. Tests that need the daemons to migrate skip until both advertise
the `migration_ferry` API extension; everything the client decides alone (argument
errors, the same-remote rename, where errors come from, the source restarted after a
refused stateless move) runs now."""

import http.server
import json
import os
import shutil
import re
import socketserver
import subprocess
import tempfile
import threading

import pytest

from conftest import FERRY, _daemon_fixture, free_port, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists(FERRY), reason=f"ferry client not built yet ({FERRY})")

PASSWORD = "move-s3cret"
MIGRATION_EXTENSION = "migration_ferry"


def listen_https(d):
    port = free_port()
    d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}",
                                          "core.trust_password": PASSWORD}})
    d.https_port = port
    return port


@pytest.fixture(scope="module")
def daemon_b(request):
    """The second host: a ferryd of its own for the whole module."""
    yield from _daemon_fixture(request)


@pytest.fixture(scope="module")
def hosts(daemon, daemon_b):
    """(A, B): both on HTTPS, B known to the client as remote r2 (FERRY_CONF private to
    this module)."""
    conf = tempfile.mkdtemp(prefix="ferry-move-conf-")
    saved = os.environ.get("FERRY_CONF")
    os.environ["FERRY_CONF"] = conf
    try:
        listen_https(daemon)
        port = listen_https(daemon_b)
        daemon.ferry("remote", "add", "r2", f"127.0.0.1:{port}", "--password", PASSWORD,
                     "--accept-certificate")
        yield daemon, daemon_b
    finally:
        if saved is None:
            os.environ.pop("FERRY_CONF", None)
        else:
            os.environ["FERRY_CONF"] = saved
        shutil.rmtree(conf, ignore_errors=True)


@pytest.fixture
def clean(hosts):
    """Each test starts and ends with no instance on either host."""
    a, b = hosts
    yield a, b
    problems = a.remove_all_instances() + b.remove_all_instances()
    assert not problems, problems


def supports_migration(*daemons):
    return all(MIGRATION_EXTENSION in (d.api_ok("GET", "/1.0").get("api_extensions") or [])
               for d in daemons)


@pytest.fixture
def migrating(clean):
    a, b = clean
    if not supports_migration(a, b):
        pytest.skip(f"the daemons do not advertise {MIGRATION_EXTENSION} yet")
    return a, b


def state(d, name):
    return d.instance(name)["status"]


def snapshot_names(d, name):
    return sorted(s["name"] for s in d.api_ok("GET", f"/1.0/instances/{name}/snapshots?recursion=1"))


def operations(d):
    ops = d.api_ok("GET", "/1.0/operations?recursion=1") or {}
    return [o for group in ops.values() for o in group]


def op_ids(d):
    return {o["id"] for o in operations(d)}


def error_line(cp):
    lines = [ln for ln in cp.stderr.splitlines() if ln.startswith("Error: ")]
    assert lines, cp.stderr
    return lines[0]


# --- client-side checks: nothing is sent ------------------------------------

def test_help_and_registration(hosts):
    a, _ = hosts
    out = a.ferry("move", "--help").stdout
    assert "ferry move [<remote>:]<instance>[/<snapshot>] [<remote>:][<instance>[/<snapshot>]] [flags]" in out
    for flag in ("--instance-only", "--mode", "--stateless"):
        assert flag in out, out
    assert "Aliases:\n  move, mv" in out
    out = a.ferry("copy", "--help").stdout
    assert "ferry copy [<remote>:]<source> [[<remote>:]<destination>] [flags]" in out
    listing = a.ferry("help").stdout
    assert re.search(r"^  copy +Copy instances", listing, re.M) and re.search(r"^  move +Move instances", listing, re.M)


@pytest.mark.parametrize("argv, message", [
    (["move", "c1"], "Invalid number of arguments"),
    (["move", "c1", "r2:", "extra"], "Invalid number of arguments"),
    (["copy", "c1", "r2:", "extra"], "Invalid number of arguments"),
    (["move", "c1", "nosuch:"], 'The remote "nosuch" doesn\'t exist'),
    (["move", "nosuch:c1", "r2:"], 'The remote "nosuch" doesn\'t exist'),
    (["copy", "c1", "nosuch:c2"], 'The remote "nosuch" doesn\'t exist'),
    (["move", ":c1", "r2:"], 'Invalid remote name: ""'),
    (["move", "local:", "r2:"], "You must specify a source instance name"),
    (["copy", "r2:", "local:"], "You must specify a source instance name"),
    (["move", "c1", "r2:", "--mode", "relay"], 'Invalid transfer mode "relay"'),
    (["copy", "c1", "r2:", "--mode", "bogus"], 'Invalid transfer mode "bogus"'),
    (["move", "c1/s1", "r2:"], "snapshot"),
    (["move", "c1", "c1"], "The source and the destination are both local:c1"),
    (["move", "c1", "local:"], "The source and the destination are both local:c1"),
    (["move", "c1", "r2:", "--bogus"], "unknown flag: --bogus"),
])
def test_bad_input_sends_nothing(clean, argv, message):
    a, b = clean
    a.launch("c1", start=False)
    ops_before = op_ids(a) | op_ids(b)
    cp = a.ferry(*argv, check=False)
    assert cp.returncode == 1, (cp.stdout, cp.stderr)
    assert message in error_line(cp), cp.stderr
    assert a.instance_names() == ["c1"] and b.instance_names() == []
    assert (op_ids(a) | op_ids(b)) - ops_before == set()


def test_no_arguments_shows_help(hosts):
    a, _ = hosts
    cp = a.ferry("move", check=False)
    assert cp.returncode == 0 and "Usage:" in cp.stdout


def test_same_remote_is_a_rename(clean):
    a, b = clean
    a.launch("c1", start=False)
    a.api_ok("POST", "/1.0/instances/c1/snapshots", {"name": "s1"})
    a.ferry("move", "c1", "c2")
    a.ferry("mv", "c2", "local:c3")
    assert a.instance_names() == ["c3"] and b.instance_names() == []
    a.ferry("move", "c3/s1", "c3/s2")
    assert snapshot_names(a, "c3") == ["s2"]
    cp = a.ferry("move", "c3/s2", "c9/s3", check=False)
    assert cp.returncode == 1 and "parent must be the same" in error_line(cp)
    # A rename on a remote stays on that remote.
    b.launch("d1", start=False)
    a.ferry("move", "r2:d1", "r2:d2")
    assert b.instance_names() == ["d2"] and a.instance_names() == ["c3"]
    # The daemon's refusal is printed as is.
    cp = a.ferry("move", "nosuch", "other", check=False)
    assert cp.returncode == 1 and error_line(cp).startswith("Error: "), cp.stderr


def test_source_not_listening(clean):
    """Pulling from a source without an HTTPS address can't work: said before anything
    is changed on either daemon."""
    a, b = clean
    a.launch("c1")
    port = a.https_port
    a.api_ok("PATCH", "/1.0", {"config": {"core.https_address": ""}})
    try:
        ops_before = op_ids(a) | op_ids(b)
        for extra in ([], ["--stateless"]):
            cp = a.ferry("move", "c1", "r2:", *extra, check=False)
            assert cp.returncode == 1
            assert "The source server isn't listening on the network" in error_line(cp), cp.stderr
            assert state(a, "c1") == "Running"
        # not even the stop of --stateless
        assert (op_ids(a) | op_ids(b)) - ops_before == set()
        assert b.instance_names() == []
    finally:
        a.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})


def test_unknown_source_instance(clean):
    a, b = clean
    cp = a.ferry("move", "nosuch", "r2:", check=False)
    assert cp.returncode == 1 and "not found" in error_line(cp).lower(), cp.stderr
    assert b.instance_names() == []


# --- the target refuses: the source is kept as it was ------------------------------

def test_refused_move_keeps_source(clean):
    """The target already has an instance of that name: it refuses before anything moves,
    its answer is what the user sees, and the source runs on untouched."""
    a, b = clean
    a.launch("c1")
    b.launch("c1", start=False)
    pid = a.init_pid("c1")
    cp = a.ferry("move", "c1", "r2:", check=False, timeout=120)
    assert cp.returncode == 1
    assert 'Instance "c1" already exists' in error_line(cp), cp.stderr
    assert a.instance_names() == ["c1"] and state(a, "c1") == "Running" and a.init_pid("c1") == pid
    assert b.instance_names() == ["c1"] and state(b, "c1") == "Stopped"


def test_refused_stateless_move_restarts_source(clean):
    """--stateless stops the source before migrating: a refusal must start it again."""
    a, b = clean
    a.launch("c1")
    b.launch("c1", start=False)
    pid = a.init_pid("c1")
    cp = a.ferry("move", "c1", "r2:", "--stateless", check=False, timeout=120)
    assert cp.returncode == 1
    assert 'Instance "c1" already exists' in error_line(cp), cp.stderr
    assert state(a, "c1") == "Running" and a.init_pid("c1") != pid
    assert b.instance_names() == ["c1"]


def test_refused_push_mode_names_target(clean):
    a, b = clean
    a.launch("c1", start=False)
    b.launch("c2", start=False)
    cp = a.ferry("copy", "c1", "r2:c2", "--mode", "push", check=False, timeout=120)
    assert cp.returncode == 1
    # In push mode the target is asked first; its refusal is what the user sees.
    assert 'Instance "c2" already exists' in error_line(cp), cp.stderr
    assert a.instance_names() == ["c1"] and b.instance_names() == ["c2"]


def test_local_copy_same_remote(clean):
    """`ferry copy c1 c2` on one remote asks the daemon for a local copy
    (source type "copy"); if the daemon can't, its refusal is printed."""
    a, b = clean
    a.launch("c1", start=False)
    cp = a.ferry("copy", "c1", "c2", check=False)
    if cp.returncode != 0:
        assert error_line(cp) == 'Error: Source type "copy" isn\'t supported yet', cp.stderr
        assert a.instance_names() == ["c1"]
        return
    assert sorted(a.instance_names()) == ["c1", "c2"] and state(a, "c2") == "Stopped"
    hw1 = a.instance("c1")["config"].get("volatile.eth0.hwaddr")
    hw2 = a.instance("c2")["config"].get("volatile.eth0.hwaddr")
    assert hw1 is None or hw1 != hw2


# --- real migrations (need the daemon side) ------------------------------------

def test_copy_stopped_with_snapshots(migrating):
    a, b = migrating
    a.launch("c1", start=False)
    a.api_ok("POST", "/1.0/instances/c1/snapshots", {"name": "s1"})
    a.api_ok("POST", "/1.0/instances/c1/snapshots", {"name": "s2"})
    a.ferry("copy", "c1", "r2:c2")
    assert state(b, "c2") == "Stopped" and snapshot_names(b, "c2") == ["s1", "s2"]
    src, dst = a.instance("c1")["config"], b.instance("c2")["config"]
    assert dst.get("volatile.base_image") == src.get("volatile.base_image")
    if "volatile.eth0.hwaddr" in src:
        assert dst.get("volatile.eth0.hwaddr") != src["volatile.eth0.hwaddr"]
    # "r2:" keeps the name; --instance-only leaves the snapshots behind.
    a.ferry("copy", "c1", "r2:", "--instance-only")
    assert state(b, "c1") == "Stopped" and snapshot_names(b, "c1") == []
    assert a.instance_names() == ["c1"] and snapshot_names(a, "c1") == ["s1", "s2"]
    # The name is taken now: the target's error, and nothing changes.
    cp = a.ferry("copy", "c1", "r2:", check=False)
    assert cp.returncode == 1 and "already exists" in error_line(cp), cp.stderr
    assert wait_until(lambda: not [o for o in operations(a) if o["status_code"] < 200] or None,
                      "the source operation cancelled after the failure")


def test_copy_running_stateless(migrating):
    a, b = migrating
    a.launch("c1")
    pid = a.init_pid("c1")
    a.ferry("copy", "c1", "r2:c3", "--stateless")
    assert state(b, "c3") == "Stopped"
    assert state(a, "c1") == "Running" and a.init_pid("c1") == pid


@pytest.mark.parametrize("mode", ["pull", "push"])
def test_move_stateless_and_back(migrating, mode):
    a, b = migrating
    a.launch("c1")
    a.api_ok("POST", "/1.0/instances/c1/snapshots", {"name": "s1"})
    hwaddr = a.instance("c1")["config"].get("volatile.eth0.hwaddr")
    a.ferry("move", "c1", "r2:", "--stateless", "--mode", mode)
    assert a.instance_names() == []
    assert state(b, "c1") == "Running" and snapshot_names(b, "c1") == ["s1"]
    assert b.instance("c1")["config"].get("volatile.eth0.hwaddr") == hwaddr  # a move keeps volatile keys
    # And back, from the HTTPS remote to the unix one, renaming on the way.
    a.ferry("move", "r2:c1", "local:c2", "--stateless", "--mode", mode)
    assert b.instance_names() == [] and state(a, "c2") == "Running"


def test_move_stopped(migrating):
    a, b = migrating
    a.launch("c1", start=False)
    a.ferry("move", "c1", "r2:c9", "--instance-only")
    assert a.instance_names() == [] and state(b, "c9") == "Stopped"


def test_move_name_taken_keeps_source(migrating):
    a, b = migrating
    a.launch("c1")
    b.launch("c1", start=False)
    cp = a.ferry("move", "c1", "r2:", check=False)
    assert cp.returncode == 1 and "already exists" in error_line(cp), cp.stderr
    assert state(a, "c1") == "Running" and state(b, "c1") == "Stopped"


def test_copy_json_body_seen_by_target(migrating):
    """What the target daemon received: the instance's config without its volatile keys
    (but volatile.base_image)."""
    a, b = migrating
    a.launch("c1", config={"user.note": "hello"}, start=False)
    a.ferry("copy", "c1", "r2:c4")
    cfg = b.instance("c4")["config"]
    assert cfg.get("user.note") == "hello"
    assert json.dumps(sorted(k for k in cfg if k.startswith("volatile.last_state.power"))) == "[]"


# --- the exact requests, against two scripted fake daemons -----------------------
#
# Until the daemon side exists these are the only end-to-end checks of the flows; after,
# they still pin the wire format to lxc 5.0.2's (reference section 8) and cover what real
# daemons can't easily be made to do (an address that fails to connect, then one that
# works; figures in the operation metadata). No root needed.

T0 = "2024-05-01T10:00:00Z"


def operation(op_id, status_code=103, metadata=None, err=""):
    return {"id": op_id, "class": "websocket", "description": "Migrating instance", "created_at": T0,
            "updated_at": T0, "status": {103: "Running", 200: "Success", 400: "Failure"}[status_code],
            "status_code": status_code, "resources": {"instances": ["/1.0/instances/c1"]},
            "metadata": metadata, "may_cancel": True, "err": err, "location": "none"}


def compact(value):
    return json.dumps(value, separators=(",", ":"))


class FakeDaemon:
    """Answers from a script of routes; records every request with its raw body."""

    def __init__(self, path, addresses, certificate):
        self.path = path
        self.requests = []
        self.finals = {}
        self.routes = {("GET", "/1.0"): lambda body: self.sync({
            "api_extensions": ["instances", "container_only_migration", "container_push",
                               "container_push_target"],
            "api_status": "stable", "api_version": "1.0", "auth": "trusted", "public": False,
            "auth_methods": ["tls"],
            "environment": {"addresses": addresses, "certificate": certificate, "server": "ferry"}})}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def address_string(self):
                return "fake"

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n).decode() if n else ""
                status, env = fake.answer(self.command, self.path, raw)
                data = json.dumps(env).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def sync(metadata):
        return 200, {"type": "sync", "status": "Success", "status_code": 200, "metadata": metadata}

    @staticmethod
    def error(message, code=400):
        return code, {"type": "error", "error": message, "error_code": code}

    def start_op(self, running, final=None):
        """An async answer whose /wait gives `final` (or `running` when it is final)."""
        self.finals[running["id"]] = final or running
        return 202, {"type": "async", "status": "Operation created", "status_code": 100,
                     "operation": f"/1.0/operations/{running['id']}", "metadata": running}

    def answer(self, method, path, raw):
        self.requests.append((method, path, raw))
        bare = path.split("?", 1)[0]
        if method == "GET" and bare.startswith("/1.0/operations/") and bare.endswith("/wait"):
            return self.sync(self.finals[bare.split("/")[3]])
        if method == "DELETE" and bare.startswith("/1.0/operations/"):
            return self.sync(None)
        route = self.routes.get((method, bare))
        if route is None:
            return self.error(f"not found: {method} {bare}", 404)
        return route(json.loads(raw) if raw else None)

    def calls(self):
        """The requests other than GET /1.0, the events attempt and operation waits."""
        return [(m, p.split("?", 1)[0]) for m, p, _ in self.requests
                if (m, p) != ("GET", "/1.0") and not p.startswith("/1.0/events")
                and not p.split("?", 1)[0].endswith("/wait")]

    def bodies(self, method, path):
        return [raw for m, p, raw in self.requests if m == method and p.split("?", 1)[0] == path]


def fake_instance(status_code):
    return {"architecture": "x86_64", "name": "c1", "type": "container", "status_code": status_code,
            "status": "Running" if status_code == 103 else "Stopped", "ephemeral": False,
            "description": "", "profiles": ["default"], "stateful": False, "location": "none",
            "config": {"image.os": "busybox", "volatile.base_image": "abc123",
                       "volatile.eth0.hwaddr": "00:16:3e:aa:bb:cc", "volatile.last_state.power": "RUNNING"},
            "devices": {}, "expanded_config": {}, "expanded_devices": {}}


@pytest.fixture
def fakes(tmp_path):
    """fsrc and fdst: two fake daemons on unix sockets, as remotes of a private config."""
    src = FakeDaemon(str(tmp_path / "src.sock"), ["192.0.2.1:8443", ":8443", "127.0.0.1:8443"], "PEM-SRC")
    dst = FakeDaemon(str(tmp_path / "dst.sock"), ["127.0.0.1:8444"], "PEM-DST")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.yml").write_text(
        "default-remote: fsrc\nremotes:\n"
        f"  fsrc:\n    addr: unix://{src.path}\n    public: false\n"
        f"  fdst:\n    addr: unix://{dst.path}\n    public: false\n")
    yield src, dst, str(conf)
    src.close()
    dst.close()


def run_ferry(conf, *args):
    return subprocess.run([FERRY, *args], env=dict(os.environ, FERRY_CONF=conf), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)


def serve_instance(src, status_code):
    inst = {"value": fake_instance(status_code)}
    src.routes[("GET", "/1.0/instances/c1")] = lambda body: src.sync(inst["value"])
    return inst


def serve_source_delete(src, inst):
    def stop(body):
        inst["value"] = dict(inst["value"], status_code=102, status="Stopped")
        return src.start_op(operation("stop1"), operation("stop1", 200))
    src.routes[("PUT", "/1.0/instances/c1/state")] = stop
    src.routes[("DELETE", "/1.0/instances/c1")] = lambda body: src.start_op(operation("del1", 200))


SECRETS = {"control": "C", "criu": "R", "fs": "F"}


def test_pull_live_move_retries_addresses_and_prints_figures(fakes):
    src, dst, conf = fakes
    inst = serve_instance(src, 103)
    serve_source_delete(src, inst)
    src.routes[("POST", "/1.0/instances/c1")] = lambda body: src.start_op(operation("s1", metadata=SECRETS))
    attempts = []

    def create(body):
        attempts.append(body)
        if len(attempts) == 1:
            return dst.start_op(operation("t1"), operation(
                "t1", 400, err="Unable to connect to: 192.0.2.1:8443 (dial tcp: i/o timeout)"))
        return dst.start_op(operation("t2"), operation("t2", 200, metadata={
            "migration_total_ms": "900", "migration_freeze_ms": "12", "migration_downtime_ms": "42",
            "fs_progress": "done"}))
    dst.routes[("POST", "/1.0/instances")] = create

    cp = run_ferry(conf, "move", "c1", "fdst:", "--verbose")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == "Freeze:   12 ms\nTotal:    900 ms\nDowntime: 42 ms\n", cp.stdout

    assert src.bodies("POST", "/1.0/instances/c1") == [compact({
        "name": "", "migration": True, "live": True, "instance_only": False, "container_only": False,
        "target": None, "pool": "", "project": "", "allow_inconsistent": False}) + "\n"]
    expected = {"architecture": "x86_64",
                "config": {"image.os": "busybox", "volatile.base_image": "abc123",
                           "volatile.eth0.hwaddr": "00:16:3e:aa:bb:cc"},
                "devices": {}, "ephemeral": False, "profiles": ["default"], "stateful": False,
                "description": "", "name": "c1",
                "source": {"type": "migration", "certificate": "PEM-SRC", "base-image": "abc123",
                           "mode": "pull", "operation": "https://192.0.2.1:8443/1.0/operations/s1",
                           "secrets": SECRETS, "live": True, "allow_inconsistent": False},
                "instance_type": "", "type": "container"}
    bodies = dst.bodies("POST", "/1.0/instances")
    assert bodies[0] == compact(expected) + "\n"
    expected["source"]["operation"] = "https://127.0.0.1:8443/1.0/operations/s1"  # ':8443' is skipped
    assert bodies[1] == compact(expected) + "\n" and len(bodies) == 2
    # live: the client does not start the target; then delete --force on the source
    assert dst.calls() == [("POST", "/1.0/instances"), ("POST", "/1.0/instances")]
    assert src.calls() == [("GET", "/1.0/instances/c1"), ("POST", "/1.0/instances/c1"),
                           ("GET", "/1.0/instances/c1"), ("PUT", "/1.0/instances/c1/state"),
                           ("DELETE", "/1.0/instances/c1")]
    assert json.loads(src.bodies("PUT", "/1.0/instances/c1/state")[0]) == {
        "action": "stop", "timeout": -1, "force": True, "stateful": False}


def test_pull_failure_cancels_source_operation(fakes):
    src, dst, conf = fakes
    serve_instance(src, 102)
    src.routes[("POST", "/1.0/instances/c1")] = lambda body: src.start_op(
        operation("s1", metadata={"control": "C", "fs": "F"}))
    dst.routes[("POST", "/1.0/instances")] = lambda body: dst.error('Instance "c1" already exists', 409)
    cp = run_ferry(conf, "move", "c1", "fdst:")
    assert cp.returncode == 1
    assert cp.stderr == 'Error: Failed instance creation: Instance "c1" already exists\n', cp.stderr
    assert src.calls() == [("GET", "/1.0/instances/c1"), ("POST", "/1.0/instances/c1"),
                           ("DELETE", "/1.0/operations/s1")]
    # a stopped source moves with live false
    assert json.loads(src.bodies("POST", "/1.0/instances/c1")[0])["live"] is False


def test_failures_on_different_addresses_are_listed(fakes):
    src, dst, conf = fakes
    serve_instance(src, 102)
    src.routes[("POST", "/1.0/instances/c1")] = lambda body: src.start_op(operation("s1", metadata=SECRETS))
    answers = iter([operation("t1", 400, err="Unable to connect to: 192.0.2.1:8443 (no route)"),
                    operation("t2", 400, err="Restore failed on the target (log: /var/lib/ferry/logs/c1/restore.log)")])
    dst.routes[("POST", "/1.0/instances")] = lambda body: dst.start_op(next(answers))
    cp = run_ferry(conf, "copy", "c1", "fdst:c2")
    assert cp.returncode == 1
    assert cp.stderr == ("Error: Failed instance creation:\n"
                         " - https://192.0.2.1:8443: Unable to connect to: 192.0.2.1:8443 (no route)\n"
                         " - https://127.0.0.1:8443: Restore failed on the target "
                         "(log: /var/lib/ferry/logs/c1/restore.log)\n"), cp.stderr
    assert src.calls()[-1] == ("DELETE", "/1.0/operations/s1")


def test_push_mode_move(fakes):
    src, dst, conf = fakes
    inst = serve_instance(src, 103)
    serve_source_delete(src, inst)
    dst.routes[("POST", "/1.0/instances")] = lambda body: dst.start_op(operation("t1", metadata=SECRETS))
    src.routes[("POST", "/1.0/instances/c1")] = lambda body: src.start_op(
        operation("s1"), operation("s1", 200, metadata={"migration_transfer_bytes": "2048"}))
    cp = run_ferry(conf, "move", "c1", "fdst:c7", "--mode", "push", "--instance-only", "-v")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == "Transferred: 2048 bytes (2.00KiB)\n"
    target = json.loads(dst.bodies("POST", "/1.0/instances")[0])
    assert target["name"] == "c7" and target["source"] == {
        "type": "migration", "certificate": "", "base-image": "abc123", "mode": "push", "live": True,
        "instance_only": True, "container_only": True, "allow_inconsistent": False}
    assert src.bodies("POST", "/1.0/instances/c1") == [compact({
        "name": "", "migration": True, "live": True, "instance_only": True, "container_only": True,
        "target": {"certificate": "PEM-DST", "operation": "https://127.0.0.1:8444/1.0/operations/t1",
                   "secrets": SECRETS},
        "pool": "", "project": "", "allow_inconsistent": False}) + "\n"]
    assert src.calls()[-1] == ("DELETE", "/1.0/instances/c1")


def test_stateless_move_stops_first_then_starts_target(fakes):
    src, dst, conf = fakes
    inst = serve_instance(src, 103)
    serve_source_delete(src, inst)
    src.routes[("POST", "/1.0/instances/c1")] = lambda body: src.start_op(
        operation("s1", metadata={"control": "C", "fs": "F"}))
    dst.routes[("POST", "/1.0/instances")] = lambda body: dst.start_op(operation("t1", 200))
    dst.routes[("PUT", "/1.0/instances/c1/state")] = lambda body: dst.start_op(operation("start1", 200))
    cp = run_ferry(conf, "move", "c1", "fdst:", "--stateless")
    assert cp.returncode == 0, cp.stderr
    assert src.calls() == [("GET", "/1.0/instances/c1"), ("PUT", "/1.0/instances/c1/state"),
                           ("GET", "/1.0/instances/c1"), ("POST", "/1.0/instances/c1"),
                           ("GET", "/1.0/instances/c1"), ("DELETE", "/1.0/instances/c1")]
    assert json.loads(src.bodies("PUT", "/1.0/instances/c1/state")[0]) == {
        "action": "stop", "timeout": -1, "force": False, "stateful": False}
    assert json.loads(src.bodies("POST", "/1.0/instances/c1")[0])["live"] is False
    assert "live" not in json.loads(dst.bodies("POST", "/1.0/instances")[0])["source"]
    assert dst.calls() == [("POST", "/1.0/instances"), ("PUT", "/1.0/instances/c1/state")]
    assert json.loads(dst.bodies("PUT", "/1.0/instances/c1/state")[0])["action"] == "start"


def test_copy_strips_volatile_and_leaves_source(fakes):
    src, dst, conf = fakes
    serve_instance(src, 102)
    src.routes[("POST", "/1.0/instances/c1")] = lambda body: src.start_op(operation("s1", metadata=SECRETS))
    dst.routes[("POST", "/1.0/instances")] = lambda body: dst.start_op(operation("t1", 200))
    cp = run_ferry(conf, "copy", "fsrc:c1", "fdst:c2")
    assert cp.returncode == 0 and cp.stdout == "", (cp.stdout, cp.stderr)
    body = json.loads(dst.bodies("POST", "/1.0/instances")[0])
    assert body["name"] == "c2" and body["config"] == {"image.os": "busybox", "volatile.base_image": "abc123"}
    assert src.calls() == [("GET", "/1.0/instances/c1"), ("POST", "/1.0/instances/c1")]
    assert dst.calls() == [("POST", "/1.0/instances")]
