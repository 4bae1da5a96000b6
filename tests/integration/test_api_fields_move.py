"""volatile.<nic>.hwaddr across moves (issue 16): a live move (CRIU) and a cold move keep
the instance's MAC, as LXD's `lxc move` does; a copy to another host gets its own."""

import pytest

from conftest import wait_until

LAB_OPTIONS = {"hosts": 2, "client": True}
MOVE_TIMEOUT = 180


@pytest.fixture(scope="module")
def hosts(module_lab):
    module_lab.remotes()
    h1, h2 = module_lab.hosts
    yield h1, h2
    for h in (h1, h2):
        wait_until(lambda: not h.api_ok("GET", "/1.0/operations").get("running"), "no operation running",
                   bound=90)
        for name in h.instance_names():
            h.ferry("delete", name, "--force")


def mac_of(host, name):
    config = host.api_ok("GET", f"/1.0/instances/{name}")["config"]
    return config.get("volatile.eth0.hwaddr"), sorted(k for k in config if k.endswith(".host_name"))


def live_mac(host, name):
    return host.api_ok("GET", f"/1.0/instances/{name}/state")["network"]["eth0"]["hwaddr"]


def test_moves_keep_the_mac(hosts):
    h1, h2 = hosts
    h1.lxc("launch", "busybox", "c1")
    mac, _ = mac_of(h1, "c1")
    assert mac and live_mac(h1, "c1") == mac
    h1.lxc("move", "c1", "h2:", timeout=MOVE_TIMEOUT)
    assert h2.instance("c1")["status"] == "Running"
    assert mac_of(h2, "c1") == (mac, ["volatile.eth0.host_name"])
    assert live_mac(h2, "c1") == mac
    # Stopped, then moved back cold with ferry: still the same MAC, no stale host_name.
    h2.lxc("stop", "c1", "--force")
    assert mac_of(h2, "c1") == (mac, [])
    h1.ferry("move", "h2:c1", "local:", timeout=MOVE_TIMEOUT)
    assert mac_of(h1, "c1") == (mac, [])
    h1.lxc("start", "c1")
    assert live_mac(h1, "c1") == mac
    # A copy is another machine.
    h1.lxc("copy", "c1", "h2:c2", "--stateless", timeout=MOVE_TIMEOUT)
    copied, _ = mac_of(h2, "c2")
    assert copied and copied != mac
