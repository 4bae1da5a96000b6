"""`lxc publish` / `ferry publish` (issue 14): an LXD unified image from a stopped instance or
a snapshot, fingerprinted as an import (sha256 of the tarball), with aliases, properties and
--public; a running instance refused unless --force (stopped, published, started again, as
lxc does). `lxc image export` gives the tarball back; its layout is checked here (metadata.yaml
with architecture, creation_date and properties; rootfs/ with owners as seen inside the
container), so that real LXD can import it (checked by hand against LXD 5.0.2, see the
report of issue 14)."""

import hashlib
import os
import re
import tarfile

import pytest
import yaml

from checkpoint_helpers import CR_TIMEOUT, launch, status_of
from conftest import free_port, https, wait_until
from test_crash import crash_during


def published_fingerprint(cp):
    m = re.search(r"Instance published with fingerprint: ([0-9a-f]{64})", cp.stdout)
    assert m, cp.stdout + cp.stderr
    return m.group(1)


def image_of(d, fingerprint):
    return d.api_ok("GET", f"/1.0/images/{fingerprint}")


def alias_target(d, alias):
    status, env = d.api("GET", f"/1.0/images/aliases/{alias}")
    return env["metadata"]["target"] if status == 200 else None


def export(d, ref, tmp_path, client="lxc"):
    """`lxc image export` (or ferry's): the file it wrote, checked against the fingerprint."""
    getattr(d, client)("image", "export", ref, str(tmp_path / "out"), timeout=CR_TIMEOUT)
    files = [f for f in os.listdir(tmp_path) if f.startswith("out")]
    assert len(files) == 1, files
    path = tmp_path / files[0]
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def layout(path):
    """(metadata.yaml parsed, {name: TarInfo})."""
    with tarfile.open(path) as t:
        members = {m.name: m for m in t.getmembers()}
        meta = yaml.safe_load(t.extractfile("metadata.yaml").read())
    return meta, members


@pytest.fixture
def clean(daemon):
    daemon.remove_all_instances()
    yield daemon
    daemon.remove_all_instances()
    for img in daemon.api_ok("GET", "/1.0/images?recursion=1"):
        if not any(a["name"] == "busybox" for a in img.get("aliases") or []):
            daemon.api_ok("DELETE", f"/1.0/images/{img['fingerprint']}")


def test_publish_stopped_instance_and_export(clean, tmp_path):
    d = clean
    launch(d, "c1")
    d.lxc("exec", "c1", "--", "sh", "-c", "echo hi > /root/pub && chown 1000:1001 /root/pub")
    d.lxc("stop", "c1", "--force", timeout=CR_TIMEOUT)
    fp = published_fingerprint(d.lxc("publish", "c1", "--alias", "myimg", "description=foo", "os=ferrytest",
                                     timeout=CR_TIMEOUT))
    assert alias_target(d, "myimg") == fp
    img = image_of(d, fp)
    assert img["properties"] == {"description": "foo", "os": "ferrytest"}
    assert img["public"] is False and img["architecture"] == os.uname().machine
    path, digest = export(d, "myimg", tmp_path)
    assert digest == fp, "the fingerprint is the sha256 of the tarball"
    assert path.name.endswith(".tar.gz")
    meta, members = layout(path)
    assert meta["architecture"] == os.uname().machine
    assert isinstance(meta["creation_date"], int) and meta["creation_date"] > 0
    assert meta["properties"] == {"description": "foo", "os": "ferrytest"}
    assert members["rootfs"].isdir()
    pub = members["rootfs/root/pub"]
    assert (pub.uid, pub.gid) == (1000, 1001), "owners as seen inside the container"
    assert (members["rootfs/bin/busybox"].uid, members["rootfs/bin/busybox"].gid) == (0, 0)
    assert any(m.issym() for m in members.values()), "symlinks kept"
    assert not any(n.startswith("/") or ".." in n.split("/") for n in members)
    # The image launches, with the file.
    d.lxc("launch", "myimg", "c2", timeout=CR_TIMEOUT)
    assert d.lxc("exec", "c2", "--", "cat", "/root/pub").stdout == "hi\n"
    assert d.lxc("exec", "c2", "--", "stat", "-c", "%u:%g", "/root/pub").stdout.strip() == "1000:1001"


def test_publish_without_properties_keeps_the_image_ones(clean):
    d = clean
    launch(d, "c1")
    d.ferry("stop", "c1", "--force", timeout=CR_TIMEOUT)
    fp = published_fingerprint(d.ferry("publish", "c1", timeout=CR_TIMEOUT))
    base = image_of(d, d.instance("c1")["config"]["volatile.base_image"])
    assert image_of(d, fp)["properties"] == base["properties"]
    assert image_of(d, fp)["aliases"] == []


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_publish_running_needs_force(clean, client):
    d = clean
    run = getattr(d, client)
    launch(d, "c1")
    cp = run("publish", "c1", "--alias", "r", check=False)
    assert cp.returncode != 0
    assert "The instance is currently running. Use --force to have it stopped and restarted" in cp.stderr
    assert alias_target(d, "r") is None
    fp = published_fingerprint(run("publish", "c1", "--alias", "r", "--force", timeout=CR_TIMEOUT))
    assert alias_target(d, "r") == fp
    wait_until(lambda: status_of(d, "c1")[0] == "Running", "c1 started again")
    # Over the raw API, as LXD: the daemon refuses a running instance.
    status, env = d.api("POST", "/1.0/images", {"source": {"type": "instance", "name": "c1"}})
    assert status == 400 and "Cannot export a running instance as an image" in env["error"], env


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_publish_snapshot_public(clean, client, tmp_path):
    d = clean
    run = getattr(d, client)
    launch(d, "c1")
    d.lxc("exec", "c1", "--", "sh", "-c", "echo snap > /root/which")
    d.lxc("snapshot", "c1", "s0")
    d.lxc("exec", "c1", "--", "sh", "-c", "echo live > /root/which")
    fp = published_fingerprint(run("publish", "c1/s0", "--alias", "x", "--public", "description=from-snap",
                                   timeout=CR_TIMEOUT))
    assert status_of(d, "c1")[0] == "Running", "publishing a snapshot leaves the instance running"
    img = image_of(d, fp)
    assert img["public"] is True and img["properties"]["description"] == "from-snap"
    path, digest = export(d, "x", tmp_path, client)
    assert digest == fp and path.name == "out.tar.gz"
    with tarfile.open(path) as t:
        assert t.extractfile("rootfs/root/which").read() == b"snap\n"


def test_publish_isolated_owners_are_the_container_ids(clean, tmp_path):
    d = clean
    launch(d, "i1", config={"security.idmap.isolated": "true"})
    d.lxc("exec", "i1", "--", "sh", "-c", "echo x > /root/f && chown 5:6 /root/g 2>/dev/null; touch /root/g && chown 5:6 /root/g")
    d.lxc("stop", "i1", "--force", timeout=CR_TIMEOUT)
    fp = published_fingerprint(d.lxc("publish", "i1", "--alias", "iso", timeout=CR_TIMEOUT))
    path, digest = export(d, "iso", tmp_path)
    assert digest == fp
    _, members = layout(path)
    assert (members["rootfs/root/f"].uid, members["rootfs/root/f"].gid) == (0, 0)
    assert (members["rootfs/root/g"].uid, members["rootfs/root/g"].gid) == (5, 6)


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_publish_bad_input(clean, client):
    d = clean
    run = getattr(d, client)
    launch(d, "c1")
    d.lxc("snapshot", "c1", "s0")
    d.lxc("stop", "c1", "--force", timeout=CR_TIMEOUT)
    images_before = len(d.api_ok("GET", "/1.0/images"))
    cp = run("publish", "nothere", "--alias", "z", check=False)
    assert cp.returncode != 0 and "Instance not found" in cp.stderr, cp.stderr
    cp = run("publish", "c1/nosnap", "--alias", "z", check=False)
    assert cp.returncode != 0 and "not found" in cp.stderr.lower(), cp.stderr
    assert len(d.api_ok("GET", "/1.0/images")) == images_before
    cp = run("image", "export", "nothere", check=False)
    assert cp.returncode != 0 and "not found" in cp.stderr.lower(), cp.stderr
    # An alias that exists moves to the new image, as lxc's ensureImageAliases does.
    first = published_fingerprint(run("publish", "c1", "--alias", "taken", timeout=CR_TIMEOUT))
    # (The same tree published twice within a second is the same image, refused as
    # existing, as by LXD: the snapshot is made to differ.)
    with open(os.path.join(d.root, "snapshots", "c1", "s0", "rootfs", "root", "d"), "w") as f:
        f.write("differs")
    second = published_fingerprint(run("publish", "c1/s0", "--alias", "taken", timeout=CR_TIMEOUT))
    assert first != second and alias_target(d, "taken") == second


def test_publish_raw_api_refusals(clean):
    d = clean
    launch(d, "c1")
    d.lxc("stop", "c1", "--force", timeout=CR_TIMEOUT)
    d.lxc("snapshot", "c1", "s0")
    fp = published_fingerprint(d.lxc("publish", "c1", "--alias", "taken", timeout=CR_TIMEOUT))
    with open(os.path.join(d.root, "snapshots", "c1", "s0", "rootfs", "root", "d"), "w") as f:
        f.write("differs")
    images_before = len(d.api_ok("GET", "/1.0/images"))
    for body, code in [
        ({"source": {"type": "instance", "name": "nothere"}}, 404),
        ({"source": {"type": "snapshot", "name": "c1/nosnap"}}, 404),
        ({"source": {"type": "snapshot", "name": "c1"}}, 400),
        ({"source": {"type": "instance", "name": "c1/s0"}}, 400),
        ({"source": {"type": "url", "url": "https://example.com/x"}}, 400),
        ({"source": {"type": "instance", "name": "c1"}, "aliases": [{"name": "taken"}]}, 409),
        ({"source": {"type": "instance", "name": "c1"}, "aliases": [{"name": "a/b"}]}, 400),
        ({"source": {"type": "instance", "name": "c1"}, "properties": {"k": 1}}, 400),
        ({"source": {"type": "instance", "name": "c1"}, "public": "yes"}, 400),
        ({}, 400),
    ]:
        status, env = d.api("POST", "/1.0/images", body)
        assert status == code, (body, status, env)
    assert len(d.api_ok("GET", "/1.0/images")) == images_before
    assert alias_target(d, "taken") == fp
    # The operation as LXD's: its metadata carries the fingerprint and size.
    op = d.api_ok("POST", "/1.0/images", {"source": {"type": "snapshot", "name": "c1/s0"},
                                          "aliases": [{"name": "fresh"}]})
    fp2 = op["metadata"]["fingerprint"]
    assert alias_target(d, "fresh") == fp2 and int(op["metadata"]["size"]) > 0


def test_publish_killed_before_recording(own_daemon):
    """The image file was stored, the database never recorded it: it goes, and the retry
    works."""
    d = own_daemon
    launch(d, "c1", client="ferry")
    d.ferry("stop", "c1", "--force", timeout=CR_TIMEOUT)
    images = os.path.join(d.root, "images")
    before = set(os.listdir(images))
    crash_during(d, "publish-after-store", "publish", "c1", "--alias", "p")
    assert set(os.listdir(images)) == before, set(os.listdir(images)) ^ before
    assert alias_target(d, "p") is None
    d.ferry("publish", "c1", "--alias", "p", timeout=CR_TIMEOUT)
    d.ferry("launch", "p", "c2", timeout=CR_TIMEOUT)
    assert status_of(d, "c2")[0] == "Running"


def test_untrusted_https_client_can_neither_publish_nor_copy_nor_export(own_daemon):
    """Over HTTPS without a trusted certificate: 403 for a publish, a copy and an export,
    and nothing made."""
    d = own_daemon
    launch(d, "c1", client="ferry")
    d.ferry("stop", "c1", "--force", timeout=CR_TIMEOUT)
    fp = published_fingerprint(d.ferry("publish", "c1", "--alias", "mine", "--public", timeout=CR_TIMEOUT))
    port = free_port()
    d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})
    images = len(d.api_ok("GET", "/1.0/images"))
    for method, path, body in [
        ("POST", "/1.0/images", {"source": {"type": "instance", "name": "c1"}}),
        ("POST", "/1.0/instances", {"name": "c2", "source": {"type": "copy", "source": "c1"}}),
        ("GET", f"/1.0/images/{fp}/export", None),
    ]:
        status, env = https(port, method, path, body)
        assert status == 403, (method, path, status, env)
    assert d.instance_names() == ["c1"] and len(d.api_ok("GET", "/1.0/images")) == images
    d.api_ok("PATCH", "/1.0", {"config": {"core.https_address": ""}})
