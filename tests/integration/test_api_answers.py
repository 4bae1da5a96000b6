"""Issue 16, second round: ferryd answers as LXD 5.0.2 does (tests/conformance/golden): an
empty sync answer carries metadata {}, a create or rename done at once is 201 with the
object's Location, empty used_by is null, LXD's error texts and statuses, X-LXD-modified,
backup operations' descriptions and resources. Each one also through the stock `lxc` and
`ferry`, which must keep working with these answers."""

import json
import re
import urllib.parse

import pytest

from conftest import UnixHTTPConnection


@pytest.fixture(scope="module")
def c1(daemon):
    daemon.lxc("launch", "busybox", "c1")
    return "c1"


def call(daemon, method, path, body=None):
    """(status, lowercased headers, parsed envelope)."""
    conn = UnixHTTPConnection(daemon.socket)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        raw = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        try:
            env = json.loads(raw) if raw else None
        except ValueError:
            env = raw
        return resp.status, headers, env
    finally:
        conn.close()


def created(daemon, method, path, body, location):
    status, headers, env = call(daemon, method, path, body)
    assert status == 201, (status, env)
    assert headers.get("location") == location, headers
    assert env["type"] == "sync" and env["metadata"] is None, env


def emptied(daemon, method, path, body=None):
    status, _, env = call(daemon, method, path, body)
    assert status == 200 and env["type"] == "sync" and env["metadata"] == {}, (status, env)


def error(daemon, method, path, body=None):
    status, _, env = call(daemon, method, path, body)
    assert env["type"] == "error" and env["error_code"] == status, env
    return status, env["error"]


def busybox_fp(daemon):
    return daemon.api_ok("GET", "/1.0/images/aliases/busybox")["target"]


# --- raw API -------------------------------------------------------------------------

def test_profile_create_rename_delete(daemon):
    created(daemon, "POST", "/1.0/profiles", {"name": "ap1"}, "/1.0/profiles/ap1")
    created(daemon, "POST", "/1.0/profiles/ap1", {"name": "ap2"}, "/1.0/profiles/ap2")
    assert error(daemon, "GET", "/1.0/profiles/ap1") == (404, "Fetch profile: Profile not found")
    assert daemon.api_ok("GET", "/1.0/profiles/ap2")["used_by"] == []
    emptied(daemon, "DELETE", "/1.0/profiles/ap2")


def test_image_alias_create_rename_delete(daemon):
    fp = busybox_fp(daemon)
    created(daemon, "POST", "/1.0/images/aliases", {"name": "aa1", "target": fp}, "/1.0/images/aliases/aa1")
    assert error(daemon, "POST", "/1.0/images/aliases", {"name": "aa1", "target": fp}) == \
        (409, 'Alias "aa1" already exists')
    created(daemon, "POST", "/1.0/images/aliases/aa1", {"name": "aa2"}, "/1.0/images/aliases/aa2")
    assert error(daemon, "GET", "/1.0/images/aliases/aa1") == (404, "Image alias not found")
    emptied(daemon, "DELETE", "/1.0/images/aliases/aa2")


def test_storage_pool_create_delete(daemon):
    created(daemon, "POST", "/1.0/storage-pools", {"name": "apool", "driver": "dir"}, "/1.0/storage-pools/apool")
    assert daemon.api_ok("GET", "/1.0/storage-pools/apool")["used_by"] is None
    assert error(daemon, "POST", "/1.0/storage-pools", {"name": "apool", "driver": "dir"}) == \
        (409, "The storage pool already exists: The record already exists")
    emptied(daemon, "DELETE", "/1.0/storage-pools/apool")


def test_network_create_rename_delete(daemon):
    body = {"name": "anet1", "type": "bridge", "config": {"ipv4.address": "none", "ipv6.address": "none"}}
    created(daemon, "POST", "/1.0/networks", body, "/1.0/networks/anet1")
    try:
        assert daemon.api_ok("GET", "/1.0/networks/anet1")["used_by"] is None
        assert error(daemon, "POST", "/1.0/networks", body) == (400, "The network already exists")
        created(daemon, "POST", "/1.0/networks/anet1", {"name": "anet2"}, "/1.0/networks/anet2")
        emptied(daemon, "DELETE", "/1.0/networks/anet2")
    finally:
        for name in ("anet1", "anet2"):
            call(daemon, "DELETE", f"/1.0/networks/{name}")


def test_unknown_method_is_not_implemented(daemon):
    assert error(daemon, "DELETE", "/1.0") == (501, "not implemented")
    assert error(daemon, "PUT", "/1.0/images/aliases") == (501, "not implemented")
    assert error(daemon, "DELETE", "/1.0/operations") == (501, "not implemented")


def test_error_texts(daemon, c1):
    assert error(daemon, "GET", f"/1.0/instances/{c1}/snapshots/nosuch") == \
        (404, f'Failed to fetch snapshot "nosuch" of instance "{c1}" in project "default": '
              "InstanceSnapshot not found")
    assert error(daemon, "GET", f"/1.0/instances/{c1}/backups/nosuch") == \
        (404, "Load backup from database: Instance backup not found")
    assert error(daemon, "POST", "/1.0/instances", {"name": "c3", "source": {"type": "image", "alias": "nosuch"}}) \
        == (404, "Image alias not found")
    # The log name is checked first, whatever it tries.
    for name in ("nosuch.log", "db", "lxc.conf.x"):
        status, text = error(daemon, "GET", f"/1.0/instances/{c1}/logs/{name}")
        assert status == 400 and text.startswith("log file name ") and text.endswith(" not valid"), text
    status, _, env = call(daemon, "GET", f"/1.0/instances/{c1}/logs/lxc.log")
    assert status == 200, env


def test_file_headers_and_empty_answers(daemon, c1):
    path = urllib.parse.quote("/root/af.txt")
    conn = UnixHTTPConnection(daemon.socket)
    conn.request("POST", f"/1.0/instances/{c1}/files?path={path}", body=b"hello\n",
                 headers={"Content-Type": "application/octet-stream", "X-LXD-type": "file"})
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["metadata"] == {}
    conn.close()
    daemon.lxc("exec", c1, "--", "ln", "-s", "af.txt", "/root/aflink")
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$")
    for p, disposition in (("/root/af.txt", "inline;filename=af.txt"), ("/root/aflink", "inline;filename=aflink"),
                           ("/root", None)):
        status, headers, _ = call(daemon, "GET", f"/1.0/instances/{c1}/files?path={urllib.parse.quote(p)}")
        assert status == 200, headers
        assert stamp.match(headers.get("x-lxd-modified", "")), headers
        assert headers.get("content-disposition") == disposition, headers
    emptied(daemon, "DELETE", f"/1.0/instances/{c1}/files?path=/root/aflink")
    emptied(daemon, "DELETE", f"/1.0/instances/{c1}/files?path=/root/af.txt")


def test_architectures_list_personalities(daemon):
    env = daemon.api_ok("GET", "/1.0")["environment"]
    if env["kernel_architecture"] == "x86_64":
        assert env["architectures"] == ["x86_64", "i686"], env["architectures"]
    else:
        assert env["architectures"][0] == env["kernel_architecture"]


def test_backup_operations_as_lxd(daemon, c1):
    daemon.api_ok("POST", f"/1.0/instances/{c1}/backups", {"name": "ab1"})
    status, _, env = call(daemon, "POST", f"/1.0/instances/{c1}/backups/ab1", {"name": "ab2"})
    assert status == 202, env
    op = daemon.wait_op(env)
    assert op["description"] == "Renaming instance backup", op
    assert op["resources"]["instances"] == [f"/1.0/instances/{c1}"], op
    status, headers, _ = call(daemon, "GET", f"/1.0/instances/{c1}/backups/ab2/export")
    assert status == 200 and headers.get("content-disposition") == "inline;filename=", headers
    status, _, env = call(daemon, "DELETE", f"/1.0/instances/{c1}/backups/ab2")
    op = daemon.wait_op(env)
    assert op["description"] == "Removing instance backup" and op["status_code"] == 200, op
    assert op["resources"]["container"] == [f"/1.0/container/{c1}"], op


# --- the stock lxc and ferry keep working with these answers -------------------------

@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_clients_create_rename_delete(daemon, client, tmp_path):
    run = getattr(daemon, client)
    fp = busybox_fp(daemon)
    if client == "lxc":  # ferry has no profile create/rename/delete
        run("profile", "create", f"{client}p1")
        run("profile", "rename", f"{client}p1", f"{client}p2")
        assert f"{client}p2" in run("profile", "list", "--format", "csv").stdout
        run("profile", "delete", f"{client}p2")
    run("image", "alias", "create", f"{client}a1", fp)
    run("image", "alias", "delete", f"{client}a1")
    run("storage", "create", f"{client}s1", "dir")
    run("storage", "delete", f"{client}s1")
    run("network", "create", f"{client}n1", "ipv4.address=none", "ipv6.address=none")
    try:
        assert f"{client}n1" in run("network", "list", "--format", "csv").stdout
        if client == "lxc":
            run("network", "rename", f"{client}n1", f"{client}n2")
            run("network", "delete", f"{client}n2")
        else:
            run("network", "delete", f"{client}n1")
    finally:
        for name in (f"{client}n1", f"{client}n2"):
            call(daemon, "DELETE", f"/1.0/networks/{name}")
    cp = run("profile", "show", "nosuchprofile", check=False)
    assert cp.returncode != 0 and "Profile not found" in cp.stderr, cp.stderr
    cp = run("query", "-X", "DELETE", "/1.0", check=False) if client == "lxc" else None
    if cp is not None:
        assert cp.returncode != 0 and "not implemented" in cp.stderr, cp.stderr


def test_clients_files_logs_info(daemon, c1, tmp_path):
    daemon.lxc("exec", c1, "--", "sh", "-c", "echo hi > /root/cf.txt; ln -sf cf.txt /root/cflink")
    daemon.lxc("file", "pull", f"{c1}/root/cf.txt", str(tmp_path / "a"))
    assert (tmp_path / "a").read_text() == "hi\n"
    daemon.ferry("file", "pull", f"{c1}/root/cf.txt", str(tmp_path / "b"))
    assert (tmp_path / "b").read_text() == "hi\n"
    daemon.lxc("file", "delete", f"{c1}/root/cflink")
    daemon.ferry("file", "delete", f"{c1}/root/cf.txt")
    daemon.lxc("info", "--show-log", c1)
    assert "i686" in daemon.lxc("info").stdout or "x86_64" not in daemon.lxc("info").stdout
