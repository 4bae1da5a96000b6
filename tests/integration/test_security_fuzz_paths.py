"""Names and paths a client controls reach ferryd's handlers decoded exactly once.

libsoup decodes a request path by itself unless its server has raw-paths set; ferryd
then decoded each segment a second time, so a snapshot named 'a%41b' was created but
could not be found by 'a%2541b' (issue 9, item 14). LXD 5.0 allows '%' in snapshot
names, so both clients must create, list, get, rename and delete such a snapshot."""

import json

import pytest

PERCENT_NAMES = ["a%41b", "100%", "%2F", "x%25y", "%%"]


@pytest.fixture(scope="module")
def c0(daemon):
    daemon.launch("c0", start=False)
    return "c0"


def snapshot_names(d, instance):
    meta = d.api_ok("GET", f"/1.0/instances/{instance}/snapshots?recursion=1")
    return sorted(s["name"] for s in meta)


def snapshot_urls(d, instance):
    return d.api_ok("GET", f"/1.0/instances/{instance}/snapshots")


@pytest.mark.parametrize("client", ["ferry", "lxc"])
@pytest.mark.parametrize("name", PERCENT_NAMES)
def test_percent_in_snapshot_name_round_trips(daemon, c0, client, name):
    run = getattr(daemon, client)
    run("snapshot", c0, name)
    assert snapshot_names(daemon, c0) == [name]
    # The server's own URL for it leads back to it.
    (url,) = snapshot_urls(daemon, c0)
    assert daemon.api_ok("GET", url)["name"] == name
    info = run("info", c0).stdout
    assert name in info, info
    renamed = name + "-r"
    run("rename", f"{c0}/{name}", f"{c0}/{renamed}")
    assert snapshot_names(daemon, c0) == [renamed]
    run("delete", f"{c0}/{renamed}")
    assert snapshot_names(daemon, c0) == []


def test_one_client_creates_the_other_deletes(daemon, c0):
    daemon.ferry("snapshot", c0, "a%41b")
    daemon.lxc("delete", f"{c0}/a%41b")
    daemon.lxc("snapshot", c0, "b%42c")
    daemon.ferry("delete", f"{c0}/b%42c")
    assert snapshot_names(daemon, c0) == []


def test_percent_name_is_not_its_decoding(daemon, c0):
    """'a%41b' and 'aAb' are two snapshots; neither path reaches the other."""
    daemon.ferry("snapshot", c0, "a%41b")
    daemon.ferry("snapshot", c0, "aAb")
    assert daemon.api_ok("GET", f"/1.0/instances/{c0}/snapshots/a%2541b")["name"] == "a%41b"
    assert daemon.api_ok("GET", f"/1.0/instances/{c0}/snapshots/aAb")["name"] == "aAb"
    assert daemon.api_ok("GET", f"/1.0/instances/{c0}/snapshots/a%41b")["name"] == "aAb"
    daemon.api_ok("DELETE", f"/1.0/instances/{c0}/snapshots/a%2541b")
    assert snapshot_names(daemon, c0) == ["aAb"]
    daemon.api_ok("DELETE", f"/1.0/instances/{c0}/snapshots/aAb")


@pytest.mark.parametrize("path", [
    "/1.0/instances/c0%2Fsnapshots", "/1.0/instances/c0/snapshots/a%2Fb",
    "/1.0/instances/c0/logs/..%2F..%2Fferry.db", "/1.0/instances/c0%00",
])
def test_encoded_separators_are_refused(daemon, c0, path):
    status, env = daemon.api("GET", path)
    assert status == 400 and env["type"] == "error", (status, env)


@pytest.mark.parametrize("path", ["/1.0/instances/%", "/1.0/instances/%G0", "/1.0/instances?recursion=%"])
def test_bad_percent_encoding_is_refused_by_libsoup(daemon, c0, path):
    """GLib cannot parse such a URL: libsoup answers 400 (without a body) itself."""
    status, _ = daemon.request("GET", path)
    assert status == 400


@pytest.mark.parametrize("encoded,resolved", [
    ("/1.0/instances/%2E%2E/snapshots", "/1.0/snapshots"),
    ("/1.0/instances/c0/snapshots/%2e%2e", "/1.0/instances/c0"),
    ("/1.0/instances/c0/snapshots/%2E", "/1.0/instances/c0/snapshots"),
    ("/1.0/instances/c0/%2E%2E/%2E%2E/%2E%2E/etc", "/etc"),
])
def test_encoded_dots_are_plain_dot_segments(daemon, c0, encoded, resolved):
    """GLib turns %2E into '.' and resolves dot segments before ferryd sees the path,
    exactly as for a literal '..': the request is the resolved path, nothing else."""
    assert daemon.api("GET", encoded) == daemon.api("GET", resolved)


@pytest.mark.parametrize("path", ["/1.0x", "/1.0x/instances", "/1.", "/2.0/instances", "/x%2F1.0"])
def test_paths_outside_the_api_are_not_found(daemon, c0, path):
    status, env = daemon.api("GET", path)
    assert status == 404 and env["type"] == "error", (status, env)


def test_snapshot_create_with_slash_is_refused(daemon, c0):
    status, env = daemon.api("POST", f"/1.0/instances/{c0}/snapshots", {"name": "a/b"})
    assert status == 400, (status, env)
    assert snapshot_names(daemon, c0) == []


@pytest.mark.parametrize("query", [
    "recursion=99999999999999999999", "recursion=-5", "filter=name",
    "filter=name%20eq", "filter=name+eq+c0+and", "filter=config+eq+x", "filter=+and+", "&&==&", "filter=name+eq+c0&filter=x",
])
def test_odd_queries_answer_without_5xx(daemon, c0, query):
    status, data = daemon.request("GET", f"/1.0/instances?{query}")
    assert status < 500, (query, status, data[:300])
    json.loads(data)
    assert daemon.api_ok("GET", "/1.0/instances") == ["/1.0/instances/c0"]
