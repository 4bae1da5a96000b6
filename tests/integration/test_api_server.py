"""Server-wide endpoints as LXD 5.0.2 answers them (issue 16): the keys of /1.0, the
API extensions (each advertised one works), /1.0/resources, /1.0/projects with the
default project (and ?project= on every endpoint), /1.0/warnings, and a network's
/state and /leases. Driven by the stock `lxc` client, `ferry` and the raw API."""

import json
import os
import re
import signal
import urllib.parse

import pytest

from conftest import free_port, https, wait_until

GOLDEN = "/work/wt/i16-golden/tests/conformance/golden"


def default_network(d):
    return [n for n in d.api_ok("GET", "/1.0/networks?recursion=1") if n["name"].startswith("ferrybr")][0]


# ---- /1.0 -----------------------------------------------------------------------

def test_server_environment_has_lxds_keys(daemon):
    srv = daemon.api_ok("GET", "/1.0")
    env = srv["environment"]
    for key in ("addresses", "architectures", "certificate", "certificate_fingerprint", "driver",
                "driver_version", "firewall", "kernel", "kernel_architecture", "kernel_features",
                "kernel_version", "lxc_features", "os_name", "os_version", "project", "server",
                "server_clustered", "server_event_mode", "server_name", "server_pid",
                "server_version", "storage", "storage_version", "storage_supported_drivers"):
        assert key in env, key
    assert env["server_event_mode"] == "full-mesh"
    assert env["project"] == "default"
    for features in (env["kernel_features"], env["lxc_features"]):
        assert features and all(v in ("true", "false") for v in features.values())
    assert set(env["kernel_features"]) == {"netnsid_getifaddrs", "uevent_injection", "unpriv_fscaps",
                                           "seccomp_listener", "seccomp_listener_continue", "shiftfs",
                                           "idmapped_mounts"}
    assert env["kernel_features"]["shiftfs"] == "false"
    assert env["lxc_features"]["seccomp_notify"] == "true"
    drivers = {d["Name"]: d for d in env["storage_supported_drivers"]}
    assert "dir" in drivers and drivers["dir"] == {"Name": "dir", "Version": "1", "Remote": False}
    if os.path.exists("/usr/bin/btrfs"):
        assert re.fullmatch(r"[0-9][0-9.]*", drivers["btrfs"]["Version"])
    assert env["storage"] == "dir"


def test_untrusted_client_sees_the_same_extensions(own_daemon):
    port = free_port()
    own_daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})
    trusted = own_daemon.api_ok("GET", "/1.0")
    status, env = https(port, "GET", "/1.0")
    assert status == 200 and env["metadata"]["auth"] == "untrusted"
    assert "environment" not in env["metadata"]
    assert env["metadata"]["api_extensions"] == trusted["api_extensions"]
    assert len(trusted["api_extensions"]) == len(set(trusted["api_extensions"]))
    # The new endpoints are for trusted clients only.
    for path in ("/1.0/resources", "/1.0/projects", "/1.0/warnings", "/1.0/projects/default",
                 f"/1.0/networks/{default_network(own_daemon)['name']}/leases"):
        status, env = https(port, "GET", path)
        assert status == 403, (path, status, env)


def test_advertised_extensions_work(daemon):
    exts = set(daemon.api_ok("GET", "/1.0")["api_extensions"])
    net = default_network(daemon)["name"]
    # Each endpoint an advertised extension names answers.
    for ext, path in (("network_state", f"/1.0/networks/{net}/state"),
                      ("network_leases", f"/1.0/networks/{net}/leases"),
                      ("resources", "/1.0/resources"),
                      ("projects", "/1.0/projects"),
                      ("warnings", "/1.0/warnings")):
        assert ext in exts, ext
        status, body = daemon.api("GET", path)
        assert status == 200, (path, body)
    for ext in ("etag", "patch", "event_lifecycle", "kernel_features", "lxc_features",
                "server_supported_storage_drivers", "event_hub"):
        assert ext in exts, ext


# ---- /1.0/resources ----------------------------------------------------------------

def test_resources_shape(daemon):
    res = daemon.api_ok("GET", "/1.0/resources")
    cpu = res["cpu"]
    assert cpu["architecture"] == os.uname().machine
    assert cpu["total"] == os.cpu_count()
    threads = [t for s in cpu["sockets"] for c in s["cores"] for t in c["threads"]]
    assert sorted(t["id"] for t in threads) == list(range(os.cpu_count()))
    for s in cpu["sockets"]:
        assert {"socket", "cores"} <= set(s)
        assert s.get("frequency", 1) > 0
        for c in s["cores"]:
            assert {"core", "die", "threads"} <= set(c)
    mem = res["memory"]
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) * 1024
    assert mem["total"] == total
    assert 0 < mem["used"] < mem["total"]
    for k in ("hugepages_total", "hugepages_used", "hugepages_size"):
        assert isinstance(mem[k], int)
    assert res["storage"]["total"] == len(res["storage"]["disks"])
    for disk in res["storage"]["disks"]:
        assert not disk["id"].startswith(("loop", "zram", "dm-"))
        assert re.fullmatch(r"\d+:\d+", disk["device"])
        assert disk["size"] > 0 and isinstance(disk["partitions"], list)
    net_cards = res["network"]["cards"]
    assert res["network"]["total"] == len(net_cards)
    port_ids = [p["id"] for c in net_cards for p in c.get("ports", [])]
    assert "lo" not in port_ids
    assert not any(p.startswith("ferrybr") for p in port_ids)
    for section, key in (("gpu", "cards"), ("usb", "devices")):
        assert res[section] == {key: [], "total": 0}
    pci = sorted(os.listdir("/sys/bus/pci/devices")) if os.path.isdir("/sys/bus/pci/devices") else []
    assert [d["pci_address"] for d in res["pci"]["devices"]] == pci and res["pci"]["total"] == len(pci)
    assert {"uuid", "vendor", "product", "type"} <= set(res["system"])


def test_lxc_and_ferry_info_resources(daemon):
    out = daemon.lxc("info", "--resources").stdout
    assert "CPU" in out and "Memory:" in out
    assert re.search(r"Total: [0-9.]+[KMGT]?i?B", out), out
    mine = daemon.ferry("info", "--resources").stdout
    # The same CPU section as lxc prints (memory use moves between the two calls).
    assert mine.split("\nMemory:")[0] == out.split("\nMemory:")[0]
    assert re.search(r"Total: [0-9.]+[KMGT]?i?B", mine), mine


# ---- /1.0/projects ----------------------------------------------------------------

def test_projects_default(daemon):
    assert daemon.api_ok("GET", "/1.0/projects") == ["/1.0/projects/default"]
    (proj,) = daemon.api_ok("GET", "/1.0/projects?recursion=1")
    assert proj["name"] == "default"
    assert proj["description"] == "Default LXD project"
    assert proj["config"] == {"features.images": "true", "features.networks": "true",
                              "features.profiles": "true", "features.storage.volumes": "true"}
    assert "/1.0/profiles/default" in proj["used_by"]
    assert any(u.startswith("/1.0/networks/ferrybr") for u in proj["used_by"])
    status, data = daemon.request("GET", "/1.0/projects/default")
    assert status == 200 and json.loads(data)["metadata"] == proj


def test_projects_default_etag(daemon):
    conn_status, _ = daemon.request("GET", "/1.0/projects/default")
    assert conn_status == 200
    import http.client  # noqa: F401 (headers read below through a raw connection)
    from conftest import UnixHTTPConnection
    c = UnixHTTPConnection(daemon.socket)
    c.request("GET", "/1.0/projects/default")
    r = c.getresponse()
    r.read()
    assert r.getheader("ETag")
    c.close()


def test_project_edit_unchanged_and_refused_changes(daemon):
    proj = daemon.api_ok("GET", "/1.0/projects/default")
    daemon.api_ok("PUT", "/1.0/projects/default", {"config": proj["config"], "description": proj["description"]})
    # As LXD: a PATCH may not name a feature at all, even with its value.
    for value in ("true", "false"):
        status, env = daemon.api("PATCH", "/1.0/projects/default", {"config": {"features.images": value}})
        assert status == 400 and env["error"] == "You can't change the features of the default project"
    status, env = daemon.api("PUT", "/1.0/projects/default", {"config": {"features.images": "false"},
                                                              "description": proj["description"]})
    assert status == 400 and env["error"] == "You can't change the features of the default project"
    status, env = daemon.api("PUT", "/1.0/projects/default", {"config": {}, "description": "x"})
    assert status == 400
    assert daemon.api_ok("GET", "/1.0/projects/default")["config"] == proj["config"]


def test_project_create_delete_rename_refused(daemon):
    status, env = daemon.api("POST", "/1.0/projects", {"name": "p1", "config": {}})
    assert status == 400 and "only the default project" in env["error"]
    status, env = daemon.api("POST", "/1.0/projects", {"name": "default"})
    assert status == 409
    status, env = daemon.api("DELETE", "/1.0/projects/default")
    assert status == 403 and "cannot be deleted" in env["error"]
    status, env = daemon.api("POST", "/1.0/projects/default", {"name": "other"})
    assert status == 403 and "cannot be renamed" in env["error"]
    status, env = daemon.api("GET", "/1.0/projects/p1")
    assert status == 404 and env["error"] == "Project not found"
    assert daemon.api_ok("GET", "/1.0/projects") == ["/1.0/projects/default"]
    cp = daemon.lxc("project", "create", "p2", check=False)
    assert cp.returncode != 0 and "only the default project" in cp.stderr


@pytest.mark.parametrize("name", ["p1", "a/b", "x" * 5000, "..", "default/"])
def test_project_query_refused_on_every_endpoint(daemon, name):
    q = urllib.parse.quote(name, safe="")
    for method, path in (("GET", "/1.0/instances"), ("GET", "/1.0/images"), ("GET", "/1.0/profiles"),
                         ("GET", "/1.0/networks"), ("GET", "/1.0/operations"), ("GET", "/1.0/events"),
                         ("GET", "/1.0/resources"), ("GET", "/1.0/warnings"),
                         ("POST", "/1.0/instances")):
        body = {"name": "never", "source": {"type": "image", "alias": "busybox"}} if method == "POST" else None
        status, env = daemon.api(method, f"{path}?project={q}", body)
        assert status == 404 and env["error"] == "Project not found", (method, path, status, env)
    assert "never" not in daemon.instance_names()
    # A name with '/' in the path is refused by the router (400), others are 404
    # (".." is resolved by the client's path, not a project name).
    if name != "..":
        status, env = daemon.api("GET", "/1.0/projects/" + q)
        assert status in (400, 404) and env["type"] == "error"


def test_project_query_default_accepted(daemon):
    assert daemon.api_ok("GET", "/1.0/instances?project=default") == daemon.api_ok("GET", "/1.0/instances")
    assert daemon.api_ok("GET", "/1.0?project=default")["environment"]["project"] == "default"
    daemon.api_ok("GET", "/1.0/profiles/default?project=default")


def test_lxc_project_list_and_show(daemon):
    out = daemon.lxc("project", "list").stdout
    assert re.search(r"\|\s*default \(current\)\s*\|\s*YES\s*\|\s*YES\s*\|\s*YES\s*\|\s*YES\s*\|", out), out
    show = daemon.lxc("project", "show", "default").stdout
    assert "description: Default LXD project" in show
    assert "features.images: \"true\"" in show and "name: default" in show
    cp = daemon.lxc("project", "show", "nope", check=False)
    assert cp.returncode != 0 and "Project not found" in cp.stderr
    cp = daemon.lxc("list", "--project", "nope", check=False)
    assert cp.returncode != 0 and "Project not found" in cp.stderr
    daemon.lxc("list", "--project", "default")
    # ferry prints the same table and YAML.
    assert daemon.ferry("project", "list").stdout == out
    assert daemon.ferry("project", "show", "default").stdout == show
    cp = daemon.ferry("project", "show", "nope", check=False)
    assert cp.returncode != 0 and "Project not found" in cp.stderr


# ---- /1.0/warnings -----------------------------------------------------------------

def test_warnings(daemon):
    warnings = daemon.api_ok("GET", "/1.0/warnings?recursion=1")
    urls = daemon.api_ok("GET", "/1.0/warnings")
    assert urls == [f"/1.0/warnings/{w['uuid']}" for w in warnings]
    srv = daemon.api_ok("GET", "/1.0")
    criu_ok = srv["environment"].get("criu_check") in ("Looks good.", "probing")
    assert bool(warnings) == (not criu_ok)
    for w in warnings:
        assert set(w) == WARNING_KEYS
        assert daemon.api_ok("GET", f"/1.0/warnings/{w['uuid']}")["uuid"] == w["uuid"]
    status, env = daemon.api("GET", "/1.0/warnings/00000000-0000-0000-0000-000000000000")
    assert status == 404 and env["error"] == "Warning not found"
    status, env = daemon.api("DELETE", "/1.0/warnings/" + "z" * 3000)
    assert status == 404
    out = daemon.lxc("warning", "list").stdout
    assert "UUID" in out and "TYPE" in out
    if not warnings:
        assert daemon.ferry("warning", "list").stdout == out


def test_warning_when_criu_is_missing(own_daemon):
    # A host without a usable CRIU: ferryd warns, lxc lists it, it can be
    # acknowledged and deleted.
    own_daemon.kill(signal.SIGTERM)
    own_daemon.env["FERRY_CRIU"] = "/nonexistent/criu"
    own_daemon.start()
    wait_until(lambda: own_daemon.api_ok("GET", "/1.0")["environment"]["criu_check"] != "probing",
               "CRIU probed", 30)
    (w,) = own_daemon.api_ok("GET", "/1.0/warnings?recursion=1")
    assert set(w) == WARNING_KEYS and w["location"] == "none"
    assert w["status"] == "new" and w["severity"] == "moderate" and w["count"] == 1
    assert "CRIU" in w["type"] and w["last_message"]
    out = own_daemon.lxc("warning", "list").stdout
    assert w["uuid"][:8] in out or w["uuid"] in out, out
    assert w["uuid"] in own_daemon.ferry("warning", "list").stdout
    assert f"uuid: {w['uuid']}" in own_daemon.ferry("warning", "show", w["uuid"]).stdout
    own_daemon.lxc("warning", "ack", w["uuid"])
    assert own_daemon.api_ok("GET", f"/1.0/warnings/{w['uuid']}")["status"] == "acknowledged"
    status, env = own_daemon.api("PUT", f"/1.0/warnings/{w['uuid']}", {"status": "bogus"})
    assert status == 400
    own_daemon.api_ok("DELETE", f"/1.0/warnings/{w['uuid']}")
    assert own_daemon.api_ok("GET", "/1.0/warnings") == []
    status, _ = own_daemon.api("GET", f"/1.0/warnings/{w['uuid']}")
    assert status == 404


# ---- /1.0/networks/NAME/state and /leases -----------------------------------------------

def test_network_state_reads_the_bridge(daemon):
    net = default_network(daemon)
    name = net["name"]
    st = daemon.api_ok("GET", f"/1.0/networks/{name}/state")
    assert set(st) == {"addresses", "counters", "hwaddr", "mtu", "state", "type", "bond", "bridge", "vlan", "ovn"}
    assert st["state"] == "up" and st["type"] == "broadcast"
    with open(f"/sys/class/net/{name}/address") as f:
        assert st["hwaddr"] == f.read().strip()
    with open(f"/sys/class/net/{name}/mtu") as f:
        assert st["mtu"] == int(f.read())
    v4 = net["config"]["ipv4.address"]
    addr, prefix = v4.split("/")
    assert {"family": "inet", "address": addr, "netmask": prefix, "scope": "global"} in st["addresses"]
    assert set(st["counters"]) == {"bytes_received", "bytes_sent", "packets_received", "packets_sent"}
    br = st["bridge"]
    assert set(br) == {"id", "stp", "forward_delay", "vlan_default", "vlan_filtering", "upper_devices"}
    assert br["upper_devices"] == sorted(os.listdir(f"/sys/class/net/{name}/brif"))
    assert st["bond"] is None and st["vlan"] is None and st["ovn"] is None
    status, env = daemon.api("GET", "/1.0/networks/nosuchnet/state")
    assert status == 404 and env["error"] == "Network not found"
    status, env = daemon.api("GET", "/1.0/networks/nosuchnet/leases")
    assert status == 404


def test_network_leases_and_lxc_clients(daemon):
    net = default_network(daemon)
    name = net["name"]
    v4 = net["config"]["ipv4.address"].split("/")[0]
    base = v4.rsplit(".", 1)[0]
    daemon.launch("lease1", start=False)
    daemon.api_ok("PATCH", "/1.0/instances/lease1", {"devices": {
        "eth0": {"type": "nic", "network": name, "name": "eth0", "ipv4.address": f"{base}.77"}}})
    try:
        daemon.api_ok("PUT", "/1.0/instances/lease1/state", {"action": "start", "timeout": -1})
        hw = daemon.api_ok("GET", "/1.0/instances/lease1")["config"]["volatile.eth0.hwaddr"]
        leases = daemon.api_ok("GET", f"/1.0/networks/{name}/leases")
        for lease in leases:
            assert set(lease) == {"hostname", "hwaddr", "address", "type", "location"}
        assert {"hostname": f"{name}.gw", "hwaddr": "", "address": v4, "type": "gateway",
                "location": ""} in leases
        assert {"hostname": "lease1", "hwaddr": hw, "address": f"{base}.77", "type": "static",
                "location": "none"} in leases
        out = daemon.lxc("network", "list-leases", name).stdout
        assert "lease1" in out and f"{base}.77" in out and "STATIC" in out.upper()
        info = daemon.lxc("network", "info", name).stdout
        assert "State: up" in info and "MTU:" in info
        ferry_out = daemon.ferry("network", "list-leases", name).stdout
        assert re.search(rf"\|\s*lease1\s*\|\s*{hw}\s*\|\s*{re.escape(base)}\.77\s*\|\s*STATIC\s*\|", ferry_out), ferry_out
        assert json.loads(daemon.ferry("network", "list-leases", name, "-f", "json").stdout) == \
            daemon.api_ok("GET", f"/1.0/networks/{name}/leases")
    finally:
        daemon.api_ok("PUT", "/1.0/instances/lease1/state", {"action": "stop", "force": True, "timeout": -1})
        daemon.api_ok("DELETE", "/1.0/instances/lease1")


def golden(step):
    """LXD's recorded answer to scenario step STEP (the golden suite's fixture), or None."""
    if not os.path.isdir(GOLDEN):
        return None
    for f in sorted(os.listdir(GOLDEN)):
        if re.fullmatch(r"\d+-" + re.escape(step) + r"\.json", f):
            with open(os.path.join(GOLDEN, f)) as fh:
                return json.load(fh)
    return None


def same_keys(gold, mine, where):
    """Key sets of objects match, recursively (lists: each of mine against LXD's first item)."""
    if isinstance(gold, dict) and isinstance(mine, dict):
        assert set(gold) == set(mine), (where, sorted(set(gold) ^ set(mine)))
        for k in gold:
            same_keys(gold[k], mine[k], f"{where}.{k}")
    elif isinstance(gold, list) and isinstance(mine, list) and gold and mine:
        for item in mine:
            same_keys(gold[0], item, f"{where}[]")
    elif gold is not None and mine is not None:
        assert type(gold) is type(mine), (where, gold, mine)


def test_golden_key_sets(daemon):
    """The same keys and types as LXD 5.0.2's recorded answers (when the golden suite is present)."""
    net = default_network(daemon)["name"]
    checked = 0
    for step, path, pick in (
            ("server", "/1.0", lambda m: {k: v for k, v in m["environment"].items()
                                          if not k.startswith("criu_") and k != "cgroup_layout"}),
            ("resources", "/1.0/resources", lambda m: {k: v for k, v in m.items() if k != "storage"}),
            ("project-default", "/1.0/projects/default", None),
            ("projects-recursion1", "/1.0/projects?recursion=1", None),
            ("network-state", f"/1.0/networks/{net}/state", None),
            ("network-leases", f"/1.0/networks/{net}/leases", None)):
        g = golden(step)
        if g is None:
            continue
        gold, mine = g["body"]["metadata"], daemon.api_ok("GET", path)
        if pick:
            gold, mine = pick(gold), pick(mine)
        same_keys(gold, mine, step)
        checked += 1
    g = golden("warnings-recursion1")
    if g is not None:
        # Ferry's warnings (none here when CRIU works) have LXD's keys: checked in
        # test_warning_when_criu_is_missing against this list.
        assert set(g["body"]["metadata"][0]) == WARNING_KEYS
    if not checked:
        pytest.skip("the golden suite's fixtures are not here")


WARNING_KEYS = {"status", "uuid", "location", "project", "type", "count", "first_seen_at",
                "last_seen_at", "last_message", "severity", "entity_url"}
