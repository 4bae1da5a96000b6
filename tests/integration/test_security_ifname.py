"""Issue 9, item 15: interface names are written into nftables scripts (iifname "NAME")
and into the monitor's nic specs (name=...,host=...,bridge=...). The kernel takes '"',
';', '{' in a name; ferryd takes only LXD's set, [A-Za-z0-9_.-], 1-15 of them.

Each hostile name below passed the old check. Creating a network, or a nic on an
instance or a profile, with one is a 400 that changes nothing: no network, no link, no
nftables rule, no instance, the profile as it was."""

import json
import os
import subprocess

import pytest

HOSTILE = ['n"0', "n;0", "n{0", "n}0", "n'0", "n,0", "n=0", "n$0", "n\\0", "n%d", "n#0", "n*0", "n\u00e90"]


def links():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(": ")[1].split("@")[0] for line in out.splitlines())


def ruleset():
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout


def network_names(d):
    return sorted(d.api_ok("GET", "/1.0/networks"))


@pytest.mark.parametrize("name", HOSTILE)
def test_network_with_hostile_name(daemon, name):
    before = (network_names(daemon), links())
    status, env = daemon.api("POST", "/1.0/networks", {"name": name, "config": {"ipv4.address": "10.251.3.1/24",
                                                                                "ipv6.address": "none"}})
    assert status == 400 and "network name" in env["error"], env
    assert (network_names(daemon), links()) == before
    assert name not in ruleset()


@pytest.mark.parametrize("name", [n for n in HOSTILE if "," not in n])  # ',' separates the list
def test_external_interface_with_hostile_name(daemon, name):
    before = (network_names(daemon), links())
    status, env = daemon.api("POST", "/1.0/networks", {"name": "fyext0", "config": {
        "ipv4.address": "10.251.4.1/24", "ipv6.address": "none", "bridge.external_interfaces": name}})
    assert status == 400 and "bridge.external_interfaces" in env["error"], env
    assert (network_names(daemon), links()) == before


def default_network(d):
    return [n for n in d.api_ok("GET", "/1.0/networks?recursion=1") if n["name"].startswith("ferrybr")][0]["name"]


NIC_CASES = [(key, name) for key in ("name", "host_name") for name in HOSTILE[:7]] + \
    [("parent", name) for name in HOSTILE[:3]]


@pytest.mark.parametrize("key,name", NIC_CASES, ids=[f"{k}={n}" for k, n in NIC_CASES])
def test_nic_with_hostile_name(daemon, key, name):
    nic = {"type": "nic", "network": default_network(daemon), "name": "eth1"}
    if key == "parent":
        nic = {"type": "nic", "nictype": "bridged", "name": "eth1"}
    nic[key] = name
    before_instances = daemon.api_ok("GET", "/1.0/instances")
    before_disk = sorted(os.listdir(os.path.join(daemon.root, "containers")))
    status, env = daemon.api("POST", "/1.0/instances", {"name": "nic1", "source": {"type": "image",
                                                                                   "alias": "busybox"},
                                                         "devices": {"eth1": nic}})
    assert status == 400 and "eth1" in env["error"], env
    assert daemon.api_ok("GET", "/1.0/instances") == before_instances
    assert sorted(os.listdir(os.path.join(daemon.root, "containers"))) == before_disk

    before_profile = daemon.api_ok("GET", "/1.0/profiles/default")
    status, env = daemon.api("PATCH", "/1.0/profiles/default", {"devices": {"eth1": nic}})
    assert status == 400 and "eth1" in env["error"], env
    after = daemon.api_ok("GET", "/1.0/profiles/default")
    assert json.dumps(after, sort_keys=True) == json.dumps(before_profile, sort_keys=True)
