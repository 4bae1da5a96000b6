"""LXD's file API (/1.0/instances/NAME/files) through the stock lxc client, the raw API
and ferry: push, pull, edit, delete, recursive, symlinks, owners; running and stopped
instances; symlinks planted by root inside the container never reach the host; large
files stream through ferryd without growing its memory."""

import json
import os
import stat
import urllib.parse

import pytest

from conftest import free_port, https, wait_until


@pytest.fixture(scope="module")
def c1(daemon):
    daemon.lxc("launch", "busybox", "c1")
    return "c1"


def sh(daemon, name, script):
    return daemon.lxc("exec", name, "--", "sh", "-c", script).stdout


def files_url(name, path):
    return f"/1.0/instances/{name}/files?path={urllib.parse.quote(path, safe='/')}"


def raw_get(daemon, name, path):
    conn_status, body = None, None
    from conftest import UnixHTTPConnection
    conn = UnixHTTPConnection(daemon.socket)
    try:
        conn.request("GET", files_url(name, path))
        resp = conn.getresponse()
        conn_status, body = resp.status, resp.read()
        return conn_status, dict((k.lower(), v) for k, v in resp.getheaders()), body
    finally:
        conn.close()


# --- the stock client ----------------------------------------------------------

def test_push_pull_file_with_owner_and_mode(daemon, c1, tmp_path):
    src = tmp_path / "f"
    src.write_text("hello\n")
    daemon.lxc("file", "push", "-q", str(src), f"{c1}/root/f")
    assert sh(daemon, c1, "cat /root/f") == "hello\n"
    daemon.lxc("file", "push", "-q", "--uid", "1000", "--gid", "1001", "--mode", "0640", str(src),
               f"{c1}/root/owned")
    assert sh(daemon, c1, "stat -c '%u %g %a' /root/owned") == "1000 1001 640\n"
    status, headers, body = raw_get(daemon, c1, "/root/owned")
    assert status == 200 and body == b"hello\n"
    assert (headers["x-lxd-uid"], headers["x-lxd-gid"], headers["x-lxd-mode"], headers["x-lxd-type"]) == \
        ("1000", "1001", "0640", "file")
    daemon.lxc("file", "pull", f"{c1}/root/owned", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "hello\n"
    # lxc pull sends a path without its leading slash, as for c1/etc/hostname.
    sh(daemon, c1, "echo c1 > /etc/hostname")
    daemon.lxc("file", "pull", f"{c1}/etc/hostname", str(tmp_path))
    assert (tmp_path / "hostname").read_text() == "c1\n"


def test_owners_are_the_containers_ids(daemon, c1):
    """The rootfs holds the container's ids (it is mounted idmapped), so X-LXD-uid/gid are the
    ids the container sees, both ways; an id outside the container's map is refused."""
    sh(daemon, c1, "echo x > /root/chowned; chown 1234:1235 /root/chowned; chmod 0751 /root/chowned")
    status, headers, _ = raw_get(daemon, c1, "/root/chowned")
    assert (headers["x-lxd-uid"], headers["x-lxd-gid"], headers["x-lxd-mode"]) == ("1234", "1235", "0751")
    # the process inside runs as a host id far from 1234: the map is in use
    with open(f"/proc/{daemon.init_pid(c1)}/uid_map") as f:
        assert f.read().split()[:2] != ["0", "0"]
    for header in ("X-LXD-uid", "X-LXD-gid"):
        status, env = daemon.api("POST", files_url(c1, "/root/unmapped"), body=b"x", headers={header: "4000000000"})
        assert status == 400 and "isn't mapped" in env["error"], env
    assert sh(daemon, c1, "test -e /root/unmapped || echo absent") == "absent\n"


def test_push_creates_parents_with_p(daemon, c1, tmp_path):
    src = tmp_path / "f"
    src.write_text("deep\n")
    assert daemon.lxc("file", "push", "-q", str(src), f"{c1}/root/a/b/c/f", check=False).returncode != 0
    daemon.lxc("file", "push", "-q", "-p", str(src), f"{c1}/root/a/b/c/f")
    assert sh(daemon, c1, "cat /root/a/b/c/f") == "deep\n"


def test_recursive_push_and_pull_keep_symlinks(daemon, c1, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a").write_text("a\n")
    (tree / "sub" / "b").write_text("b\n")
    os.symlink("a", tree / "link")
    daemon.lxc("file", "push", "-q", "-r", str(tree), f"{c1}/root/")
    assert sh(daemon, c1, "cat /root/tree/a /root/tree/sub/b; readlink /root/tree/link") == "a\nb\na\n"
    out = tmp_path / "out"
    out.mkdir()
    daemon.lxc("file", "pull", "-r", f"{c1}/root/tree", str(out))
    assert (out / "tree" / "a").read_text() == "a\n"
    assert (out / "tree" / "sub" / "b").read_text() == "b\n"
    assert os.readlink(out / "tree" / "link") == "a"


def test_edit(daemon, c1):
    """lxc file edit takes the new text from stdin when it is not a terminal."""
    sh(daemon, c1, "echo before > /root/edited")
    daemon.lxc("file", "edit", f"{c1}/root/edited", input="after\n")
    assert sh(daemon, c1, "cat /root/edited") == "after\n"


def test_delete_file_and_empty_directory(daemon, c1):
    sh(daemon, c1, "echo x > /root/gone; mkdir /root/emptydir /root/fulldir; touch /root/fulldir/f")
    daemon.lxc("file", "delete", f"{c1}/root/gone")
    daemon.lxc("file", "delete", f"{c1}/root/emptydir")
    assert daemon.lxc("file", "delete", f"{c1}/root/fulldir", check=False).returncode != 0
    assert sh(daemon, c1, "ls /root/gone /root/emptydir 2>&1; ls /root/fulldir") .endswith("f\n")
    assert sh(daemon, c1, "test -e /root/gone || test -e /root/emptydir || echo both-gone") == "both-gone\n"


def test_stopped_instance(daemon, tmp_path):
    daemon.lxc("init", "busybox", "stopped1")
    src = tmp_path / "f"
    src.write_text("while stopped\n")
    daemon.lxc("file", "push", "-q", str(src), "stopped1/root/f")
    daemon.lxc("file", "pull", "stopped1/root/f", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "while stopped\n"
    daemon.lxc("start", "stopped1")
    assert sh(daemon, "stopped1", "cat /root/f") == "while stopped\n"
    daemon.lxc("delete", "-f", "stopped1")


# --- the API as LXD answers it -------------------------------------------------

def test_directory_listing_and_symlink_types(daemon, c1):
    sh(daemon, c1, "mkdir -p /root/ls/z /root/ls/a; touch /root/ls/m; ln -sf /etc/passwd /root/ls/l")
    status, headers, body = raw_get(daemon, c1, "/root/ls")
    env = json.loads(body)
    assert status == 200 and headers["x-lxd-type"] == "directory"
    assert sorted(env["metadata"]) == ["a", "l", "m", "z"]
    status, headers, body = raw_get(daemon, c1, "/root/ls/l")
    assert status == 200 and headers["x-lxd-type"] == "symlink" and body == b"/etc/passwd"


def test_raw_push_directory_symlink_append(daemon, c1):
    st, _ = daemon.request("POST", files_url(c1, "/root/rawdir"), headers={"X-LXD-type": "directory",
                                                                           "X-LXD-mode": "0700"})
    assert st == 200
    st, _ = daemon.request("POST", files_url(c1, "/root/rawdir/lnk"), body=b"../target",
                           headers={"X-LXD-type": "symlink"})
    assert st == 200
    daemon.request("POST", files_url(c1, "/root/rawdir/log"), body=b"one\n")
    st, _ = daemon.request("POST", files_url(c1, "/root/rawdir/log"), body=b"two\n",
                           headers={"X-LXD-write": "append"})
    assert st == 200
    assert sh(daemon, c1, "stat -c %a /root/rawdir; readlink /root/rawdir/lnk; cat /root/rawdir/log") == \
        "700\n../target\none\ntwo\n"


@pytest.mark.parametrize("path,headers,want", [
    (None, {}, "Missing path argument"),
    ("", {}, "Missing path argument"),
    ("/root/../etc/shadow", {}, "contains \"..\""),
    ("../etc/shadow", {}, "contains \"..\""),
    ("/root/bad", {"X-LXD-type": "fifo"}, "Bad file type"),
    ("/root/bad", {"X-LXD-write": "sideways"}, "Bad file write mode"),
    ("/root/bad", {"X-LXD-uid": "root"}, "Invalid X-LXD-uid"),
    ("/root/bad", {"X-LXD-mode": "rwx"}, "Invalid X-LXD-mode"),
    ("/", {}, "names no file"),
])
def test_bad_requests_change_nothing(daemon, c1, path, headers, want):
    before = sh(daemon, c1, "ls -la /root /etc")
    url = f"/1.0/instances/{c1}/files" + ("" if path is None else f"?path={urllib.parse.quote(path)}")
    status, env = daemon.api("POST", url, body=b"data", headers=headers)
    assert status == 400 and want in env["error"], env
    assert sh(daemon, c1, "ls -la /root /etc") == before


def test_missing_file_is_404(daemon, c1):
    status, env = daemon.api("GET", files_url(c1, "/root/nothing-here"))
    assert status == 404, env
    assert daemon.api("DELETE", files_url(c1, "/root/nothing-here"))[0] == 404


# --- root inside the container against the host ---------------------------------

@pytest.fixture
def host_secret(tmp_path):
    d = tmp_path / "hostdir"
    d.mkdir()
    f = d / "secret"
    f.write_text("HOST SECRET\n")
    os.chmod(f, 0o600)
    return f


def test_symlink_to_host_file_never_leaks_or_is_overwritten(daemon, c1, host_secret, tmp_path):
    hostdir = str(host_secret.parent)
    sh(daemon, c1, f"ln -sf {host_secret} /root/x; ln -sfn {hostdir} /root/dirlink; "
                   f"ln -sfn ../../../../../../../../{hostdir.lstrip('/')} /root/uplink")
    # pull: the link itself, never what the host has at that path
    status, headers, body = raw_get(daemon, c1, "/root/x")
    assert headers["x-lxd-type"] == "symlink" and body == str(host_secret).encode()
    for via in ("/root/dirlink/secret", "/root/uplink/secret"):
        status, _, body = raw_get(daemon, c1, via)
        assert status == 404 and b"HOST SECRET" not in body
    # push onto the link, and through links in the middle of the path
    for target in ("/root/x", "/root/dirlink/secret", "/root/uplink/secret", "/root/dirlink/new"):
        status, _ = daemon.request("POST", files_url(c1, target), body=b"OVERWRITTEN\n")
        assert status in (400, 404), target
    # mkdir through the link, delete through it and of it
    assert daemon.request("POST", files_url(c1, "/root/dirlink/made"),
                          headers={"X-LXD-type": "directory"})[0] == 404
    assert daemon.request("DELETE", files_url(c1, "/root/dirlink/secret"))[0] == 404
    assert daemon.request("DELETE", files_url(c1, "/root/uplink/secret"))[0] == 404
    assert host_secret.read_text() == "HOST SECRET\n"
    assert sorted(os.listdir(hostdir)) == ["secret"]
    # Deleting the link removes the link only.
    assert daemon.request("DELETE", files_url(c1, "/root/x"))[0] == 200
    assert host_secret.read_text() == "HOST SECRET\n"
    assert sh(daemon, c1, "test -L /root/x || echo gone") == "gone\n"
    # lxc's own pull follows the link the container's way: to nothing
    sh(daemon, c1, f"ln -sf {host_secret} /root/x2")
    cp = daemon.lxc("file", "pull", f"{c1}/root/x2", "-", check=False)
    assert cp.returncode != 0 and "HOST SECRET" not in cp.stdout


def test_symlinks_resolve_inside_the_container(daemon, c1):
    """A link to an absolute path is the container's path: /root/etclink -> /etc reaches c1's /etc."""
    sh(daemon, c1, "ln -sfn /etc /root/etclink")
    status, _, body = raw_get(daemon, c1, "/root/etclink/os-release")
    assert status == 200 and body == sh(daemon, c1, "cat /etc/os-release").encode()
    status, _ = daemon.request("POST", files_url(c1, "/root/etclink/ferry-test"), body=b"inside\n")
    assert status == 200
    assert sh(daemon, c1, "cat /etc/ferry-test") == "inside\n"


def test_device_nodes_and_fifos_are_not_opened(daemon, c1):
    sh(daemon, c1, "mkfifo /root/fifo")
    status, env = daemon.api("GET", files_url(c1, "/root/fifo"))
    assert status == 400, env
    status, env = daemon.api("POST", files_url(c1, "/root/fifo"), body=b"x")
    assert status == 400, env


# --- streaming -----------------------------------------------------------------

def rss_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_file_streams(daemon, c1, tmp_path):
    """200 MiB, far above the 16 MiB body cap, through lxc both ways; ferryd's peak RSS
    grows by far less than the file (nothing holds it whole in memory)."""
    big = tmp_path / "big"
    with open(big, "wb") as f:
        for _ in range(200):
            f.write(os.urandom(1 << 20))
    before = rss_hwm_kib(daemon.proc.pid)
    daemon.lxc("file", "push", "-q", str(big), f"{c1}/root/big", timeout=120)
    back = tmp_path / "back"
    daemon.lxc("file", "pull", f"{c1}/root/big", str(back), timeout=120)
    grown = rss_hwm_kib(daemon.proc.pid) - before
    assert os.path.getsize(back) == 200 << 20
    with open(big, "rb") as a, open(back, "rb") as b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            assert x == y
            if not x:
                break
    # ASan keeps freed chunks in its quarantine (256 MiB): the bound holds for plain builds.
    with open(f"/proc/{daemon.proc.pid}/maps") as f:
        sanitized = "libasan" in f.read()
    if not sanitized:
        assert grown < 48 * 1024, f"ferryd's peak RSS grew by {grown} KiB for a 200 MiB file"
    sh(daemon, c1, "rm /root/big")
    # the upload's temporary file is gone
    assert [n for n in os.listdir(os.path.join(daemon.root, "images")) if n.startswith("upload-")] == []


# --- who may ----------------------------------------------------------------------

def test_untrusted_https_client_gets_403(own_daemon):
    own_daemon.launch("u1", start=False)
    port = free_port()
    own_daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})
    wait_until(lambda: https(port, "GET", "/1.0")[0] == 200, "the HTTPS listener")
    for method in ("GET", "DELETE"):
        status, env = https(port, method, "/1.0/instances/u1/files?path=/etc/passwd")
        assert status == 403, env
    status, env = https(port, "POST", "/1.0/instances/u1/files?path=/root/planted", body={"x": 1})
    assert status == 403, env
    assert not os.path.exists(os.path.join(own_daemon.root, "containers", "u1", "rootfs", "root", "planted"))


# --- the ferry client ---------------------------------------------------------------

def test_ferry_file_verbs(daemon, c1, tmp_path):
    src = tmp_path / "f"
    src.write_text("from ferry\n")
    daemon.ferry("file", "push", "--uid", "1000", "--gid", "1002", "--mode", "0604", str(src), f"{c1}/root/ferry-f")
    assert sh(daemon, c1, "stat -c '%u %g %a' /root/ferry-f; cat /root/ferry-f") == "1000 1002 604\nfrom ferry\n"
    daemon.ferry("file", "push", "-p", str(src), f"{c1}/root/fp/x/y/")
    assert sh(daemon, c1, "cat /root/fp/x/y/f") == "from ferry\n"
    assert daemon.ferry("file", "pull", f"{c1}/root/ferry-f", "-").stdout == "from ferry\n"
    daemon.ferry("file", "pull", f"{c1}/root/ferry-f", str(tmp_path / "pulled"))
    assert (tmp_path / "pulled").read_text() == "from ferry\n"
    # -r both ways, symlinks kept as symlinks
    tree = tmp_path / "ftree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "b").write_text("b\n")
    os.symlink("sub/b", tree / "link")
    daemon.ferry("file", "push", "-r", str(tree), f"{c1}/root/")
    assert sh(daemon, c1, "cat /root/ftree/sub/b; readlink /root/ftree/link") == "b\nsub/b\n"
    out = tmp_path / "fout"
    out.mkdir()
    daemon.ferry("file", "pull", "-r", f"{c1}/root/ftree", str(out))
    assert (out / "ftree" / "sub" / "b").read_text() == "b\n"
    assert os.readlink(out / "ftree" / "link") == "sub/b"
    # a directory needs -r
    assert daemon.ferry("file", "pull", f"{c1}/root/ftree", str(out), check=False).returncode != 0
    # edit from stdin keeps owner and mode
    daemon.ferry("file", "edit", f"{c1}/root/ferry-f", input="edited\n")
    assert sh(daemon, c1, "stat -c '%u %g %a' /root/ferry-f; cat /root/ferry-f") == "1000 1002 604\nedited\n"
    daemon.ferry("file", "delete", f"{c1}/root/ferry-f", f"{c1}/root/fp/x/y/f")
    assert sh(daemon, c1, "ls /root/ferry-f /root/fp/x/y/f 2>&1 | grep -c 'No such'") == "2\n"
    cp = daemon.ferry("file", "pull", f"{c1}/root/nothing", "-", check=False)
    assert cp.returncode != 0 and "No such file" in cp.stderr, cp.stderr


def test_local_non_root_user_is_refused(own_daemon):
    """Even with the socket opened up to everyone, a non-root peer gets 403 (SO_PEERCRED,
    read on the connection the unix listener hands to libsoup): the files API included."""
    own_daemon.launch("n1", start=False)
    os.chmod(own_daemon.socket, 0o666)
    probe = (
        "import http.client, socket, sys\n"
        "class C(http.client.HTTPConnection):\n"
        "    def connect(self):\n"
        "        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])\n"
        "for method, body in (('GET', None), ('POST', b'planted'), ('DELETE', None)):\n"
        "    c = C('localhost'); c.request(method, '/1.0/instances/n1/files?path=/etc/passwd', body=body,\n"
        "                                  headers={'Host': 'localhost:None'})\n"
        "    r = c.getresponse(); print(r.status, r.read()[:80])\n"
    )
    import subprocess
    cp = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                         "/usr/bin/python3", "-c", probe, own_daemon.socket],
                        capture_output=True, text=True, timeout=30)
    lines = cp.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("403 ") for line in lines), (cp.stdout, cp.stderr)
    with open(os.path.join(own_daemon.root, "containers", "n1", "rootfs", "etc", "passwd")) as f:
        assert "planted" not in f.read()


def test_trusted_https_client_pushes_and_pulls(own_daemon, tmp_path):
    """A trusted remote client (lxc file push remote:c1/...) streams through the HTTPS
    listener: the body goes to a file as it comes, above the 16 MiB cap too."""
    import base64
    import http.client
    import ssl
    import subprocess
    from conftest import tls_context
    own_daemon.launch("h1", start=False)
    crt, key = str(tmp_path / "client.crt"), str(tmp_path / "client.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=test@host",
                    "-addext", "extendedKeyUsage=clientAuth"], check=True, capture_output=True)
    with open(crt) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    own_daemon.api_ok("POST", "/1.0/certificates", {"type": "client", "name": "files-test",
                                                    "certificate": base64.b64encode(der).decode()})
    port = free_port()
    own_daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})
    wait_until(lambda: https(port, "GET", "/1.0")[0] == 200, "the HTTPS listener")
    data = os.urandom(20 << 20)

    def request(method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context((crt, key)), timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
        finally:
            conn.close()

    status, _, body = request("POST", files_url("h1", "/root/remote"), data, {"X-LXD-mode": "0600"})
    assert status == 200, body[:300]
    status, headers, body = request("GET", files_url("h1", "/root/remote"))
    assert status == 200 and body == data and headers["x-lxd-mode"] == "0600"


def test_privileged_container_owners(daemon, tmp_path):
    """Privileged: the container's ids are the host's; any id may be set."""
    daemon.lxc("launch", "busybox", "priv1", "-c", "security.privileged=true")
    src = tmp_path / "f"
    src.write_text("p\n")
    daemon.lxc("file", "push", "-q", "--uid", "4000000000", "--gid", "1001", str(src), "priv1/root/f")
    assert sh(daemon, "priv1", "stat -c '%u %g' /root/f") == "4000000000 1001\n"
    status, headers, _ = raw_get(daemon, "priv1", "/root/f")
    assert headers["x-lxd-uid"] == "4000000000"
    daemon.lxc("delete", "-f", "priv1")
