"""Instance backups: `lxc export` / `lxc import` (LXD's backup tarball layout), with
stateful snapshots that stay restorable, `--instance-only`, import under a new name, the
backups API, hostile tarballs refused with nothing changed, and `ferry export/import`."""

import io
import json
import os
import tarfile
import tempfile

import pytest

import checkpoint_helpers as ch
from conftest import free_port, https, wait_until


@pytest.fixture(scope="module")
def workload_binary():
    with tempfile.TemporaryDirectory() as tmp:
        yield ch.build_workload(tmp)


@pytest.fixture
def tmpdir_path():
    with tempfile.TemporaryDirectory(prefix="ferry-backup-") as tmp:
        yield tmp


def names_in(path):
    with tarfile.open(path) as tf:
        return {m.name.lstrip("./"): m for m in tf.getmembers()}


def entries_under(daemon, sub):
    d = os.path.join(daemon.root, sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def state_of_root(daemon):
    """What an import must leave as it was when it fails."""
    return {
        "instances": sorted(daemon.instance_names()),
        "containers": entries_under(daemon, "containers"),
        "snapshots": entries_under(daemon, "snapshots"),
        "uploads": [e for e in entries_under(daemon, "images") if e.startswith("upload-")],
    }


def test_export_import_stateful_snapshot(daemon, workload_binary, tmpdir_path):
    """lxc export of an instance with a stateless and a stateful snapshot; delete it; lxc
    import; the stateful snapshot restores its processes with their memory intact."""
    name = "bk1"
    ch.launch(daemon, name)
    try:
        w = ch.Workload(daemon, name, workload_binary, mib=16).start()
        w.assert_pass(1, "start")
        daemon.lxc("snapshot", name, "plain", timeout=ch.CR_TIMEOUT)
        daemon.lxc("snapshot", name, "live", "--stateful", timeout=ch.CR_TIMEOUT)
        w.assert_pass(2, "the stateful snapshot")
        tarball = os.path.join(tmpdir_path, "bk1.tar.gz")
        daemon.lxc("export", name, tarball, timeout=ch.CR_TIMEOUT)

        members = names_in(tarball)
        for want in ("backup/index.yaml", "backup/container/backup.yaml", "backup/container/rootfs/bin/busybox",
                     "backup/snapshots/plain/rootfs/bin/busybox", "backup/snapshots/live/rootfs/cr/cr-state"):
            assert want in members, f"{want} not in the tarball: {sorted(members)[:20]}"
        assert any(n.startswith("backup/snapshots/live/state/") for n in members), "no state of the stateful snapshot"
        assert not any(n.startswith("backup/snapshots/plain/state") for n in members)
        with tarfile.open(tarball) as tf:
            index = tf.extractfile("backup/index.yaml").read().decode()
        assert "name: bk1" in index and "backend: dir" in index and "- live" in index, index
        # lxc export removes the backup it made on the server.
        assert daemon.api_ok("GET", f"/1.0/instances/{name}/backups") == []

        ch.delete(daemon, name)
        daemon.lxc("import", tarball, timeout=ch.CR_TIMEOUT)
        snaps = ch.snapshots_of(daemon, name)
        assert set(snaps) == {"plain", "live"}
        assert snaps["live"]["stateful"] is True and snaps["plain"]["stateful"] is False
        assert daemon.instance(name)["status"] == "Stopped"

        daemon.lxc("restore", name, "live", "--stateful", timeout=ch.CR_TIMEOUT)
        assert daemon.instance(name)["status"] == "Running"
        w.assert_pass(2, "restoring the imported stateful snapshot")
        w.assert_alive_inside()
    finally:
        ch.delete(daemon, name)
