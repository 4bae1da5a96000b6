"""An instance's image metadata and templates (/1.0/instances/NAME/metadata and
/metadata/templates) through the stock lxc client (`lxc config metadata`, `lxc config
template`) and the raw API, and image templates applied as LXD applies them: the built-in
image's /etc/hostname and /etc/hosts name the instance after a create and after a copy.
Template names and targets are attack surfaces: a name never reaches outside the
instance's templates/ directory, a target (../, absolute, a symlink planted by root
inside the container) never writes outside the container's rootfs."""

import hashlib
import json
import os
import urllib.parse
import uuid

import pytest


def sh(daemon, name, script, check=True):
    return daemon.lxc("exec", name, "--", "sh", "-c", script, check=check).stdout


def tpl_url(name, path=None):
    url = f"/1.0/instances/{name}/metadata/templates"
    return url if path is None else url + "?path=" + urllib.parse.quote(path, safe="")


def restart(daemon, name):
    daemon.lxc("restart", "--force", name)


def config(daemon, name):
    return daemon.api_ok("GET", f"/1.0/instances/{name}")["config"]


@pytest.fixture(scope="module")
def c1(daemon):
    daemon.lxc("launch", "busybox", "c1")
    return "c1"


# --- templates applied as LXD applies them ------------------------------------------

def test_hostname_and_hosts_name_the_instance(daemon, c1):
    assert sh(daemon, c1, "cat /etc/hostname") == "c1\n"
    assert "127.0.1.1\tc1\n" in sh(daemon, c1, "cat /etc/hosts")
    assert sh(daemon, c1, "hostname") == "c1\n"
    # applied at the first start, then the deferred trigger is gone, as in LXD
    assert "volatile.apply_template" not in config(daemon, c1)


def test_create_defers_to_first_start_and_copy_renames(daemon, c1):
    daemon.lxc("init", "busybox", "fresh")
    assert config(daemon, "fresh")["volatile.apply_template"] == "create"
    daemon.lxc("copy", c1, "c1copy")
    assert config(daemon, "c1copy")["volatile.apply_template"] == "copy"
    daemon.lxc("start", "c1copy")
    assert sh(daemon, "c1copy", "cat /etc/hostname") == "c1copy\n"
    assert "127.0.1.1\tc1copy\n" in sh(daemon, "c1copy", "cat /etc/hosts")
    assert "volatile.apply_template" not in config(daemon, "c1copy")
    # the copy carries the metadata and template files
    assert daemon.lxc("config", "template", "list", "c1copy", "--format", "csv").stdout.split() == \
        ["hostname.tpl", "hosts.tpl"]
    for name in ("fresh", "c1copy"):
        daemon.lxc("delete", "--force", name)


# --- metadata -------------------------------------------------------------------------

def test_metadata_show_and_api_shape(daemon, c1):
    shown = daemon.lxc("config", "metadata", "show", c1).stdout
    assert "/etc/hostname:" in shown and "template: hostname.tpl" in shown
    status, raw = daemon.request("GET", f"/1.0/instances/{c1}/metadata")
    assert status == 200
    env = json.loads(raw)
    md = env["metadata"]
    assert list(md) == ["architecture", "creation_date", "expiry_date", "properties", "templates"]
    assert isinstance(md["creation_date"], int) and md["properties"]["os"] == "busybox"
    assert md["templates"]["/etc/hostname"] == {
        "when": ["create", "copy"], "create_only": False, "template": "hostname.tpl", "properties": {}}


def etag_of(daemon, name):
    from conftest import UnixHTTPConnection
    conn = UnixHTTPConnection(daemon.socket)
    try:
        conn.request("GET", f"/1.0/instances/{name}/metadata")
        resp = conn.getresponse()
        resp.read()
        return resp.getheader("ETag")
    finally:
        conn.close()


def test_put_patch_and_if_match(daemon, c1):
    md = daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata")
    etag = etag_of(daemon, c1)
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 66
    md["properties"]["description"] = "first"
    status, env = daemon.api("PUT", f"/1.0/instances/{c1}/metadata", md, headers={"If-Match": etag})
    assert status == 200, env
    # a second edit from the same ETag is a lost update: refused
    md["properties"]["description"] = "second"
    status, env = daemon.api("PUT", f"/1.0/instances/{c1}/metadata", md, headers={"If-Match": etag})
    assert status == 412 and env["error_code"] == 412, env
    status, env = daemon.api("PATCH", f"/1.0/instances/{c1}/metadata", {"properties": {"extra": "x"}},
                             headers={"If-Match": etag})
    assert status == 412, env
    # PATCH merges properties and keeps the rest
    status, env = daemon.api("PATCH", f"/1.0/instances/{c1}/metadata", {"properties": {"extra": "x"}})
    assert status == 200, env
    now = daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata")
    assert now["properties"]["description"] == "first" and now["properties"]["extra"] == "x"
    assert "/etc/hostname" in now["templates"]


def test_lxc_metadata_edit_and_start_template(daemon, c1):
    """A template added with the stock client renders config_get, properties and the name
    at each start."""
    daemon.lxc("config", "set", c1, "user.greeting", "hello")
    daemon.lxc("config", "template", "create", c1, "motd.tpl")
    daemon.lxc("config", "template", "edit", c1, "motd.tpl", input=(
        "{# a comment #}name={{ instance.name }} greet={{ config_get(\"user.greeting\", \"none\") }}"
        " missing={{ config_get(\"user.nope\", \"dflt\") }} prop={{ properties.colour }} trig={{ trigger }}\n"
        "{% if config_get(\"user.greeting\", \"\") == \"hello\" %}yes{% else %}no{% endif %}\n"))
    assert daemon.lxc("config", "template", "show", c1, "motd.tpl").stdout.startswith("{# a comment #}name=")
    md = daemon.lxc("config", "metadata", "show", c1).stdout
    md = md.replace("templates:\n", "templates:\n  /etc/motd:\n    when:\n    - start\n"
                    "    template: motd.tpl\n    properties:\n      colour: blue\n", 1)
    daemon.lxc("config", "metadata", "edit", c1, input=md)
    restart(daemon, c1)
    assert sh(daemon, c1, "cat /etc/motd") == \
        "name=c1 greet=hello missing=dflt prop=blue trig=start\nyes\n"
    # create_only leaves an existing file alone
    md = daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata")
    md["templates"]["/etc/motd"]["create_only"] = True
    daemon.api_ok("PUT", f"/1.0/instances/{c1}/metadata", md)
    sh(daemon, c1, "echo mine > /etc/motd")
    restart(daemon, c1)
    assert sh(daemon, c1, "cat /etc/motd") == "mine\n"
    daemon.lxc("config", "template", "delete", c1, "motd.tpl")
    assert "motd.tpl" not in daemon.lxc("config", "template", "list", c1, "--format", "csv").stdout
    md["templates"].pop("/etc/motd")
    daemon.api_ok("PUT", f"/1.0/instances/{c1}/metadata", md)


def test_bad_metadata_refused(daemon, c1):
    before = daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata")
    r = daemon.lxc("config", "metadata", "edit", c1, input="architecture: [unclosed\n", check=False)
    assert r.returncode != 0
    for body in ({"creation_date": "soon"}, {"properties": {"a": 1}}, {"templates": {"/x": {"when": "start"}}},
                 {"templates": {"/x": {"template": "../../../etc/shadow"}}},
                 {"templates": {"/x": {"template": "a/b"}}}, ["not", "a", "map"]):
        status, env = daemon.api("PUT", f"/1.0/instances/{c1}/metadata", body)
        assert status == 400, (body, env)
    status, env = daemon.request("PUT", f"/1.0/instances/{c1}/metadata", b"{not json")
    assert status == 400
    assert daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata") == before


# --- templates API ------------------------------------------------------------------

def test_templates_api_answers(daemon, c1):
    assert daemon.api_ok("GET", tpl_url(c1)) == ["hostname.tpl", "hosts.tpl"]
    status, body = daemon.request("GET", tpl_url(c1, "hostname.tpl"))
    assert status == 200 and body == b"{{ container.name }}\n"
    status, env = daemon.api("GET", tpl_url(c1, "nope.tpl"))
    assert status == 404 and env["error"] == 'Template "nope.tpl" not found'
    status, env = daemon.api("DELETE", tpl_url(c1, "nope.tpl"))
    assert status == 404
    for method in ("POST", "DELETE"):
        status, env = daemon.api(method, tpl_url(c1))
        assert status == 400 and env["error"] == "missing path argument"
    status, env = daemon.api("POST", tpl_url(c1, "raw.tpl"), b"raw {{ instance.name }}")
    assert status == 200 and env["type"] == "sync"
    assert daemon.request("GET", tpl_url(c1, "raw.tpl"))[1] == b"raw {{ instance.name }}"
    daemon.api_ok("DELETE", tpl_url(c1, "raw.tpl"))


@pytest.mark.parametrize("name", ["../metadata.yaml", "..", ".", "../../../../etc/passwd", "/etc/passwd",
                                  "a/b"])
def test_template_names_stay_in_templates_dir(daemon, c1, name):
    md_before = daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata")
    for method, body in (("GET", None), ("POST", b"x"), ("PUT", b"x"), ("DELETE", None)):
        status, env = daemon.api(method, tpl_url(c1, name), body)
        assert status == 500 and env["error"] == "Invalid template filename", (method, name, env)
    assert daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata") == md_before
    assert os.path.exists("/etc/passwd")


# --- template targets: nothing outside the container is written ---------------------

def add_start_template(daemon, name, target, tpl_name, text):
    status, env = daemon.api("POST", tpl_url(name, tpl_name), text.encode())
    assert status == 200, env
    md = daemon.api_ok("GET", f"/1.0/instances/{name}/metadata")
    md["templates"][target] = {"when": ["start"], "template": tpl_name}
    daemon.api_ok("PUT", f"/1.0/instances/{name}/metadata", md)


def drop_template(daemon, name, target, tpl_name):
    md = daemon.api_ok("GET", f"/1.0/instances/{name}/metadata")
    md["templates"].pop(target, None)
    daemon.api_ok("PUT", f"/1.0/instances/{name}/metadata", md)
    daemon.api("DELETE", tpl_url(name, tpl_name))


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_dotdot_and_absolute_targets_stay_in_rootfs(daemon, c1):
    tag = uuid.uuid4().hex[:8]
    escape = f"../../../../../../tmp/ferry-escape-{tag}"
    add_start_template(daemon, c1, escape, "esc.tpl", "escaped {{ instance.name }}\n")
    try:
        restart(daemon, c1)
        assert not os.path.exists(f"/tmp/ferry-escape-{tag}")
        assert sh(daemon, c1, f"cat /tmp/ferry-escape-{tag}") == "escaped c1\n"
    finally:
        drop_template(daemon, c1, escape, "esc.tpl")


def test_planted_symlink_targets_stay_in_rootfs(daemon, c1, tmp_path):
    """Root inside the container points the target at a host path (that exists on the
    host, and whose directory exists in the container) and at /proc/1/root/etc/shadow:
    the host's files are untouched."""
    secret = f"/tmp/ferry-meta-secret-{uuid.uuid4().hex[:8]}"
    with open(secret, "w") as f:
        f.write("host secret\n")
    shadow = sha("/etc/shadow")
    try:
        add_start_template(daemon, c1, "/etc/planted", "planted.tpl", "written {{ instance.name }}\n")
        sh(daemon, c1, f"ln -sf {secret} /etc/planted")
        restart(daemon, c1)
        with open(secret) as f:
            assert f.read() == "host secret\n"
        assert sh(daemon, c1, f"cat {secret}") == "written c1\n"

        sh(daemon, c1, "rm -f /etc/planted; ln -s /proc/1/root/etc/shadow /etc/planted")
        r = daemon.lxc("restart", "--force", c1, check=False)
        assert sha("/etc/shadow") == shadow
        if r.returncode != 0:
            # as LXD, a target that cannot be created fails the start, saying why
            assert "template" in r.stderr.lower(), r.stderr
            daemon.lxc("file", "delete", f"{c1}/etc/planted")
            daemon.lxc("start", c1)
        # a symlink to a directory or a device is never written through
        sh(daemon, c1, "rm -f /etc/planted; ln -s /dev/null /etc/planted")
        r = daemon.lxc("restart", "--force", c1, check=False)
        assert sha("/etc/shadow") == shadow
        if r.returncode != 0:
            daemon.lxc("file", "delete", f"{c1}/etc/planted")
            daemon.lxc("start", c1)
    finally:
        os.unlink(secret)
        drop_template(daemon, c1, "/etc/planted", "planted.tpl")
        sh(daemon, c1, "rm -f /etc/planted", check=False)


def test_ferry_client_metadata_and_templates(daemon, c1):
    """ferry's `config metadata` and `config template`, as lxc's."""
    assert daemon.ferry("config", "metadata", "show", c1).stdout == \
        daemon.lxc("config", "metadata", "show", c1).stdout
    md = daemon.ferry("config", "metadata", "show", c1).stdout
    daemon.ferry("config", "metadata", "edit", c1, input=md.replace("os: busybox", "os: edited-by-ferry"))
    assert daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata")["properties"]["os"] == "edited-by-ferry"
    assert "templates" in daemon.api_ok("GET", f"/1.0/instances/{c1}/metadata")
    r = daemon.ferry("config", "metadata", "edit", c1, input="creation_date: [bad\n", check=False)
    assert r.returncode != 0
    daemon.ferry("config", "template", "create", c1, "f.tpl", input="ferry {{ instance.name }}\n")
    assert daemon.ferry("config", "template", "list", c1).stdout.split() == ["f.tpl", "hostname.tpl", "hosts.tpl"]
    assert daemon.ferry("config", "template", "show", c1, "f.tpl").stdout == "ferry {{ instance.name }}\n"
    daemon.ferry("config", "template", "edit", c1, "f.tpl", input="edited\n")
    assert daemon.lxc("config", "template", "show", c1, "f.tpl").stdout == "edited\n"
    daemon.ferry("config", "template", "delete", c1, "f.tpl")
    r = daemon.ferry("config", "template", "show", c1, "f.tpl", check=False)
    assert r.returncode != 0 and "not found" in r.stderr
    daemon.ferry("config", "metadata", "edit", c1, input=md)


# --- publish and backups carry the metadata and templates ---------------------------

def test_publish_carries_templates(daemon, tmp_path):
    """lxc publish of an instance gives an image with its templates (metadata.yaml's and
    templates/), so an instance of that image is named by them too."""
    import tarfile
    import yaml
    daemon.lxc("init", "busybox", "pubsrc")
    daemon.api_ok("POST", tpl_url("pubsrc", "greet.tpl"), b"hi {{ container.name }}\n")
    md = daemon.api_ok("GET", "/1.0/instances/pubsrc/metadata")
    md["templates"]["/etc/greet"] = {"when": ["create"], "template": "greet.tpl"}
    daemon.api_ok("PUT", "/1.0/instances/pubsrc/metadata", md)
    daemon.lxc("publish", "pubsrc", "--alias", "withtpl", timeout=180)
    try:
        daemon.lxc("image", "export", "withtpl", str(tmp_path / "out"))
        path = next(p for p in tmp_path.iterdir() if p.name.startswith("out"))
        with tarfile.open(path) as t:
            names = t.getnames()
            meta = yaml.safe_load(t.extractfile("metadata.yaml").read())
            assert t.extractfile("templates/greet.tpl").read() == b"hi {{ container.name }}\n"
        assert "templates/hostname.tpl" in names
        assert meta["templates"]["/etc/greet"]["when"] == ["create"]
        daemon.lxc("launch", "withtpl", "frompub", timeout=180)
        assert sh(daemon, "frompub", "cat /etc/greet /etc/hostname") == "hi frompub\nfrompub\n"
    finally:
        for name in ("frompub", "pubsrc"):
            daemon.lxc("delete", "--force", name, check=False)
        daemon.lxc("image", "delete", "withtpl", check=False)


def test_backup_carries_metadata_and_templates(daemon, tmp_path):
    import tarfile
    daemon.lxc("init", "busybox", "bksrc")
    daemon.api_ok("POST", tpl_url("bksrc", "extra.tpl"), b"extra\n")
    tarball = str(tmp_path / "bk.tar.gz")
    daemon.lxc("export", "bksrc", tarball, "--instance-only", timeout=180)
    with tarfile.open(tarball) as t:
        names = t.getnames()
    assert "backup/container/metadata.yaml" in names and "backup/container/templates/extra.tpl" in names
    daemon.lxc("import", tarball, "bkcopy", timeout=180)
    try:
        assert daemon.api_ok("GET", tpl_url("bkcopy")) == ["extra.tpl", "hostname.tpl", "hosts.tpl"]
        assert daemon.api_ok("GET", "/1.0/instances/bkcopy/metadata") == \
            daemon.api_ok("GET", "/1.0/instances/bksrc/metadata")
    finally:
        for name in ("bkcopy", "bksrc"):
            daemon.lxc("delete", "--force", name, check=False)


def test_snapshots_keep_metadata_and_templates(daemon):
    """A snapshot holds the metadata and templates of its instant: a restore brings them
    back (a template changed since to as many bytes too: the restore leaves alone only a
    file that is the same), a copy of the snapshot gets them."""
    daemon.lxc("init", "busybox", "snapsrc")
    daemon.api_ok("POST", tpl_url("snapsrc", "old.tpl"), b"old\n")
    daemon.api_ok("POST", tpl_url("snapsrc", "kept.tpl"), b"aaa\n")
    daemon.lxc("snapshot", "snapsrc", "s0")
    daemon.api_ok("DELETE", tpl_url("snapsrc", "old.tpl"))
    daemon.api_ok("POST", tpl_url("snapsrc", "new.tpl"), b"new\n")
    daemon.api_ok("POST", tpl_url("snapsrc", "kept.tpl"), b"bbb\n")
    daemon.api_ok("PATCH", "/1.0/instances/snapsrc/metadata", {"properties": {"after": "snapshot"}})
    try:
        daemon.lxc("copy", "snapsrc/s0", "fromsnap")
        assert daemon.api_ok("GET", tpl_url("fromsnap")) == ["hostname.tpl", "hosts.tpl", "kept.tpl", "old.tpl"]
        assert "after" not in daemon.api_ok("GET", "/1.0/instances/fromsnap/metadata")["properties"]
        daemon.lxc("restore", "snapsrc", "s0")
        assert daemon.api_ok("GET", tpl_url("snapsrc")) == ["hostname.tpl", "hosts.tpl", "kept.tpl", "old.tpl"]
        assert daemon.request("GET", tpl_url("snapsrc", "kept.tpl"))[1] == b"aaa\n"
        assert "after" not in daemon.api_ok("GET", "/1.0/instances/snapsrc/metadata")["properties"]
        daemon.lxc("start", "fromsnap")
        assert sh(daemon, "fromsnap", "cat /etc/hostname") == "fromsnap\n"
    finally:
        for name in ("fromsnap", "snapsrc"):
            daemon.lxc("delete", "--force", name, check=False)
