"""Operations, errors and events as LXD 5.0.2 answers them (issue 16).

An action that cannot be done is accepted (202) and its operation fails, as
LXD's checks run inside the operation; the error envelope, operation
metadata and resources, exec metadata, the stop events and /1.0/events
(logging, Pending, requestor) have LXD's shape.
"""

import base64
import hashlib
import json
import os
import ssl
import subprocess

import pytest

from conftest import free_port, https, wait_until
from test_events_operations import EventSocket

# LXD's recorded answers: in this tree once the conformance suite is merged,
# else in the worktree of the helper recording them.
GOLDEN = next((p for p in (os.path.join(os.path.dirname(__file__), "..", "conformance", "golden"),
                           "/work/wt/i16-golden/tests/conformance/golden") if os.path.isdir(p)), "")

UNIX_REQUESTOR = {"username": "root", "protocol": "unix", "address": "@"}


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


@pytest.fixture(scope="module")
def pair(daemon):
    """o1 running with snapshot s0, o2 stopped."""
    daemon.launch("o1")
    daemon.api_ok("POST", "/1.0/instances/o1/snapshots", {"name": "s0"})
    daemon.launch("o2", start=False)
    yield daemon
    for name in ("o1", "o2"):
        if power(daemon, name) != "Stopped":
            daemon.api_ok("PUT", f"/1.0/instances/{name}/state", {"action": "stop", "force": True})
        daemon.api_ok("DELETE", f"/1.0/instances/{name}")


def power(daemon, name):
    return daemon.api_ok("GET", f"/1.0/instances/{name}/state")["status"]


def snapshot_names(daemon, name):
    return sorted(u.rsplit("/", 1)[1] for u in daemon.api_ok("GET", f"/1.0/instances/{name}/snapshots"))


def refused(daemon, method, path, body, err):
    """METHOD PATH is accepted (202), then its operation fails with ERR."""
    status, env = daemon.api(method, path, body)
    assert status == 202 and env["type"] == "async", (method, path, status, env)
    final = daemon.wait_op(env)
    assert final["status"] == "Failure" and final["status_code"] == 400, final
    assert final["err"] == err, final
    return env, final


# --- actions that cannot be done -------------------------------------------------------

REFUSALS = [
    # (what, method, path, body, err)
    ("start running", "PUT", "/1.0/instances/o1/state", {"action": "start"}, "The instance is already running"),
    ("stop stopped", "PUT", "/1.0/instances/o2/state", {"action": "stop", "timeout": 30},
     "The instance is already stopped"),
    ("force-stop stopped", "PUT", "/1.0/instances/o2/state", {"action": "stop", "force": True},
     "The instance is already stopped"),
    ("freeze stopped", "PUT", "/1.0/instances/o2/state", {"action": "freeze"}, "The container isn't running"),
    ("restart stopped", "PUT", "/1.0/instances/o2/state", {"action": "restart"}, "The instance is already stopped"),
    ("duplicate snapshot", "POST", "/1.0/instances/o1/snapshots", {"name": "s0"},
     'Failed creating instance snapshot record "s0": Add snapshot info to the database: '
     'This "instances_snapshots" entry already exists'),
    ("stateful snapshot of stopped", "POST", "/1.0/instances/o2/snapshots", {"name": "x", "stateful": True},
     "Unable to create a stateful snapshot. The instance isn't running"),
    ("restore missing snapshot", "PUT", "/1.0/instances/o1", {"restore": "o1/nope"},
     "Snapshot o1/nope does not exist"),
    ("duplicate instance", "POST", "/1.0/instances", {"name": "o1", "source": {"type": "image", "alias": "busybox"}},
     'Failed creating instance record: Add instance info to the database: This "instances" entry already exists'),
    ("rename running", "POST", "/1.0/instances/o1", {"name": "o9"}, "Renaming of running container not allowed"),
]


@pytest.mark.parametrize("what,method,path,body,err", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_action_is_a_failed_operation(pair, what, method, path, body, err):
    daemon = pair
    env, final = refused(daemon, method, path, body, err)
    # The 202 names the operation like any other.
    assert env["operation"] == f"/1.0/operations/{env['metadata']['id']}"
    assert final["resources"]["instances"], final
    # Nothing changed.
    assert power(daemon, "o1") == "Running" and power(daemon, "o2") == "Stopped"
    assert snapshot_names(daemon, "o1") == ["s0"] and snapshot_names(daemon, "o2") == []
    assert sorted(n for n in daemon.instance_names() if n.startswith("o")) == ["o1", "o2"]


def test_refused_operation_events_pending_running_failure(pair, events):
    ws = events("?type=operation")
    status, env = pair.api("PUT", "/1.0/instances/o1/state", {"action": "start"})
    op_id = env["metadata"]["id"]
    _, seen = ws.wait_for(lambda e: e["metadata"]["id"] == op_id and e["metadata"]["status_code"] == 400,
                          "failure event")
    codes = [e["metadata"]["status_code"] for e in seen if e["metadata"]["id"] == op_id]
    assert codes == [105, 103, 400], codes
    assert seen[-1]["metadata"]["err"] == "The instance is already running"


LXC_REFUSALS = [
    (("start", "o1"), "Error: The instance is already running"),
    (("stop", "o2"), "Error: The instance is already stopped"),
    (("pause", "o2"), "Error: The container isn't running"),
    (("snapshot", "o1", "s0"), 'Error: Failed creating instance snapshot record "s0"'),
    (("snapshot", "o2", "x", "--stateful"), "Error: Unable to create a stateful snapshot. The instance isn't running"),
    (("restore", "o1", "nope"), "Error: Snapshot o1/nope does not exist"),
    (("init", "busybox", "o1"), 'Error: Failed creating instance record: Add instance info to the database'),
    (("move", "o1", "o9"), "Error: Renaming of running container not allowed"),
]


@pytest.mark.parametrize("args,message", LXC_REFUSALS, ids=[" ".join(a[0]) for a in LXC_REFUSALS])
def test_lxc_prints_the_operation_error(pair, args, message):
    cp = pair.lxc(*args, check=False)
    assert cp.returncode != 0, cp
    assert message in cp.stderr, cp.stderr
    assert power(pair, "o1") == "Running" and power(pair, "o2") == "Stopped"
    assert snapshot_names(pair, "o1") == ["s0"]


FERRY_REFUSALS = [
    (("start", "o1"), "The instance is already running"),
    (("stop", "o2"), "The instance is already stopped"),
    (("pause", "o2"), "The container isn't running"),
    (("snapshot", "o1", "s0"), 'Failed creating instance snapshot record "s0"'),
    (("restore", "o1", "nope"), "Snapshot o1/nope does not exist"),
    (("init", "busybox", "o1"), "Failed creating instance record"),
    (("move", "o1", "o9"), "Renaming of running container not allowed"),
]


@pytest.mark.parametrize("args,message", FERRY_REFUSALS, ids=[" ".join(a[0]) for a in FERRY_REFUSALS])
def test_ferry_prints_the_operation_error(pair, args, message):
    cp = pair.ferry(*args, check=False)
    assert cp.returncode != 0, cp
    assert message in cp.stderr, cp.stderr
    assert power(pair, "o1") == "Running" and power(pair, "o2") == "Stopped"
    assert snapshot_names(pair, "o1") == ["s0"]


@pytest.mark.parametrize("method,path,body", [
    ("PUT", "/1.0/instances/o1/state", b"{not json"),
    ("PUT", "/1.0/instances/o1/state", {"action": "jump"}),
    ("POST", "/1.0/instances/o1/snapshots", b"[1"),
    ("POST", "/1.0/instances/o1/snapshots", {"name": "bad/name"}),
    ("POST", "/1.0/instances", {"name": "o3", "source": {"type": "image", "alias": "busybox"},
                                "config": {"limits.memory": "lots"}}),
])
def test_bad_requests_stay_sync_errors(pair, method, path, body):
    status, env = pair.api(method, path, body)
    assert status == 400 and env["type"] == "error", env
    assert "o3" not in pair.instance_names()


# --- envelopes and operation objects ----------------------------------------------------

def test_error_envelope_has_lxd_keys(daemon):
    status, env = daemon.api("GET", "/1.0/instances/nothere")
    assert status == 404
    assert env == {"type": "error", "status": "", "status_code": 0, "operation": "", "error_code": 404,
                   "error": env["error"], "metadata": None}, env
    assert env["error"]
    path = os.path.join(GOLDEN, "errors")
    if os.path.isdir(path):  # the golden fixtures, once recorded
        for name in os.listdir(path):
            with open(os.path.join(path, name)) as f:
                golden = json.load(f)
            body = golden.get("body", golden)
            if isinstance(body, dict) and body.get("type") == "error":
                assert set(body) == set(env), (name, body, env)


def test_empty_operation_metadata_is_null(pair, events):
    # Not a first start: LXD's first start has container_progress (test_api_restore).
    pair.api_ok("PUT", "/1.0/instances/o2/state", {"action": "start"})
    pair.api_ok("PUT", "/1.0/instances/o2/state", {"action": "stop", "force": True})
    ws = events("?type=operation")
    status, env = pair.api("PUT", "/1.0/instances/o2/state", {"action": "start"})
    assert status == 202 and env["metadata"]["metadata"] is None, env
    op_id = env["metadata"]["id"]
    assert pair.api_ok("GET", f"/1.0/operations/{op_id}")["metadata"] is None
    final = pair.wait_op(env)
    assert final["status_code"] == 200 and final["metadata"] is None, final
    _, seen = ws.wait_for(lambda e: e["metadata"]["id"] == op_id and e["metadata"]["status_code"] == 200, "success")
    mine = [e["metadata"] for e in seen if e["metadata"]["id"] == op_id]
    assert [m["status"] for m in mine] == ["Pending", "Running", "Success"], mine
    assert all(m["metadata"] is None for m in mine), mine
    pair.api_ok("PUT", "/1.0/instances/o2/state", {"action": "stop", "force": True})


def test_operation_resources_as_lxd_lists_them(pair):
    d = pair
    # A state change names the instance under "instances" only (LXD's instanceStatePut).
    op = d.api_ok("PUT", "/1.0/instances/o2/state", {"action": "start"})
    assert op["resources"] == {"instances": ["/1.0/instances/o2"]}, op
    d.api_ok("PUT", "/1.0/instances/o2/state", {"action": "stop", "force": True})
    # Snapshot create, rename, update: the instance, under both keys.
    both = {"instances": ["/1.0/instances/o2"], "containers": ["/1.0/containers/o2"]}
    op = d.api_ok("POST", "/1.0/instances/o2/snapshots", {"name": "r0"})
    assert op["resources"] == both, op
    op = d.api_ok("POST", "/1.0/instances/o2/snapshots/r0", {"name": "r1"})
    assert op["resources"] == both, op
    # Snapshot delete: the snapshot, as "instance/snapshot".
    op = d.api_ok("DELETE", "/1.0/instances/o2/snapshots/r1")
    assert op["resources"] == {"instances": ["/1.0/instances/o2/r1"], "containers": ["/1.0/containers/o2/r1"]}, op
    # Create, rename, delete: both keys.
    op = d.api_ok("POST", "/1.0/instances", {"name": "o4", "source": {"type": "image", "alias": "busybox"}})
    assert op["resources"] == {"instances": ["/1.0/instances/o4"], "containers": ["/1.0/containers/o4"]}, op
    op = d.api_ok("POST", "/1.0/instances/o4", {"name": "o5"})
    assert op["resources"]["containers"] == ["/1.0/containers/o4"], op
    op = d.api_ok("DELETE", "/1.0/instances/o5")
    assert op["resources"] == {"instances": ["/1.0/instances/o5"], "containers": ["/1.0/containers/o5"]}, op


def test_exec_operation_metadata(pair, events):
    ws = events("?type=operation")
    pair.lxc("exec", "o1", "--env", "FOO=bar", "--", "true")
    _, seen = ws.wait_for(lambda e: e["metadata"]["description"] == "Executing command"
                          and e["metadata"]["status_code"] == 200, "exec done")
    mine = [e["metadata"] for e in seen if e["metadata"]["id"] == seen[-1]["metadata"]["id"]]
    first, last = mine[0], mine[-1]
    assert first["status"] == "Pending"
    meta = first["metadata"]
    assert set(meta) == {"command", "environment", "interactive", "fds"}, meta
    assert meta["command"] == ["true"] and meta["interactive"] is False
    assert meta["environment"]["FOO"] == "bar" and meta["environment"]["HOME"] == "/root"
    assert meta["environment"]["USER"] == "root" and meta["environment"]["LANG"] == "C.UTF-8"
    assert "PATH" in meta["environment"]
    assert set(meta["fds"]) == {"0", "1", "2", "control"}, meta
    assert last["metadata"]["return"] == 0 and last["metadata"]["command"] == ["true"], last
    assert last["resources"]["containers"] == ["/1.0/containers/o1"]


# --- events ---------------------------------------------------------------------------

def test_graceful_stop_is_shutdown_and_kill_is_stopped(daemon, events):
    daemon.launch("o6")
    ws = events("?type=lifecycle")
    daemon.api_ok("PUT", "/1.0/instances/o6/state", {"action": "stop", "timeout": 30})
    ev, seen = ws.wait_for(lambda e: e["metadata"]["action"] in ("instance-shutdown", "instance-stopped"),
                           "stop event")
    assert ev["metadata"]["action"] == "instance-shutdown", ev
    daemon.api_ok("PUT", "/1.0/instances/o6/state", {"action": "start"})
    daemon.api_ok("PUT", "/1.0/instances/o6/state", {"action": "stop", "force": True})
    ev, _ = ws.wait_for(lambda e: e["metadata"]["action"] in ("instance-shutdown", "instance-stopped"),
                        "kill event")
    assert ev["metadata"]["action"] == "instance-stopped", ev
    daemon.api_ok("DELETE", "/1.0/instances/o6")


def test_logging_events_by_default(pair, events):
    everything = events("")
    only_logging = events("?type=logging")
    only_ops = events("?type=operation")
    status, env = pair.api("PUT", "/1.0/instances/o1/state", {"action": "start"})
    op_id = env["metadata"]["id"]
    pair.wait_op(env)
    for ws in (everything, only_logging):
        ev, _ = ws.wait_for(lambda e: e["type"] == "logging" and op_id in e["metadata"]["message"],
                            "logging event of the failed operation")
        assert set(ev["metadata"]) == {"message", "level", "context"}, ev
        assert ev["metadata"]["level"] == "info" and isinstance(ev["metadata"]["context"], dict), ev
        assert set(ev) == {"type", "timestamp", "metadata", "location"}, ev
    _, seen = only_ops.wait_for(lambda e: e["metadata"]["id"] == op_id and e["metadata"]["status_code"] == 400,
                                "failure")
    assert all(e["type"] == "operation" for e in seen)


def test_unknown_event_type_refused(daemon):
    status, env = daemon.api("GET", "/1.0/events?type=nope")
    assert status == 400 and env["error"] == '"nope" isn\'t a supported event type', env


def test_lifecycle_requestor_unix(pair, events):
    ws = events("?type=lifecycle")
    pair.api_ok("PUT", "/1.0/instances/o2/state", {"action": "start"})
    ev, _ = ws.wait_for(lambda e: e["metadata"]["action"] == "instance-started", "started")
    assert ev["metadata"]["requestor"] == UNIX_REQUESTOR, ev
    assert set(ev["metadata"]) == {"action", "source", "requestor"}, ev  # no empty context, as LXD
    pair.api_ok("PUT", "/1.0/instances/o2/state", {"action": "stop", "force": True})
    ev, _ = ws.wait_for(lambda e: e["metadata"]["action"] == "instance-stopped", "stopped")
    assert ev["metadata"]["requestor"] == UNIX_REQUESTOR, ev
    # LXD names no requestor for what is not a state change of the instance.
    pair.api_ok("POST", "/1.0/instances/o2/snapshots", {"name": "q0"})
    ev, _ = ws.wait_for(lambda e: e["metadata"]["action"] == "instance-snapshot-created", "snapshot created")
    assert set(ev["metadata"]) == {"action", "source"}, ev
    pair.api_ok("DELETE", "/1.0/instances/o2/snapshots/q0")


def test_lifecycle_requestor_tls(own_daemon, tmp_path):
    d = own_daemon
    crt, key = str(tmp_path / "client.crt"), str(tmp_path / "client.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=test@host",
                    "-addext", "extendedKeyUsage=clientAuth"], check=True, capture_output=True)
    with open(crt) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    d.api_ok("POST", "/1.0/certificates", {"type": "client", "name": "ops-test",
                                           "certificate": base64.b64encode(der).decode()})
    port = free_port()
    d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})
    wait_until(lambda: https(port, "GET", "/1.0")[0] == 200, "the HTTPS listener")
    d.launch("t1", start=False)
    ws = EventSocket(d.socket, "?type=lifecycle")
    try:
        status, env = https(port, "PUT", "/1.0/instances/t1/state", {"action": "start"}, cert=(crt, key))
        assert status == 202, env
        ev, _ = ws.wait_for(lambda e: e["metadata"]["action"] == "instance-started", "started")
    finally:
        ws.close()
    req = ev["metadata"]["requestor"]
    assert req["protocol"] == "tls" and req["username"] == hashlib.sha256(der).hexdigest(), req
    assert req["address"].startswith("127.0.0.1:"), req
    # An untrusted client gets no event stream at all.
    status, env = https(port, "GET", "/1.0/events")
    assert status == 403 and env["type"] == "error" and env["status_code"] == 0, env
    d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": ""}})
    d.api_ok("PUT", "/1.0/instances/t1/state", {"action": "stop", "force": True})
    d.api_ok("DELETE", "/1.0/instances/t1")


# --- against LXD's recorded answers -----------------------------------------------------

GOLDEN_REFUSALS = ["start-running-c1", "stop-stopped-c2", "freeze-stopped-c2", "snapshot-duplicate",
                   "snapshot-stateful-stopped-c2", "restore-missing-snapshot", "create-duplicate-c2",
                   "rename-running-c1", "bad-action", "delete-running-c1", "exec-stopped-c2"]


def golden_step(step):
    """The recorded answer of STEP (files are NNN-STEP.json)."""
    for name in sorted(os.listdir(GOLDEN)):
        if name.endswith(".json") and name.split("-", 1)[-1] == step + ".json":
            with open(os.path.join(GOLDEN, name)) as f:
                return json.load(f)
    pytest.skip(f"no golden answer for {step}")


@pytest.fixture(scope="module")
def golden_pair(daemon):
    """c1 running with snapshot snap0, c2 stopped: the golden scenario's state at these steps."""
    if not os.path.isdir(GOLDEN):
        pytest.skip("golden fixtures not recorded")
    daemon.launch("c1")
    daemon.api_ok("POST", "/1.0/instances/c1/snapshots", {"name": "snap0"})
    daemon.launch("c2", start=False)
    yield daemon
    daemon.api_ok("PUT", "/1.0/instances/c1/state", {"action": "stop", "force": True})
    daemon.api_ok("DELETE", "/1.0/instances/c1")
    daemon.api_ok("DELETE", "/1.0/instances/c2")


def shape(value):
    """Keys and types, not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


@pytest.mark.parametrize("step", GOLDEN_REFUSALS)
def test_refusals_match_golden(golden_pair, step):
    golden = golden_step(step)
    req = golden["request"]
    status, env = golden_pair.api(req["method"], req["path"], req.get("body"))
    assert status == golden["status"], (step, status, env)
    assert shape(env) == shape(golden["body"]), (step, env, golden["body"])
    if golden.get("operation") is None:
        assert env["error"] == golden["body"]["error"], (step, env)
        return
    want = golden["operation"]["metadata"]
    got = golden_pair.wait_op(env)
    assert shape(got) == shape(want), (step, got, want)
    for key in ("status", "status_code", "err", "resources", "description", "class", "metadata"):
        assert got[key] == want[key], (step, key, got[key], want[key])


def test_exec_websocket_operation_matches_golden(golden_pair):
    golden = golden_step("exec-websocket")
    req = golden["request"]
    status, env = golden_pair.api(req["method"], req["path"], req["body"])
    assert status == golden["status"] == 202, env
    assert shape(env) == shape(golden["body"]), (env, golden["body"])
    got, want = env["metadata"], golden["body"]["metadata"]
    assert got["metadata"]["environment"] == want["metadata"]["environment"]
    assert set(got["metadata"]["fds"]) == set(want["metadata"]["fds"]) == {"0", "control"}
    assert got["resources"] == want["resources"] and got["class"] == "websocket"
    # Nobody connects: the operation fails as LXD's does (Ferry waits longer).
    final = golden_pair.wait_op(env, timeout=60)
    assert final["status_code"] == 400 and final["err"] == "Timed out waiting for websockets to connect", final


def test_lifecycle_events_match_golden(daemon, events):
    """Each lifecycle action LXD sent in the golden scenario has the same keys here:
    requestor only for state changes, context only where LXD fills one."""
    if not GOLDEN:
        pytest.skip("golden fixtures not recorded")
    golden = {}
    for name in sorted(os.listdir(GOLDEN)):
        with open(os.path.join(GOLDEN, name)) as f:
            rec = json.load(f)
        for e in (rec.get("events") or []) if isinstance(rec, dict) else []:
            if e.get("type") == "lifecycle":
                golden.setdefault(e["metadata"]["action"], e["metadata"])
    ws = events("?type=lifecycle")
    d = daemon
    d.api_ok("POST", "/1.0/instances", {"name": "g1", "source": {"type": "image", "alias": "busybox"}})
    d.api_ok("PUT", "/1.0/instances/g1/state", {"action": "start"})
    d.lxc("exec", "g1", "--", "true")
    d.api_ok("PUT", "/1.0/instances/g1/state", {"action": "freeze"})
    d.api_ok("PUT", "/1.0/instances/g1/state", {"action": "unfreeze"})
    d.api_ok("PUT", "/1.0/instances/g1/state", {"action": "stop", "timeout": 30})
    d.api_ok("POST", "/1.0/instances/g1/snapshots", {"name": "s0"})
    d.api_ok("POST", "/1.0/instances/g1/snapshots/s0", {"name": "s1"})
    d.api_ok("PUT", "/1.0/instances/g1", {"restore": "g1/s1"})
    d.api_ok("PUT", "/1.0/instances/g1/state", {"action": "start"})
    d.api_ok("PUT", "/1.0/instances/g1/state", {"action": "stop", "force": True})
    d.api_ok("DELETE", "/1.0/instances/g1/snapshots/s1")
    d.api_ok("POST", "/1.0/instances/g1", {"name": "g2"})
    d.api_ok("DELETE", "/1.0/instances/g2")
    seen = {}

    def record(e):
        seen.setdefault(e["metadata"]["action"], e["metadata"])
        return e["metadata"]["action"] == "instance-deleted"
    ws.wait_for(record, "deleted")
    assert seen["instance-renamed"]["context"] == {"old_name": "g1"}, seen
    assert seen["instance-exec"]["context"] == {"command": ["true"]}, seen
    assert seen["instance-restored"]["context"] == {"snapshot": "g1/s1"}, seen
    assert seen["instance-snapshot-renamed"]["context"] == {"old_name": "g1/s0"}, seen
    assert seen["instance-created"]["context"] == {"storage-pool": "default", "type": "container"}, seen
    checked = 0
    for action, want in golden.items():
        got = seen.get(action)
        if got is None:
            continue
        checked += 1
        assert set(got) == set(want), (action, got, want)
        if "context" in want:
            assert set(got["context"]) == set(want["context"]), (action, got, want)
    assert checked >= 5, (sorted(seen), sorted(golden))
