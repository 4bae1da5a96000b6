"""A snapshot restore brings back the snapshot's config, devices, profiles and description,
as LXD 5.0.2's Restore does (lxd/instance/drivers/driver_lxc.go), with the instance's
volatile keys (its MAC) kept; a ferryd killed mid-restore leaves rootfs and config from
the same side (docs/durability.md)."""
import os
import signal

import pytest

from checkpoint_helpers import CR_TIMEOUT, launch
from conftest import wait_until


def run(d, client, *args):
    return (d.lxc if client == "lxc" else d.ferry)(*args, timeout=CR_TIMEOUT)


def own(d, name):
    return d.api_ok("GET", f"/1.0/instances/{name}")


def changed_after_snapshot(d, client, name):
    """Snapshot s0 of NAME, then its config, devices, profiles and description changed."""
    run(d, client, "config", "set", name, "user.kept", "before")
    d.api_ok("PATCH", f"/1.0/instances/{name}", {"description": "before"})
    before = own(d, name)
    run(d, client, "snapshot", name, "s0")
    run(d, client, "config", "set", name, "user.kept", "after")
    run(d, client, "config", "set", name, "user.added", "yes")
    d.api_ok("PATCH", f"/1.0/instances/{name}", {
        "description": "after",
        "devices": {"scratch": {"type": "disk", "source": "/tmp", "path": "/mnt/scratch"}},
    })
    if "p-extra" not in [u.rsplit("/", 1)[1] for u in d.api_ok("GET", "/1.0/profiles")]:
        d.api_ok("POST", "/1.0/profiles", {"name": "p-extra", "config": {"user.profile": "x"}})
    d.api_ok("PATCH", f"/1.0/instances/{name}", {"profiles": ["default", "p-extra"]})
    return before


def assert_restored(after, before):
    # LXD 5.0.2 records no description with a snapshot: its restore leaves "".
    assert after["description"] == ""
    assert after["config"].get("user.kept") == "before", after["config"]
    assert "user.added" not in after["config"], after["config"]
    assert "scratch" not in after["devices"], after["devices"]
    assert after["profiles"] == before["profiles"]
    assert after["config"].get("volatile.eth0.hwaddr") == before["config"].get("volatile.eth0.hwaddr")


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_restore_of_a_stopped_instance_brings_back_its_config(daemon, client):
    name = f"rs-{client}"
    d = daemon
    d.launch(name, start=False)
    before = changed_after_snapshot(d, client, name)
    run(d, client, "restore", name, "s0")
    assert_restored(own(d, name), before)
    d.lxc("delete", "--force", name, timeout=CR_TIMEOUT)


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_restore_of_a_running_instance_restarts_it_with_the_snapshots_config(daemon, client):
    name = f"rr-{client}"
    d = daemon
    launch(d, name, client=client)
    before = changed_after_snapshot(d, client, name)
    run(d, client, "restore", name, "s0")
    after = own(d, name)
    assert_restored(after, before)
    assert after["status"] == "Running"
    d.lxc("delete", "--force", name, timeout=CR_TIMEOUT)


@pytest.mark.parametrize("client", ["lxc", "ferry"])
def test_stateful_restore_brings_back_the_config(daemon, client):
    name = f"rf-{client}"
    d = daemon
    launch(d, name, client=client)
    run(d, client, "config", "set", name, "user.kept", "before")
    hwaddr = own(d, name)["config"]["volatile.eth0.hwaddr"]
    run(d, client, "snapshot", name, "s1", "--stateful")
    run(d, client, "config", "set", name, "user.kept", "after")
    d.api_ok("PATCH", f"/1.0/instances/{name}", {"description": "after"})
    run(d, client, "restore", name, "s1", "--stateful")
    after = own(d, name)
    assert after["status"] == "Running"
    assert after["config"]["user.kept"] == "before"
    assert after["description"] == ""
    assert after["config"]["volatile.eth0.hwaddr"] == hwaddr
    d.lxc("delete", "--force", name, timeout=CR_TIMEOUT)


def restart(d, crash_at=None):
    if d.alive():
        d.kill(signal.SIGTERM)
    d.env = {"FERRY_TEST_CRASH_AT": crash_at} if crash_at else {}
    d.start()


def crash_during(d, point, *cmd):
    restart(d, point)
    cp = d.ferry(*cmd, check=False, timeout=CR_TIMEOUT)
    wait_until(lambda: not d.alive(), f"ferryd to die at {point}")
    assert d.proc.returncode == -signal.SIGKILL, f"ferryd exited {d.proc.returncode}: {cp.stderr}"
    d.stopped_by_test = True
    restart(d)


@pytest.mark.parametrize("point,restored", [("restore-after-stop", False), ("restore-before-config", True)])
def test_ferryd_killed_during_a_restore_leaves_rootfs_and_config_together(own_daemon, point, restored):
    """Killed after the rootfs swap, before the config's commit: the recovery commits the
    snapshot's config (the swap's marker says so). Killed before the swap: both stay old."""
    d = own_daemon
    launch(d, "c", client="ferry")
    d.ferry("config", "set", "c", "user.kept", "before")
    d.lxc("exec", "c", "--", "sh", "-c", "echo before > /root/mark")
    d.ferry("snapshot", "c", "s0")
    d.ferry("config", "set", "c", "user.kept", "after")
    d.lxc("exec", "c", "--", "sh", "-c", "echo after > /root/mark")
    crash_during(d, point, "restore", "c", "s0")
    rootfs_mark = open(os.path.join(d.root, "containers", "c", "rootfs", "root", "mark")).read().strip()
    config = own(d, "c")["config"]
    assert rootfs_mark == ("before" if restored else "after")
    assert config["user.kept"] == rootfs_mark
    assert not os.path.exists(os.path.join(d.root, "containers", "c", "restore-swap"))
    d.ferry("restore", "c", "s0", timeout=CR_TIMEOUT)
    assert own(d, "c")["config"]["user.kept"] == "before"
