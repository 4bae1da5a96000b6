"""The HTTPS API and remotes (issue 5, requirement 1): server certificate, TLS 1.3,
trust by client-certificate fingerprint, core.trust_password and trust tokens,
untrusted clients' view, `ferry remote ...` and the stock lxc client over HTTPS.

Two ferryds on one host: `daemon` (A, "local") and `own_daemon` (B, the remote), B's HTTPS
on 127.0.0.1 with a port of its own per test."""

import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess

import pytest

from conftest import FERRY, https, tls_context, free_port, wait_until

PASSWORD = "s3cret-pass"


def make_client_cert(directory):
    """A fresh self-signed client certificate, as lxc makes one."""
    crt, key = os.path.join(directory, "client.crt"), os.path.join(directory, "client.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=test@host",
                    "-addext", "extendedKeyUsage=clientAuth"], check=True, capture_output=True)
    return crt, key




@pytest.fixture
def remote(own_daemon):
    """B listening on HTTPS with a trust password."""
    port = free_port()
    own_daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}",
                                                   "core.trust_password": PASSWORD}})
    own_daemon.https_port = port
    return own_daemon


@pytest.fixture
def ferry_conf(tmp_path, monkeypatch):
    """A private client config dir for `ferry` (FERRY_CONF) for this test."""
    conf = tmp_path / "ferry-conf"
    monkeypatch.setenv("FERRY_CONF", str(conf))
    return conf


def test_server_certificate_and_tls13(remote):
    port = remote.https_port
    server = remote.api_ok("GET", "/1.0")
    env = server["environment"]
    with open(os.path.join(remote.root, "server.crt")) as f:
        pem = f.read()
    assert env["certificate"].strip() == pem.strip()
    der = ssl.PEM_cert_to_DER_cert(pem)
    assert env["certificate_fingerprint"] == hashlib.sha256(der).hexdigest()
    assert env["addresses"] == [f"127.0.0.1:{port}"]
    # The hash of the trust password never leaves the daemon.
    assert server["config"]["core.trust_password"] == "true"
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem, text=True,
                          capture_output=True, check=True).stdout
    assert "DNS:" in text and "TLS Web Server Authentication" in text
    # The served certificate is that one, over TLS 1.3 only.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with tls_context().wrap_socket(raw) as tls:
            assert tls.version() == "TLSv1.3"
            assert tls.getpeercert(binary_form=True) == der
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            tls_context(max_version=ssl.TLSVersion.TLSv1_2).wrap_socket(raw)


def test_untrusted_view_password_and_trust_store(remote, tmp_path):
    port = remote.https_port
    cert = make_client_cert(str(tmp_path))
    fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(cert[0]).read())).hexdigest()

    for c in (None, cert):
        status, env = https(port, "GET", "/1.0", cert=c)
        assert status == 200
        meta = env["metadata"]
        assert meta["auth"] == "untrusted" and meta["auth_methods"] == ["tls"]
        assert "environment" not in meta and "instances" in meta["api_extensions"]
        for method, path in (("GET", "/1.0/instances"), ("GET", "/1.0/certificates"),
                             ("PATCH", "/1.0"), ("GET", "/1.0/operations"), ("GET", "/1.0/events")):
            status, env = https(port, method, path, body={} if method == "PATCH" else None, cert=c)
            assert status == 403 and env["type"] == "error", (method, path, env)
    status, env = https(port, "GET", "/", cert=None)
    assert status == 200 and env["metadata"] == ["/1.0"]

    body = {"name": "", "type": "client", "restricted": False, "projects": None, "certificate": "",
            "password": "wrong", "token": False}
    status, env = https(port, "POST", "/1.0/certificates", body, cert=cert)
    assert status == 403 and env["type"] == "error"
    status, env = https(port, "POST", "/1.0/certificates", dict(body, password=PASSWORD), cert=None)
    assert status == 400 and env["type"] == "error"  # no client certificate to trust
    status, env = https(port, "POST", "/1.0/certificates", dict(body, password=PASSWORD), cert=cert)
    assert status == 201 and env["type"] == "sync", env  # LXD: 201 + Location

    status, env = https(port, "GET", "/1.0", cert=cert)
    assert env["metadata"]["auth"] == "trusted" and "environment" in env["metadata"]
    status, env = https(port, "GET", "/1.0/instances", cert=cert)
    assert status == 200 and env["metadata"] == []
    assert remote.api_ok("GET", "/1.0/certificates") == [f"/1.0/certificates/{fp}"]
    listed = remote.api_ok("GET", "/1.0/certificates?recursion=1")
    assert listed[0]["fingerprint"] == fp and listed[0]["type"] == "client"
    assert remote.api_ok("GET", f"/1.0/certificates/{fp[:12]}")["fingerprint"] == fp

    # Removing it from the trust store locks it out again; the unix socket never needed it.
    remote.api_ok("DELETE", f"/1.0/certificates/{fp}")
    status, env = https(port, "GET", "/1.0/instances", cert=cert)
    assert status == 403
    assert remote.api_ok("GET", "/1.0/instances") == []


def test_listener_follows_config_and_restart(remote):
    port = remote.https_port
    assert https(port, "GET", "/1.0")[0] == 200
    new_port = free_port()
    remote.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{new_port}"}})
    assert https(new_port, "GET", "/1.0")[0] == 200
    with pytest.raises(OSError):
        https(port, "GET", "/1.0")
    # A bad address changes nothing.
    status, env = remote.api("PATCH", "/1.0", {"config": {"core.https_address": "not an address"}})
    assert status == 400
    assert https(new_port, "GET", "/1.0")[0] == 200
    # ferryd restart re-opens the listener from the database.
    remote.kill(15)
    remote.start()
    wait_until(lambda: https(new_port, "GET", "/1.0")[0] == 200 or None, "HTTPS listener after restart")
    remote.api_ok("PATCH", "/1.0", {"config": {"core.https_address": ""}})
    with pytest.raises(OSError):
        https(new_port, "GET", "/1.0")
    assert remote.api_ok("GET", "/1.0")["environment"]["addresses"] == []


def test_ferry_remote_add_password(daemon, remote, ferry_conf):
    port = remote.https_port
    addr = f"127.0.0.1:{port}"
    cp = daemon.ferry("remote", "add", "r2", addr, "--password", "wrong", "--accept-certificate", check=False)
    assert cp.returncode != 0 and "not authorized" in cp.stderr
    assert "r2" not in daemon.ferry("remote", "list").stdout
    daemon.ferry("remote", "add", "r2", addr, "--password", PASSWORD, "--accept-certificate")
    assert (ferry_conf / "client.crt").exists() and (ferry_conf / "servercerts" / "r2.crt").exists()
    conf = (ferry_conf / "config.yml").read_text()
    assert f"addr: https://{addr}" in conf and "auth_type: tls" in conf
    listing = daemon.ferry("remote", "list").stdout
    assert f"| r2              | https://{addr} | lxd      | tls " in listing
    assert "No instances" not in daemon.ferry("list", "r2:").stdout

    daemon.ferry("launch", "busybox", "r2:c1")
    assert remote.instance("c1")["status"] == "Running"
    assert "c1" not in daemon.instance_names()
    assert daemon.ferry("exec", "r2:c1", "--", "hostname").stdout.strip() == "c1"
    assert "Status: RUNNING" in daemon.ferry("info", "r2:c1").stdout
    assert "| c1   | RUNNING |" in daemon.ferry("list", "r2:").stdout

    # switch/get-default/rename/remove
    daemon.ferry("remote", "switch", "r2")
    assert daemon.ferry("remote", "get-default").stdout.strip() == "r2"
    assert "| c1 " in daemon.ferry("list").stdout
    daemon.ferry("remote", "rename", "r2", "s-tollana")
    assert daemon.ferry("remote", "get-default").stdout.strip() == "s-tollana"
    assert (ferry_conf / "servercerts" / "s-tollana.crt").exists()
    daemon.ferry("delete", "-f", "s-tollana:c1")
    daemon.ferry("remote", "switch", "local")
    daemon.ferry("remote", "remove", "s-tollana")
    assert "s-tollana" not in daemon.ferry("remote", "list").stdout
    assert remote.instance_names() == []


def test_ferry_remote_add_token(daemon, remote, ferry_conf, tmp_path):
    port = remote.https_port
    out = remote.ferry("config", "trust", "add", "--name", "dakara").stdout
    assert out.startswith("Client dakara certificate add token:\n")
    token = out.splitlines()[-1]
    decoded = json.loads(base64.b64decode(token))
    assert decoded["client_name"] == "dakara" and decoded["addresses"] == [f"127.0.0.1:{port}"]
    assert decoded["fingerprint"] == remote.api_ok("GET", "/1.0")["environment"]["certificate_fingerprint"]
    # The pending token is a running operation, as in LXD.
    ops = remote.api_ok("GET", "/1.0/operations?recursion=1")
    assert any(o["metadata"].get("secret") == decoded["secret"] for o in ops.get("running", []))

    daemon.ferry("remote", "add", "s-tollana", token)
    assert "| dakara |" in remote.ferry("config", "trust", "list").stdout
    assert daemon.ferry("list", "s-tollana:").returncode == 0
    # A token works once.
    other = tmp_path / "other-conf"
    cp = subprocess.run([FERRY, "remote", "add", "x", token],
                        env=dict(os.environ, FERRY_CONF=str(other)), capture_output=True, text=True,
                        stdin=subprocess.DEVNULL, timeout=60)
    assert cp.returncode != 0 and "not authorized" in cp.stderr

    # --token form, and config trust remove.
    token2 = remote.ferry("config", "trust", "add", "--name", "second").stdout.splitlines()[-1]
    cp = subprocess.run([FERRY, "remote", "add", "again", f"127.0.0.1:{port}", "--token", token2],
                        env=dict(os.environ, FERRY_CONF=str(other)), capture_output=True, text=True,
                        stdin=subprocess.DEVNULL, timeout=60)
    assert cp.returncode == 0, cp.stderr
    fps = [c["fingerprint"] for c in remote.api_ok("GET", "/1.0/certificates?recursion=1") if c["name"] == "second"]
    assert len(fps) == 1
    remote.ferry("config", "trust", "remove", fps[0][:12])
    assert "second" not in remote.ferry("config", "trust", "list").stdout


def test_stock_lxc_over_https(daemon, remote):
    port = remote.https_port
    name = f"r{port}"
    cp = daemon.lxc("remote", "add", name, f"127.0.0.1:{port}", "--password", "wrong",
                    "--accept-certificate", check=False)
    assert cp.returncode != 0
    cp = daemon.lxc("remote", "add", name, f"127.0.0.1:{port}", "--password", PASSWORD, "--accept-certificate")
    assert f"Client certificate now trusted by server: {name}" in cp.stdout
    assert "NAME" in daemon.lxc("list", f"{name}:").stdout
    daemon.lxc("launch", f"{name}:busybox", f"{name}:c1", timeout=60)
    assert remote.instance("c1")["status"] == "Running"
    assert daemon.lxc("exec", f"{name}:c1", "--", "hostname").stdout.strip() == "c1"
    assert "| c1   | RUNNING |" in daemon.lxc("list", f"{name}:").stdout
    daemon.lxc("delete", "-f", f"{name}:c1")
    assert remote.instance_names() == []
    daemon.lxc("remote", "remove", name)


@pytest.mark.parametrize("wildcard", ["0.0.0.0:{port}", "[::]:{port}", ":{port}"])
def test_wildcard_listener_reports_concrete_addresses(own_daemon, wildcard):
    """lxc uses environment.addresses literally for migrations: never a wildcard."""
    port = free_port()
    own_daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": wildcard.format(port=port)}})
    addresses = own_daemon.api_ok("GET", "/1.0")["environment"]["addresses"]
    assert addresses  # at least the daemon's own bridge has a global address
    for a in addresses:
        assert a.endswith(f":{port}") and not a.startswith(("0.0.0.0", "[::]", ":")), addresses
    if wildcard.startswith("0.0.0.0"):
        assert all(not a.startswith("[") for a in addresses)
    # Reachable on loopback even though loopback is not advertised.
    assert https(port, "GET", "/1.0")[0] == 200


def test_taken_port_at_start_keeps_unix_socket(remote):
    """A listener that cannot be re-opened at start must not lock the admin out."""
    port = remote.https_port
    remote.kill(15)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)
    try:
        remote.start()
        assert remote.api_ok("GET", "/1.0")["environment"]["addresses"] == []
    finally:
        squatter.close()
    new_port = free_port()
    remote.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{new_port}"}})
    assert https(new_port, "GET", "/1.0")[0] == 200


def test_stock_lxc_trust_tokens(daemon, remote):
    """lxc config trust add/list-tokens/revoke-token on B, lxc remote add NAME TOKEN on A."""
    port = remote.https_port
    name = f"t{port}"
    out = remote.lxc("config", "trust", "add", "--name", "dakara").stdout
    token = out.strip().splitlines()[-1]
    assert json.loads(base64.b64decode(token))["addresses"] == [f"127.0.0.1:{port}"]
    assert "dakara" in remote.lxc("config", "trust", "list-tokens").stdout
    revoked = remote.lxc("config", "trust", "add", "--name", "gone").stdout.strip().splitlines()[-1]
    remote.lxc("config", "trust", "revoke-token", "gone")
    assert "gone" not in remote.lxc("config", "trust", "list-tokens").stdout

    daemon.lxc("remote", "add", name, token)
    assert "NAME" in daemon.lxc("list", f"{name}:").stdout
    assert "dakara" not in remote.lxc("config", "trust", "list-tokens").stdout
    assert "| client | dakara |" in remote.lxc("config", "trust", "list").stdout
    daemon.lxc("remote", "remove", name)
    cp = daemon.lxc("remote", "add", name + "x", revoked, check=False)
    assert cp.returncode != 0
