"""The host's set-up, against a real ferryd (issue 9, item 12): ferryd refuses to start
where the cgroup hierarchy is not visible (under `ip netns exec`), and still runs on a
cgroup2-only layout."""

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import types
import uuid

import pytest

from conftest import (FERRYD, SANITIZER_MARKERS, Daemon, _remove_tree, _sanitizer_env, cgroup_parent_dirs,
                      leaked_processes, teardown_daemon)


def test_refuses_to_start_without_cgroup_hierarchy():
    """`ip netns exec` mounts a /sys of its own: no cgroup is visible. ferryd must say so
    and exit, leaving no directory, process or cgroup behind."""
    ns = "ferrytest-" + uuid.uuid4().hex[:8]
    parent = tempfile.mkdtemp(prefix="ferry-test-nocg-", dir="/tmp")
    root = os.path.join(parent, "root")
    cgroup_parent = "ferry-" + hashlib.sha256(root.encode()).hexdigest()[:10]
    left = types.SimpleNamespace(root=root, cgroup_parent=cgroup_parent)
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        try:
            cp = subprocess.run(["ip", "netns", "exec", ns, FERRYD, "--root", root], capture_output=True,
                                text=True, timeout=30, stdin=subprocess.DEVNULL, env=_sanitizer_env())
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"ferryd started without cgroups (still running after 30 s): {e.stderr}")
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=True, timeout=30)
        assert cp.returncode != 0, f"ferryd started without cgroups:\n{cp.stderr}"
        assert "No cgroup hierarchy is mounted on /sys/fs/cgroup" in cp.stderr, cp.stderr
        assert "ip netns exec" in cp.stderr and "nsenter --net=" in cp.stderr, cp.stderr
        assert not any(m in cp.stderr for m in SANITIZER_MARKERS), cp.stderr
        assert not os.path.exists(root), f"ferryd made {os.listdir(root)} before refusing"
        assert not leaked_processes(left)
        assert not cgroup_parent_dirs(cgroup_parent)
    finally:
        # What an older ferryd leaves (its dnsmasq): ours to remove.
        for pid in leaked_processes(left):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def cgroup2_daemon():
    """A ferryd in a private mount namespace where the hybrid layout's cgroup2 is bound on
    /sys/fs/cgroup: the cgroup2-only layout of a Debian 12 host (reference page)."""
    if not os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
        pytest.skip("no hybrid layout: the rest of the suite runs on this host's cgroup2")
    d = Daemon(tempfile.mkdtemp(prefix="ferry-test-", dir="/tmp"))
    d.wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 'mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec "$0" "$@"']
    d.start()
    try:
        yield d
    finally:
        problems = teardown_daemon(d)
        _remove_tree(d, keep_logs=bool(problems))
        if problems:
            pytest.fail("teardown of " + d.root + " found:\n- " + "\n- ".join(problems), pytrace=False)


def test_cgroup2_only_layout_still_works(cgroup2_daemon):
    """The start-up check lets the cgroup2-only layout through: launch, exec and a stateful
    snapshot (a freeze through cgroup.freeze and a CRIU dump) work. (Restoring fails in
    this emulation, before and after issue 9: CRIU writes cpuset.cpus into the cgroup2
    directory, the hybrid kernel's cpuset being bound to v1.)"""
    d = cgroup2_daemon
    assert d.api_ok("GET", "/1.0")["environment"]["cgroup_layout"] == "cgroup2"
    d.launch("v2")
    d.ferry("snapshot", "v2", "s1", "--stateful")
    assert d.instance("v2")["status"] == "Running"
    snap = d.api_ok("GET", "/1.0/instances/v2/snapshots/s1")
    assert snap["stateful"] is True
    assert d.ferry("exec", "v2", "--", "hostname").stdout == "v2\n"
