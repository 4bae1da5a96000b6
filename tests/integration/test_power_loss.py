"""A host power loss (issue 12, requirement 4): what ferryd reported done is still done
when the power comes back.

ferryd's root is an ext4 file system on a loop device, mounted with `commit=600`, so the
journal commits only when something asks for it (fsync, syncfs) within the test's time.
Right after an operation returns, the loop device's backing file is copied. That copy is
what the disk held at that instant: what ferryd made durable (its syncfs and fsyncs, and
SQLite's), plus whatever the kernel happened to write back by itself, and none of the
page cache of the file system on the loop device. Then everything of the first ferryd is
stopped and discarded, the copy is mounted at the same place (ext4 replays its journal, as
after a power loss), and a new ferryd starts on it.

What it proves: the operations' results survive without anything the kernel would have
written later. What it does not: a disk that reorders or loses acknowledged writes (the
loop device never does), nor an instant in the middle of an operation (test_crash.py kills
ferryd there; the page cache then survives)."""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from checkpoint_helpers import CR_TIMEOUT, Workload, build_workload, launch, snapshots_of, status_of, tmpdir
from conftest import Daemon, _remove_tree, leaked_processes, teardown_daemon, wait_until


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout.strip()


class LoopRoot:
    """A file system on a loop device mounted at ROOT."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ferry-test-pl-", dir="/tmp")
        self.image = self.root + ".img"
        run("truncate", "-s", "2G", self.image)
        run("mkfs.ext4", "-q", "-F", self.image)
        self.loop = None
        self.mount(self.image)

    def mount(self, image):
        self.loop = run("losetup", "--find", "--show", image)
        run("mount", "-o", "commit=600", self.loop, self.root)

    def unmount(self):
        if self.loop is not None:
            run("umount", self.root)
            run("losetup", "-d", self.loop)
            self.loop = None

    def power_loss_copy(self):
        """The backing file as it is now: what reached the disk, not the page cache above."""
        copy = self.root + ".after.img"
        run("cp", "--sparse=always", self.image, copy)
        return copy


@pytest.fixture
def loop_daemon(request):
    lr = LoopRoot()
    d = Daemon(lr.root)
    d.start()
    d.loop_root = lr
    try:
        yield d
    finally:
        problems = []
        if d.alive():
            problems += [f"could not remove instance {e}" for e in d.remove_all_instances()]
            d.kill(signal.SIGTERM)
        lr.unmount()
        problems += teardown_daemon(d)
        _remove_tree(d, keep_logs=bool(problems))
        for f in (lr.image, lr.root + ".after.img"):
            if os.path.exists(f):
                os.unlink(f)
        if problems:
            pytest.fail("teardown found:\n- " + "\n- ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def workload_bin():
    d = tmpdir()
    yield build_workload(d)
    shutil.rmtree(d, ignore_errors=True)


def running_operations(d):
    ops = d.api_ok("GET", "/1.0/operations?recursion=1")
    return [o for group in ops.values() for o in group if o["status"] == "Running"]


def lose_power(d):
    """The disk as of now comes back under a new ferryd; the old one and all it ran are gone."""
    lr = d.loop_root
    copy = lr.power_loss_copy()
    # The first ferryd and its containers go (cleanly: their cgroups and network too).
    errors = d.remove_all_instances()
    assert not errors, errors
    d.kill(signal.SIGTERM)
    wait_until(lambda: not leaked_processes(d), "the first ferryd's processes to end")
    lr.unmount()
    os.replace(copy, lr.image)
    lr.mount(lr.image)
    d.start()


def test_power_loss_after_a_stateful_stop(loop_daemon, workload_bin):
    """Launch, snapshot, stateful stop: after the power comes back the instance is stopped
    with its state and snapshot, and `start` resumes its processes, memory intact."""
    d = loop_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin, mib=32).start()
    w.assert_pass(what="start")
    # The workload's files are the user's, written long before: on disk like the rest.
    run("sync", "-f", d.root)
    d.ferry("snapshot", "c", "s0")
    d.ferry("stop", "c", "--stateful", timeout=CR_TIMEOUT)
    lose_power(d)
    assert status_of(d, "c")[0] == "Stopped"
    assert d.api_ok("GET", "/1.0/instances/c")["stateful"] is True
    assert list(snapshots_of(d, "c")) == ["s0"]
    d.ferry("start", "c", timeout=CR_TIMEOUT)
    w.assert_pass(what="a power loss after a stateful stop, and a start")


def test_power_loss_after_a_stateful_snapshot(loop_daemon, workload_bin):
    """A stateful snapshot that was reported done can be restored after the power comes back."""
    d = loop_daemon
    launch(d, "c", client="ferry")
    w = Workload(d, "c", workload_bin, mib=32).start()
    w.assert_pass(what="start")
    run("sync", "-f", d.root)
    d.ferry("snapshot", "c", "s1", "--stateful", timeout=CR_TIMEOUT)
    snap_round = w.next_round
    lose_power(d)
    assert list(snapshots_of(d, "c")) == ["s1"]
    # It was running when the power went: the new ferryd starts it again (cold: a power
    # loss took its processes, and it had no saved state of its own).
    wait_until(lambda: status_of(d, "c")[0] == "Running" and not running_operations(d), "c started again")
    d.ferry("restore", "c", "s1", timeout=CR_TIMEOUT)
    w.next_round = snap_round
    w.assert_pass(what="a power loss after a stateful snapshot, and its restore")
