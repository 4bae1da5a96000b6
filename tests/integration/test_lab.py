"""The multi-host lab (issue 5, requirement 7): N hosts, each its own ferryd in network
namespaces joined by one L2 segment; the managed bridges are joined to it
(bridge.external_interfaces) so the containers' subnet exists on every host, with one
DHCP/RA authority; remotes between hosts for ferry and lxc; and a teardown that leaves
nothing behind, even when a ferryd died with its containers running."""

import json
import os

import pytest

from lab import Lab

LAB_OPTIONS = {"hosts": 2, "client": True}


@pytest.fixture(scope="module")
def two(module_lab):
    """The module's lab with c1 running on h1 and c2 on h2, both addressed by DHCP."""
    h1, h2 = module_lab.hosts
    h1.launch("c1")
    h2.launch("c2")
    return module_lab


def test_hosts_are_separate_daemons(two):
    h1, h2 = two.hosts
    assert h1.pid != h2.pid
    infos = [h.api_ok("GET", "/1.0") for h in (h1, h2)]
    # Each host: its own HTTPS address on the segment, its own certificate, its own name.
    assert infos[0]["environment"]["addresses"] == [h1.https_address]
    assert infos[1]["environment"]["addresses"] == [h2.https_address]
    assert infos[0]["environment"]["certificate_fingerprint"] != infos[1]["environment"]["certificate_fingerprint"]
    assert [i["environment"]["server_name"] for i in infos] == [f"{two.name}-h1", f"{two.name}-h2"]
    # The same root path on both (CRIU images record it), a different directory behind it.
    for h in (h1, h2):
        with open(f"/proc/{h.pid}/cmdline", "rb") as f:
            argv = f.read().decode().split("\0")
        assert argv[argv.index("--root") + 1] == two.common_root
        assert argv[argv.index("--cgroup-parent") + 1] == h.cgroup_parent
        assert os.path.exists(os.path.join(h.root, "ferry.db"))
    assert not os.listdir(two.common_root)
    assert h1.instance_names() == ["c1"] and h2.instance_names() == ["c2"]
    # The containers' cgroups are under each host's own parent.
    for h, c in ((h1, "c1"), (h2, "c2")):
        with open(f"/proc/{h.init_pid(c)}/cgroup") as f:
            assert f"/{h.cgroup_parent}/" in f.read()


def test_one_subnet_one_dhcp_authority(two):
    h1, h2 = two.hosts
    v4 = [h1.ipv4("c1"), h2.ipv4("c2")]
    v6 = [h1.ipv6("c1"), h2.ipv6("c2")]
    for a in v4:
        assert a.startswith(two.subnet4 + ".") and 100 <= int(a.rsplit(".", 1)[1]) <= 249, v4
    for a in v6:
        assert a.startswith(two.prefix6 + ":"), v6
    assert v4[0] != v4[1]
    # Both leases come from h1's dnsmasq; h2 serves no DHCP and advertises no router.
    with open(os.path.join(h1.root, "networks", "ferrybr0", "dnsmasq.leases")) as f:
        leases = f.read()
    assert v4[0] in leases and v4[1] in leases
    leases2 = os.path.join(h2.root, "networks", "ferrybr0", "dnsmasq.leases")
    if os.path.exists(leases2):  # at most dnsmasq's own DUID line
        with open(leases2) as f:
            assert [line for line in f if not line.startswith("duid ")] == []
    net2 = h2.api_ok("GET", "/1.0/networks/ferrybr0")["config"]
    assert net2["ipv4.dhcp"] == "false" and net2["bridge.external_interfaces"] == "lab0"
    assert net2["ipv4.address"] == f"{h2.address}/24" and net2["ipv4.nat"] == "false"
    routes = h2.ferry("exec", "c2", "--", "ip", "-6", "route", "show", "default").stdout
    assert len(routes.strip().splitlines()) == 1, routes
    routes4 = h2.ferry("exec", "c2", "--", "ip", "route", "show", "default").stdout
    assert f"via {h1.address} " in routes4


def test_every_container_reachable_from_everywhere(two):
    h1, h2 = two.hosts
    c1, c2 = h1.ipv4("c1"), h2.ipv4("c2")
    c1_6, c2_6 = h1.ipv6("c1"), h2.ipv6("c2")
    for addr in (c1, c2, c1_6, c2_6):
        assert two.client_reaches(addr), f"client cannot reach {addr}"
    assert h1.reaches(c2) and h2.reaches(c1)
    assert h1.reaches(c2_6) and h2.reaches(c1_6)
    # Container to container across hosts, and hosts to each other.
    assert h2.ferry("exec", "c2", "--", "ping", "-c1", "-W2", c1).returncode == 0
    assert h1.reaches(h2.address) and two.client_reaches(h1.address6)


def test_https_from_the_client(two):
    h1, h2 = two.hosts
    for h in (h1, h2):
        out = two.client_run(["curl", "-sk", "--max-time", "10", f"https://{h.https_address}/1.0"]).stdout
        meta = json.loads(out)["metadata"]
        assert meta["auth"] == "untrusted"


def test_remotes_ferry_and_lxc(two):
    h1, h2 = two.hosts
    two.remotes()
    two.remotes()  # idempotent
    assert "| c2   | RUNNING |" in h1.ferry("list", "h2:").stdout
    assert "| c1   | RUNNING |" in h2.ferry("list", "h1:").stdout
    assert "| c2   | RUNNING |" in h1.lxc("list", "h2:").stdout
    assert "| c1   | RUNNING |" in h2.lxc("list", "h1:").stdout
    assert h1.ferry("exec", "h2:c2", "--", "hostname").stdout.strip() == "c2"
    assert f"https://{h2.https_address}" in h1.ferry("remote", "list").stdout
    names = {c["name"] for c in h2.api_ok("GET", "/1.0/certificates?recursion=1")}
    assert names == {"h1", "h1-lxc"}


def test_daemon_kill_and_restart_keeps_containers(two):
    h1, h2 = two.hosts
    c2 = h2.ipv4("c2")
    old = h2.pid
    h2.kill_daemon()
    assert two.client_reaches(c2)  # the container outlives its ferryd
    h2.restart_daemon()
    assert h2.pid != old
    assert h2.instance("c2")["status"] == "Running"
    assert h2.addresses("c2")[0] == c2
    # The bridge is back on the segment and not learning MACs.
    assert h1.reaches(c2) and two.client_reaches(h2.address)
    link = h2.run(["ip", "-d", "link", "show", "ferrybr0"]).stdout
    assert "ageing_time 0 " in link and "master" not in link
    assert "master ferrybr0" in h2.run(["ip", "link", "show", "lab0"]).stdout


def test_second_lab_beside_and_down_leaves_nothing(two):
    """A lab of 3 hosts, no client, sized host directories, while the module's lab runs;
    a ferryd SIGKILLed with its container running; down must still leave nothing."""
    other = Lab(hosts=3, client=False, host_size_mb=64).up()
    try:
        h1, h2, h3 = other.hosts
        st = os.statvfs(h3.root)
        assert 60 * 2**20 <= st.f_blocks * st.f_frsize <= 64 * 2**20
        h3.launch("c3")
        c3 = h3.ipv4("c3")
        assert c3.startswith(other.subnet4 + ".") and other.subnet4 != two.subnet4
        assert h1.reaches(c3) and h2.reaches(c3)
        h3.kill_daemon()
    finally:
        problems = other.down()
    assert problems == [], problems
    # The module's lab did not notice.
    t1, t2 = two.hosts
    assert t1.reaches(t2.ipv4("c2")) and t1.alive() and t2.alive()
