"""An instance's image metadata.yaml and templates/ (and each snapshot's own) travel with
it between hosts (issue 16): after a live move, a stateless move and a remote copy, by the
stock lxc and by ferry, `lxc config metadata show` and `lxc config template list` on the
target are the source's, a template edited before the move renders at the target's next
start, and a pending volatile.apply_template stays pending. A source whose files are
crafted (a template that is a symlink to a host file, a snapshot's templates pointing
outside) gets nothing of it through: the target refuses or leaves it out, and writes
nothing outside the incoming instance."""

import os

import pytest

from conftest import wait_until

LAB_OPTIONS = {"hosts": 2, "client": False}
MOVE_TIMEOUT = 180

MOTD = "moved={{ instance.name }} trig={{ trigger }}\n"


@pytest.fixture(scope="module")
def lab2(module_lab):
    module_lab.remotes()
    return module_lab


@pytest.fixture
def hosts(lab2):
    h1, h2 = lab2.hosts
    yield h1, h2
    for h in (h1, h2):
        wait_until(lambda: not h.api_ok("GET", "/1.0/operations").get("running"), "no operation running",
                   bound=90)
        for name in h.instance_names():
            h.ferry("delete", name, "--force")


def sh(host, ref, script):
    return host.lxc("exec", ref, "--", "sh", "-c", script).stdout


def with_motd_template(h1, name):
    """NAME (running) gets templates/motd.tpl, rendered to /etc/motd at each start."""
    h1.lxc("config", "template", "create", name, "motd.tpl")
    h1.lxc("config", "template", "edit", name, "motd.tpl", input=MOTD)
    md = h1.lxc("config", "metadata", "show", name).stdout
    md = md.replace("templates:\n", "templates:\n  /etc/motd:\n    when:\n    - start\n"
                    "    template: motd.tpl\n    properties: {}\n", 1)
    h1.lxc("config", "metadata", "edit", name, input=md)


def shown(host, ref):
    return (host.lxc("config", "metadata", "show", ref).stdout,
            host.lxc("config", "template", "list", ref, "--format", "csv").stdout,
            host.lxc("config", "template", "show", ref, "motd.tpl").stdout)


@pytest.mark.parametrize("how", ["live", "stateless", "copy", "ferry-move", "ferry-copy-push"])
def test_metadata_and_templates_travel(hosts, how):
    h1, h2 = hosts
    h1.lxc("launch", "busybox", "c1")
    with_motd_template(h1, "c1")
    h1.lxc("snapshot", "c1", "s1")
    before = shown(h1, "c1")
    assert "motd.tpl" in before[1] and "/etc/motd:" in before[0]
    target = "c1"
    if how == "live":
        h1.lxc("move", "c1", "h2:", timeout=MOVE_TIMEOUT)
    elif how == "stateless":
        h1.lxc("move", "c1", "h2:", "--stateless", timeout=MOVE_TIMEOUT)
    elif how == "copy":
        target = "c2"
        h1.lxc("copy", "c1", "h2:c2", timeout=MOVE_TIMEOUT)
    elif how == "ferry-move":
        h1.ferry("move", "c1", "h2:", timeout=MOVE_TIMEOUT)
    else:
        target = "c2"
        h1.ferry("copy", "c1", "h2:c2", "--mode", "push", timeout=MOVE_TIMEOUT)
    assert shown(h1, f"h2:{target}") == before
    # The snapshot kept its own on the target.
    snap_md = os.path.join(h2.root, "snapshots", target, "s1", "metadata.yaml")
    assert os.path.isfile(snap_md) and "/etc/motd:" in open(snap_md).read()
    # The template renders at the target's next start.
    if h2.instance(target)["status"] == "Running":
        h1.lxc("restart", f"h2:{target}", "--force", timeout=MOVE_TIMEOUT)
    else:
        h1.lxc("start", f"h2:{target}", timeout=MOVE_TIMEOUT)
    assert sh(h1, f"h2:{target}", "cat /etc/motd") == f"moved={target} trig=start\n"
    # As LXD after a migration: the "copy" templates applied at that start (a copy's
    # hostname is its own).
    assert sh(h1, f"h2:{target}", "cat /etc/hostname").strip() == target
    assert h1.lxc("config", "get", f"h2:{target}", "volatile.apply_template").stdout.strip() == ""


def test_pending_apply_template_stays_pending(hosts):
    """A never-started instance (volatile.apply_template=create) moved: the target applies
    the image's templates at its first start, as the source would have."""
    h1, h2 = hosts
    h1.lxc("init", "busybox", "c3")
    assert h1.lxc("config", "get", "c3", "volatile.apply_template").stdout.strip() == "create"
    h1.lxc("move", "c3", "h2:", timeout=MOVE_TIMEOUT)
    assert h1.lxc("config", "get", "h2:c3", "volatile.apply_template").stdout.strip() == "create"
    h1.lxc("start", "h2:c3", timeout=MOVE_TIMEOUT)
    assert sh(h1, "h2:c3", "cat /etc/hostname").strip() == "c3"
    assert h1.lxc("config", "get", "h2:c3", "volatile.apply_template").stdout.strip() == ""


def outside_untouched(h2, canary):
    assert open(canary).read() == "canary\n"


def test_symlinked_template_is_not_followed(hosts, tmp_path):
    """A template on the source that is a symlink to a host file (planted by root on the
    source's disk) is not sent: the target gets the real templates only."""
    h1, h2 = hosts
    h1.lxc("launch", "busybox", "c4")
    tpl_dir = os.path.join(h1.root, "containers", "c4", "templates")
    os.symlink("/etc/shadow", os.path.join(tpl_dir, "evil.tpl"))
    h1.lxc("move", "c4", "h2:", "--stateless", timeout=MOVE_TIMEOUT)
    listed = h1.lxc("config", "template", "list", "h2:c4", "--format", "csv").stdout
    assert "evil.tpl" not in listed and "hostname.tpl" in listed
    assert not os.path.lexists(os.path.join(h2.root, "containers", "c4", "templates", "evil.tpl"))


@pytest.mark.parametrize("planted", ["template-symlink", "templates-dir-symlink", "metadata-symlink"])
def test_snapshot_metadata_pointing_outside_is_refused(hosts, tmp_path, planted):
    """A snapshot whose metadata on the source points outside it: the target refuses the
    move, keeps nothing of it, and nothing outside is written; the source keeps its instance."""
    h1, h2 = hosts
    canary = tmp_path / "canary"
    canary.write_text("canary\n")
    h1.lxc("launch", "busybox", "c5")
    h1.lxc("snapshot", "c5", "s1")
    snap = os.path.join(h1.root, "snapshots", "c5", "s1")
    if planted == "template-symlink":
        os.symlink(str(canary), os.path.join(snap, "templates", "evil.tpl"))
    elif planted == "templates-dir-symlink":
        os.rename(os.path.join(snap, "templates"), os.path.join(snap, "templates.real"))
        os.symlink(str(tmp_path), os.path.join(snap, "templates"))
    else:
        os.unlink(os.path.join(snap, "metadata.yaml"))
        os.symlink(str(canary), os.path.join(snap, "metadata.yaml"))
    r = h1.lxc("move", "c5", "h2:", "--stateless", check=False, timeout=MOVE_TIMEOUT)
    assert r.returncode != 0 and "metadata is refused" in r.stderr, r.stderr
    wait_until(lambda: not h2.api_ok("GET", "/1.0/operations").get("running"), "the target gave up", bound=60)
    assert "c5" not in h2.instance_names() and "c5" in h1.instance_names()
    for d in (os.path.join(h2.root, "containers", "c5"), os.path.join(h2.root, "snapshots", "c5")):
        assert not os.path.exists(d), f"{d} left on the target"
    outside_untouched(h2, str(canary))
    assert sorted(os.listdir(tmp_path)) == ["canary"]


def test_backup_snapshots_keep_their_own_metadata(hosts, tmp_path):
    """An exported backup carries each snapshot's metadata.yaml and templates/ beside its
    rootfs (as LXD's do); imported, the snapshot has its own again, not the instance's."""
    h1, _ = hosts
    h1.lxc("launch", "busybox", "c6")
    with_motd_template(h1, "c6")
    h1.lxc("snapshot", "c6", "s1")
    h1.lxc("config", "template", "edit", "c6", "motd.tpl", input="after the snapshot\n")
    tarball = str(tmp_path / "c6.tar.gz")
    h1.lxc("export", "c6", tarball, timeout=MOVE_TIMEOUT)
    h1.lxc("delete", "c6", "--force")
    h1.lxc("import", tarball, timeout=MOVE_TIMEOUT)
    snap_tpl = os.path.join(h1.root, "snapshots", "c6", "s1", "templates", "motd.tpl")
    assert open(snap_tpl).read() == MOTD
    assert os.path.isfile(os.path.join(h1.root, "snapshots", "c6", "s1", "metadata.yaml"))
    assert h1.lxc("config", "template", "show", "c6", "motd.tpl").stdout == "after the snapshot\n"
    # A restore brings the snapshot's own back.
    h1.lxc("restore", "c6", "s1", timeout=MOVE_TIMEOUT)
    assert h1.lxc("config", "template", "show", "c6", "motd.tpl").stdout == MOTD
