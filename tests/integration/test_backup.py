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

        # The same tarball under another name (lxc import c1.tar.gz c2): restorable too.
        ch.delete(daemon, name)
        daemon.lxc("import", tarball, "bk1b", timeout=ch.CR_TIMEOUT)
        daemon.lxc("restore", "bk1b", "live", "--stateful", timeout=ch.CR_TIMEOUT)
        w.name = "bk1b"
        w.assert_pass(2, "restoring the stateful snapshot imported under another name")
        w.assert_alive_inside()
    finally:
        daemon.lxc("delete", "--force", name, check=False)
        daemon.lxc("delete", "--force", "bk1b", check=False)


def test_instance_only_and_new_name(daemon, tmpdir_path):
    """--instance-only leaves the snapshots out; lxc import under a new name makes a second,
    startable instance beside the first; importing onto a taken name changes nothing."""
    ch.launch(daemon, "bk2")
    try:
        daemon.lxc("snapshot", "bk2", "s0")
        tarball = os.path.join(tmpdir_path, "bk2.tar.gz")
        daemon.lxc("export", "bk2", tarball, "--instance-only")
        members = names_in(tarball)
        assert "backup/container/rootfs/bin/busybox" in members
        assert not any(n.startswith("backup/snapshots/") for n in members), sorted(members)[:10]

        daemon.lxc("import", tarball, "bk2copy")
        assert ch.snapshots_of(daemon, "bk2copy") == {}
        assert set(ch.snapshots_of(daemon, "bk2")) == {"s0"}
        assert daemon.instance("bk2")["status"] == "Running"
        c1, c2 = daemon.instance("bk2"), daemon.instance("bk2copy")
        assert c1["config"]["volatile.uuid"] != c2["config"]["volatile.uuid"]
        assert c1["config"]["volatile.eth0.hwaddr"] != c2["config"].get("volatile.eth0.hwaddr")
        daemon.lxc("start", "bk2copy", timeout=ch.CR_TIMEOUT)
        wait_until(lambda: "boot complete" in ch.console(daemon, "bk2copy"), "bk2copy to boot")
        assert daemon.instance("bk2copy")["config"].get("volatile.eth0.hwaddr") not in (
            None, c1["config"]["volatile.eth0.hwaddr"])
        assert daemon.lxc("exec", "bk2copy", "--", "ls", "/bin/busybox").returncode == 0

        before = state_of_root(daemon)
        cp = daemon.lxc("import", tarball, "bk2copy", check=False)
        assert cp.returncode != 0 and "already exists" in cp.stderr, cp.stderr
        wait_until(lambda: state_of_root(daemon) == before, "nothing changed by the refused import")
        # Without a name, the index's name: taken too.
        cp = daemon.lxc("import", tarball, check=False)
        assert cp.returncode != 0 and "already exists" in cp.stderr, cp.stderr
        wait_until(lambda: state_of_root(daemon) == before, "nothing changed by the refused import")
    finally:
        for n in ("bk2", "bk2copy"):
            daemon.lxc("delete", "--force", n, check=False)


def test_backups_api(daemon, tmpdir_path):
    """The backups endpoints as LXD 5.0 has them: create (named, compression, expiry),
    list, get, rename, export, delete; bad requests are refused."""
    name = "bk3"
    ch.launch(daemon, name)
    try:
        base = f"/1.0/instances/{name}/backups"
        op = daemon.api_ok("POST", base, {"name": "first", "compression_algorithm": "none",
                                          "expires_at": "2099-01-01T00:00:00Z", "optimized_storage": True})
        assert op["resources"]["backups"] == ["/1.0/backups/first"]
        assert daemon.api_ok("GET", base) == [f"{base}/first"]
        b = daemon.api_ok("GET", f"{base}/first")
        assert b["name"] == "first" and b["expires_at"].startswith("2099-01-01")
        assert b["optimized_storage"] is False and b["instance_only"] is False
        assert daemon.instance(name)["backups"][0]["name"] == "first"

        status, data = daemon.request("GET", f"{base}/first/export")
        assert status == 200
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # "none": a plain tar
        assert "backup/container/rootfs/bin/busybox" in tf.getnames()

        daemon.api_ok("POST", f"{base}/first", {"name": "second"})
        assert [x["name"] for x in daemon.api_ok("GET", f"{base}?recursion=1")] == ["second"]
        status, env = daemon.api("GET", f"{base}/first")
        assert status == 404

        # An auto-named one, then one that has expired (pruned when listed).
        op = daemon.api_ok("POST", base, {})
        assert op["resources"]["backups"] == ["/1.0/backups/backup0"]
        daemon.api_ok("POST", base, {"name": "old", "expires_at": "2000-01-01T00:00:00Z"})
        assert sorted(daemon.api_ok("GET", base)) == [f"{base}/backup0", f"{base}/second"]

        for body, why in (({"compression_algorithm": "rar"}, "compression"),
                          ({"name": "a/b"}, "name"), ({"name": "second"}, "exists"),
                          ({"expires_at": "tomorrow"}, "expires_at"), ({"name": 3}, "type")):
            status, env = daemon.api("POST", base, body)
            assert status >= 400 and env["type"] == "error", (why, status, env)

        daemon.api_ok("DELETE", f"{base}/second")
        daemon.api_ok("DELETE", f"{base}/backup0")
        assert daemon.api_ok("GET", base) == []
        status, env = daemon.api("GET", f"{base}/nope/export")
        assert status == 404
    finally:
        ch.delete(daemon, name)


def test_untrusted_https_client_refused(daemon, tmpdir_path):
    """A client without a trusted certificate can neither list, create nor download
    backups, nor import one (refused before its body is read)."""
    import http.client
    from conftest import tls_context

    port = free_port()
    daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": f"127.0.0.1:{port}"}})
    try:
        ch.launch(daemon, "bk4")
        daemon.api_ok("POST", "/1.0/instances/bk4/backups", {"name": "b"})
        for method, path, body in (("GET", "/1.0/instances/bk4/backups", None),
                                   ("POST", "/1.0/instances/bk4/backups", {"name": "x"}),
                                   ("GET", "/1.0/instances/bk4/backups/b/export", None),
                                   ("DELETE", "/1.0/instances/bk4/backups/b", None)):
            status, env = https(port, method, path, body)
            assert status == 403, (method, path, status, env)
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context(), timeout=30)
        try:
            conn.request("POST", "/1.0/instances", body=b"x" * 100000,
                         headers={"Content-Type": "application/octet-stream"})
            resp = conn.getresponse()
            assert resp.status == 403
        finally:
            conn.close()
        assert [x["name"] for x in daemon.api_ok("GET", "/1.0/instances/bk4/backups?recursion=1")] == ["b"]
        assert not [e for e in entries_under(daemon, "images") if e.startswith("upload-")]
    finally:
        daemon.api_ok("PATCH", "/1.0", {"config": {"core.https_address": ""}})
        daemon.lxc("delete", "--force", "bk4", check=False)


# --- hostile tarballs, built here ------------------------------------------------------

BACKUP_YAML = """container:
  name: hostile
  architecture: x86_64
  config: {}
  devices: {}
  ephemeral: false
  profiles:
  - default
  stateful: false
  description: ""
snapshots: []
"""
INDEX_YAML = "name: hostile\nbackend: dir\npool: default\noptimized: false\noptimized_header: false\ntype: container\n"
MARK_DIR = "/tmp/ferry-bk-target"


def _add(tf, name, data=None, **kw):
    ti = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(ti, k, v)
    if data is not None:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)


def build_tarball(path, extra=(), index=INDEX_YAML, backup_yaml=BACKUP_YAML):
    with tarfile.open(path, "w:gz") as tf:
        _add(tf, "backup", type=tarfile.DIRTYPE, mode=0o755)
        _add(tf, "backup/index.yaml", index.encode())
        _add(tf, "backup/container", type=tarfile.DIRTYPE, mode=0o755)
        _add(tf, "backup/container/backup.yaml", backup_yaml.encode())
        _add(tf, "backup/container/rootfs", type=tarfile.DIRTYPE, mode=0o755)
        _add(tf, "backup/container/rootfs/etc", type=tarfile.DIRTYPE, mode=0o755)
        _add(tf, "backup/container/rootfs/etc/hostname", b"hostile\n")
        for name, data, kw in extra:
            _add(tf, name, data, **kw)
    return path


HOSTILE = {
    "dotdot": [("backup/container/rootfs/../../../../../../tmp/ferry-bk-target/escaped", b"x", {})],
    "absolute": [("/tmp/ferry-bk-target/absolute", b"x", {})],
    "symlink-then-write": [
        ("backup/container/rootfs/evil", None, {"type": tarfile.SYMTYPE, "linkname": MARK_DIR}),
        ("backup/container/rootfs/evil/through", b"x", {})],
    "symlink-dir-then-write": [
        ("backup/container/rootfs/evil2", None, {"type": tarfile.SYMTYPE, "linkname": "../../../../../../tmp"}),
        ("backup/container/rootfs/evil2/ferry-bk-target/through2", b"x", {})],
    "char-device": [("backup/container/rootfs/dev/sda", None, {"type": tarfile.CHRTYPE, "devmajor": 8})],
    "block-device": [("backup/container/rootfs/blk", None, {"type": tarfile.BLKTYPE, "devmajor": 8})],
    "fifo": [("backup/container/rootfs/fifo", None, {"type": tarfile.FIFOTYPE})],
    "hardlink-absolute": [("backup/container/rootfs/shadow", None, {"type": tarfile.LNKTYPE,
                                                                    "linkname": "/etc/shadow"})],
    "hardlink-dotdot": [("backup/container/rootfs/shadow", None, {"type": tarfile.LNKTYPE,
                                                                  "linkname": "../../../../etc/shadow"})],
    "hardlink-other-tree": [("backup/container/metadata.yaml", b"x", {}),
                            ("backup/container/rootfs/md", None, {"type": tarfile.LNKTYPE,
                                                                  "linkname": "backup/container/metadata.yaml"})],
    "outside-backup": [("etc/passwd", b"x", {})],
    "rootfs-is-symlink": [("backup/snapshots/s/rootfs", None, {"type": tarfile.SYMTYPE, "linkname": "/"})],
}


def assert_refused(daemon, path, want=None):
    before = state_of_root(daemon)
    cp = daemon.lxc("import", path, check=False, timeout=ch.CR_TIMEOUT)
    assert cp.returncode != 0, f"{path} was imported: {cp.stdout}"
    if want:
        assert want in cp.stderr, cp.stderr
    wait_until(lambda: state_of_root(daemon) == before, "the refused import to leave nothing",
               bound=30)
    assert "hostile" not in daemon.instance_names()
    return cp.stderr


def test_hostile_tarballs_refused(daemon, tmpdir_path):
    os.makedirs(MARK_DIR, exist_ok=True)
    try:
        # The base tarball is fine: what fails below fails for its one bad entry.
        good = build_tarball(os.path.join(tmpdir_path, "good.tar.gz"))
        daemon.lxc("import", good)
        assert daemon.instance("hostile")["status"] == "Stopped"
        daemon.lxc("delete", "hostile")

        errors = {}
        for case, extra in HOSTILE.items():
            path = build_tarball(os.path.join(tmpdir_path, f"{case}.tar.gz"), extra)
            errors[case] = assert_refused(daemon, path)
        assert os.listdir(MARK_DIR) == [], os.listdir(MARK_DIR)
        assert "device node" in errors["char-device"] and "fifo" in errors["fifo"]
        assert "beneath" in errors["symlink-then-write"] or "symlink" in errors["symlink-then-write"]
        assert ".." in errors["dotdot"] and "absolute" in errors["absolute"]

        # Truncated, bad YAML, nonsense.
        with open(good, "rb") as f:
            data = f.read()
        trunc = os.path.join(tmpdir_path, "trunc.tar.gz")
        with open(trunc, "wb") as f:
            f.write(data[: len(data) // 2])
        assert_refused(daemon, trunc)
        junk = os.path.join(tmpdir_path, "junk.tar.gz")
        with open(junk, "wb") as f:
            f.write(os.urandom(5000))
        assert_refused(daemon, junk)
        assert_refused(daemon, build_tarball(os.path.join(tmpdir_path, "badidx.tar.gz"),
                                             index="name: [unclosed\n"), "index.yaml")
        assert_refused(daemon, build_tarball(os.path.join(tmpdir_path, "badyaml.tar.gz"),
                                             backup_yaml="container: {name: x\n"), "backup.yaml")
        assert_refused(daemon, build_tarball(os.path.join(tmpdir_path, "badname.tar.gz"),
                                             index=INDEX_YAML.replace("name: hostile", "name: ../x")))
        assert_refused(daemon, build_tarball(
            os.path.join(tmpdir_path, "badconfig.tar.gz"),
            backup_yaml=BACKUP_YAML.replace("config: {}", "config: {raw.lxc: 'lxc.hook.pre-start = /bin/sh'}")))
        # A snapshot described but absent, and one present but not described.
        assert_refused(daemon, build_tarball(
            os.path.join(tmpdir_path, "nosnap.tar.gz"),
            backup_yaml=BACKUP_YAML.replace("snapshots: []", "snapshots:\n- name: s0\n  config: {}\n")))
        assert_refused(daemon, build_tarball(
            os.path.join(tmpdir_path, "extrasnap.tar.gz"),
            [("backup/snapshots/s0/rootfs", None, {"type": tarfile.DIRTYPE})]))
    finally:
        daemon.lxc("delete", "--force", "hostile", check=False)
        for e in os.listdir(MARK_DIR):
            os.unlink(os.path.join(MARK_DIR, e))
        os.rmdir(MARK_DIR)


def test_ferry_client_export_import(daemon, tmpdir_path):
    """ferry export / ferry import, and the tarball of one client imported by the other."""
    ch.launch(daemon, "bk5", client="ferry")
    try:
        daemon.ferry("snapshot", "bk5", "s0")
        tarball = os.path.join(tmpdir_path, "bk5.tar.xz")
        out = daemon.ferry("export", "bk5", tarball, "--compression", "xz").stdout
        assert "exported" in out
        with open(tarball, "rb") as f:
            assert f.read(6) == b"\xfd7zXZ\x00"
        assert "backup/snapshots/s0/rootfs/bin/busybox" in names_in(tarball)
        assert daemon.api_ok("GET", "/1.0/instances/bk5/backups") == []
        daemon.ferry("import", tarball, "bk5b")
        assert set(ch.snapshots_of(daemon, "bk5b")) == {"s0"}
        cp = daemon.ferry("import", tarball, "bk5b", check=False)
        assert cp.returncode != 0 and "already exists" in cp.stderr
        # lxc's tarball through ferry, ferry's through lxc.
        lxc_tarball = os.path.join(tmpdir_path, "bk5-lxc.tar.gz")
        daemon.lxc("export", "bk5", lxc_tarball, "--instance-only")
        daemon.ferry("import", lxc_tarball, "bk5c")
        daemon.lxc("import", tarball, "bk5d")
        assert set(ch.snapshots_of(daemon, "bk5d")) == {"s0"} and ch.snapshots_of(daemon, "bk5c") == {}
        listed = daemon.ferry("list", "-c", "n", "-f", "csv").stdout.split()
        assert {"bk5", "bk5b", "bk5c", "bk5d"} <= set(listed), listed
    finally:
        for n in ("bk5", "bk5b", "bk5c", "bk5d"):
            daemon.lxc("delete", "--force", n, check=False)


def test_ferryd_killed_mid_import(own_daemon, tmpdir_path):
    """ferryd killed after an import moved its directories into place but before it recorded
    the rows: the next start shows no instance and removes the files; the import then works."""
    import signal
    d = own_daemon
    ch.launch(d, "bk6")
    d.lxc("snapshot", "bk6", "s0")
    tarball = os.path.join(tmpdir_path, "bk6.tar.gz")
    d.lxc("export", "bk6", tarball)
    ch.delete(d, "bk6")

    d.kill(signal.SIGTERM)
    d.env = {"FERRY_TEST_CRASH_AT": "import-backup-after-move"}
    d.start()
    cp = d.lxc("import", tarball, check=False, timeout=ch.CR_TIMEOUT)
    wait_until(lambda: not d.alive(), "ferryd to die mid-import")
    assert d.proc.returncode == -signal.SIGKILL and cp.returncode != 0
    assert os.path.isdir(os.path.join(d.root, "containers", "bk6")), "the crash point is not where it should be"
    d.stopped_by_test = True
    d.env = {}
    d.start()
    assert "bk6" not in d.instance_names()
    for sub in ("containers", "snapshots"):
        assert entries_under(d, sub) == [], (sub, entries_under(d, sub))
    assert not [e for e in entries_under(d, "images") if e.startswith("upload-")]
    d.lxc("import", tarball, timeout=ch.CR_TIMEOUT)
    assert set(ch.snapshots_of(d, "bk6")) == {"s0"}
    ch.delete(d, "bk6")


def rss_anon_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def ferryd_is_sanitized():
    from conftest import FERRYD
    with open(FERRYD, "rb") as f:
        return b"__asan_init" in f.read()


def test_large_backup_streams(daemon, tmpdir_path):
    """A 192 MiB file goes out (export) and back in (import) without ferryd holding it in
    its heap: its anonymous memory grows by far less than the file."""
    if ferryd_is_sanitized():
        pytest.skip("ASan's quarantine keeps freed upload chunks: RSS says nothing here")
    name = "bk7"
    ch.launch(daemon, name)
    try:
        big = os.path.join(ch.rootfs(daemon, name), "big")
        with open(big, "wb") as f:
            for _ in range(192):
                f.write(os.urandom(1 << 20))
        tarball = os.path.join(tmpdir_path, "bk7.tar")
        before = rss_anon_kib(daemon.pid)
        daemon.lxc("export", name, tarball, "--compression", "none", timeout=ch.CR_TIMEOUT)
        grown_export = rss_anon_kib(daemon.pid) - before
        assert os.path.getsize(tarball) > 192 << 20
        ch.delete(daemon, name)
        before = rss_anon_kib(daemon.pid)
        daemon.lxc("import", tarball, timeout=ch.CR_TIMEOUT)
        grown_import = rss_anon_kib(daemon.pid) - before
        print(f"ferryd RssAnon grew {grown_export} KiB by the export, {grown_import} KiB by the import")
        assert grown_export < 64 << 10 and grown_import < 64 << 10, (grown_export, grown_import)
        assert os.path.getsize(big) == 192 << 20
    finally:
        daemon.lxc("delete", "--force", name, check=False)


def test_stateful_stop_survives_export_import(daemon, workload_binary, tmpdir_path):
    """An instance stopped with its state is exported with it; imported, `lxc start`
    resumes its processes."""
    name = "bk8"
    ch.launch(daemon, name)
    try:
        w = ch.Workload(daemon, name, workload_binary, mib=16).start()
        w.assert_pass(1, "start")
        daemon.lxc("stop", name, "--stateful", timeout=ch.CR_TIMEOUT)
        tarball = os.path.join(tmpdir_path, "bk8.tar.gz")
        daemon.lxc("export", name, tarball, timeout=ch.CR_TIMEOUT)
        assert any(n.startswith("backup/container/state/") for n in names_in(tarball))
        ch.delete(daemon, name)
        daemon.lxc("import", tarball, timeout=ch.CR_TIMEOUT)
        assert daemon.instance(name)["stateful"] is True
        daemon.lxc("start", name, timeout=ch.CR_TIMEOUT)
        w.assert_pass(2, "starting the imported instance from its saved state")
        w.assert_alive_inside()
    finally:
        daemon.lxc("delete", "--force", name, check=False)


def test_export_of_hostile_rootfs(daemon, tmpdir_path):
    """Root in the container makes a fifo (whose opening would block ferryd's export) and
    nests directories deeper than the export walks: the export fails cleanly on the nest,
    ferryd lives on, and once the nest is gone the export succeeds without the fifo."""
    name = "bk9"
    ch.launch(daemon, name)
    try:
        daemon.lxc("exec", name, "--", "sh", "-c",
                   "cd / && mkfifo /fifo && i=0; while [ $i -lt 1100 ]; do mkdir n; cd n; i=$((i+1)); done")
        tarball = os.path.join(tmpdir_path, "bk9.tar.gz")
        cp = daemon.lxc("export", name, tarball, check=False, timeout=ch.CR_TIMEOUT)
        assert cp.returncode != 0 and "nested deeper" in cp.stderr, cp.stderr
        assert daemon.api_ok("GET", f"/1.0/instances/{name}/backups") == []
        daemon.lxc("exec", name, "--", "rm", "-rf", "/n")
        daemon.lxc("export", name, tarball, timeout=ch.CR_TIMEOUT)
        members = names_in(tarball)
        assert "backup/container/rootfs/bin/busybox" in members
        assert "backup/container/rootfs/fifo" not in members
    finally:
        daemon.lxc("delete", "--force", name, check=False)


def test_ferryd_killed_mid_backup(own_daemon, tmpdir_path):
    """ferryd killed while it writes a backup: no backup is listed afterwards, the instance
    is not left busy, and the next backup removes what the killed one left."""
    import signal
    d = own_daemon
    ch.launch(d, "bk10")
    d.kill(signal.SIGTERM)
    d.env = {"FERRY_TEST_CRASH_AT": "backup-before-rename"}
    d.start()
    status, env = d.api("POST", "/1.0/instances/bk10/backups", {"name": "b"})
    wait_until(lambda: not d.alive(), "ferryd to die mid-backup")
    assert d.proc.returncode == -signal.SIGKILL
    d.stopped_by_test = True
    d.env = {}
    d.start()
    backups_dir = os.path.join(d.root, "containers", "bk10", "backups")
    assert [e for e in os.listdir(backups_dir) if e.startswith(".tmp-")], os.listdir(backups_dir)
    assert d.api_ok("GET", "/1.0/instances/bk10/backups") == []
    d.api_ok("POST", "/1.0/instances/bk10/backups", {"name": "b"})
    assert os.listdir(backups_dir) == ["b"], os.listdir(backups_dir)
    ch.delete(d, "bk10")


def test_import_larger_than_the_disk_is_refused(daemon):
    """An upload declaring more bytes than the disk has room for is refused before a byte of
    it is written."""
    import http.client
    from conftest import UnixHTTPConnection

    before = state_of_root(daemon)
    conn = UnixHTTPConnection(daemon.socket, timeout=30)
    try:
        conn.putrequest("POST", "/1.0/instances")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(1 << 50))
        conn.endheaders()
        conn.send(b"x" * 4096)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 507 and "free space" in body["error"], (resp.status, body)
    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected) as e:
        pytest.fail(f"no answer before the connection closed: {e}")
    finally:
        conn.close()
    assert state_of_root(daemon) == before
