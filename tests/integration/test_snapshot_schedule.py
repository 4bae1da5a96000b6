"""Scheduled snapshots and their expiry, as LXD 5.0: snapshots.schedule,
snapshots.schedule.stopped, snapshots.pattern, snapshots.expiry, expires_at.

ferryd runs here on its test clock (FERRY_TEST_SCHEDULE_MINUTE_SECONDS): the
scheduler's minute lasts 2 seconds, so `* * * * *` fires every 2 seconds and an
expiry of 1M passes in 2 seconds. Everything is checked through the stock lxc
client, ferry, and the API; bounds only turn a hang into a failure.
"""

import json
import os
import re
import signal

import pytest

from conftest import wait_until

TICK = "2"
BOUND = 60.0


@pytest.fixture(scope="module")
def sched(daemon):
    """The module's ferryd, restarted on the test clock."""
    daemon.kill(signal.SIGTERM)
    daemon.env["FERRY_TEST_SCHEDULE_MINUTE_SECONDS"] = TICK
    daemon.start()
    return daemon


def calm(client, *args, **kw):
    """CLIENT (d.lxc or d.ferry) with ARGS, again while the instance is busy
    with a scheduled snapshot: Ferry runs one operation per instance at a
    time, and here the schedule fires every 2 seconds."""
    result = {}

    def attempt():
        cp = client(*args, check=False, **kw)
        result["cp"] = cp
        if cp.returncode != 0 and "busy" not in cp.stderr:
            raise AssertionError(f"{args} exited {cp.returncode}: {cp.stderr}")
        return cp.returncode == 0

    wait_until(attempt, f"{args} once the instance is not busy", bound=BOUND)
    return result["cp"]


def snapshots(d, name):
    """{snapshot name: its JSON} of instance NAME."""
    snaps = d.api_ok("GET", f"/1.0/instances/{name}/snapshots?recursion=1")
    return {s["name"]: s for s in snaps}


def config_of(d, name):
    return d.api_ok("GET", f"/1.0/instances/{name}")["config"]


def unset_schedule(d, name):
    calm(d.lxc, "config", "unset", name, "snapshots.schedule")


BAD = [
    ("snapshots.schedule", "every hour", "must be of the form"),
    ("snapshots.schedule", "61 * * * *", "minute"),
    ("snapshots.schedule", "* 24 * * *", "hour"),
    ("snapshots.schedule", "* * * 13 *", "month"),
    ("snapshots.schedule", "* * * * 8", "day of week"),
    ("snapshots.schedule", "*/0 * * * *", "step"),
    ("snapshots.schedule", "@every 1h", "@every"),
    ("snapshots.schedule", "@daily,@hourly", "@daily,@hourly"),
    ("snapshots.schedule.stopped", "maybe", "snapshots.schedule.stopped"),
    ("snapshots.expiry", "1x", "expiry"),
    ("snapshots.expiry", "1d 1d", "expiry"),
    ("snapshots.expiry", "1d -2H", "expiry"),
    ("snapshots.pattern", "snap%d%d", "only once"),
    ("snapshots.pattern", "a/b%d", "not a valid snapshot name"),
    ("snapshots.pattern", "{{ creation_date }}", "Unsupported template"),
    ("snapshots.pattern", "{% if 1 %}x{% endif %}", "Unsupported template"),
    ("snapshots.pattern", "{{ creation_date|date:'../2006' }}", "not a valid snapshot name"),
]

GOOD = [
    ("snapshots.schedule", "@hourly"),
    ("snapshots.schedule", "@startup, @daily"),
    ("snapshots.schedule", "0 6 * * *, 30 18 * * mon-fri"),
    ("snapshots.schedule", "*/15 0-6,22-23 1,15 jan-jun ?"),
    ("snapshots.schedule", "@never"),
    ("snapshots.schedule.stopped", "true"),
    ("snapshots.expiry", "1M 2H 3d 4w 5m 6y"),
    ("snapshots.pattern", "{{ creation_date|date:'2006-01-02_15-04-05' }}"),
    ("snapshots.pattern", "daily-%d"),
]


def test_bad_values_refused_and_nothing_changed(sched, ferry_client):
    d = sched
    d.lxc("init", "busybox", "v1")
    d.lxc("profile", "create", "schedprof")
    try:
        before = config_of(d, "v1")
        for key, value, mention in BAD:
            for client in (d.lxc, d.ferry):
                cp = client("config", "set", "v1", key, value, check=False)
                assert cp.returncode != 0, (key, value, cp.stdout)
                assert mention.lower() in cp.stderr.lower(), (key, value, cp.stderr)
            cp = d.lxc("profile", "set", "schedprof", key, value, check=False)
            assert cp.returncode != 0 and mention.lower() in cp.stderr.lower(), (key, value, cp.stderr)
            status, env = d.api("PATCH", "/1.0/instances/v1", {"config": {key: value}})
            assert status == 400 and key in env["error"], (key, value, status, env)
        assert config_of(d, "v1") == before
        assert "snapshots" not in json.dumps(d.api_ok("GET", "/1.0/profiles/schedprof")["config"])
        for key, value in GOOD:
            d.lxc("config", "set", "v1", key, value)
            assert config_of(d, "v1")[key] == value
            d.ferry("config", "set", "v1", key, value)
            d.lxc("profile", "set", "schedprof", key, value)
        unset_schedule(d, "v1")
    finally:
        calm(d.lxc, "delete", "v1", "--force")
        d.lxc("profile", "delete", "schedprof")


def test_schedule_makes_snapshots_named_by_pattern(sched):
    d = sched
    d.lxc("launch", "busybox", "s1")
    try:
        d.lxc("config", "set", "s1", "snapshots.pattern", "auto%d")
        d.lxc("config", "set", "s1", "snapshots.schedule", "* * * * *")
        wait_until(lambda: {"auto0", "auto1", "auto2"} <= set(snapshots(d, "s1")), "three scheduled snapshots",
                   bound=BOUND)
        unset_schedule(d, "s1")
        snaps = snapshots(d, "s1")
        assert all(re.fullmatch(r"auto\d+", n) for n in snaps), snaps
        assert not any(s["stateful"] for s in snaps.values())
        assert all(s["expires_at"].startswith("0001-01-01") for s in snaps.values())
        # The snapshot is a real one: its rootfs is there and it restores.
        calm(d.lxc, "restore", "s1", "auto0")
        # An unnamed lxc snapshot follows the pattern too.
        calm(d.lxc, "snapshot", "s1")
        after = set(snapshots(d, "s1"))
        assert len(after - set(snaps)) == 1 and all(re.fullmatch(r"auto\d+", n) for n in after), after
        # The operation and its events were those of `lxc snapshot`: it is listed in lxc's table.
        out = d.lxc("info", "s1").stdout
        assert "auto0" in out and "auto1" in out
    finally:
        calm(d.lxc, "delete", "s1", "--force")


def test_date_pattern(sched):
    d = sched
    d.lxc("launch", "busybox", "s2")
    try:
        d.lxc("config", "set", "s2", "snapshots.pattern", "{{ creation_date|date:'2006-01-02_15-04-05' }}")
        d.lxc("config", "set", "s2", "snapshots.schedule", "* * * * *")
        wait_until(lambda: len(snapshots(d, "s2")) >= 2, "two dated snapshots", bound=BOUND)
        unset_schedule(d, "s2")
        for name in snapshots(d, "s2"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(-\d+)?", name), name
    finally:
        calm(d.lxc, "delete", "s2", "--force")


def test_stopped_instances_only_with_schedule_stopped(sched):
    d = sched
    d.lxc("launch", "busybox", "run1")
    d.lxc("init", "busybox", "off1")
    try:
        for name in ("run1", "off1"):
            calm(d.lxc, "config", "set", name, "snapshots.schedule", "* * * * *")
        # run1 is the clock: while it gets three snapshots, off1 gets none.
        wait_until(lambda: len(snapshots(d, "run1")) >= 3, "snapshots of the running instance", bound=BOUND)
        assert snapshots(d, "off1") == {}
        calm(d.ferry, "config", "set", "off1", "snapshots.schedule.stopped", "true")
        wait_until(lambda: len(snapshots(d, "off1")) >= 1, "a snapshot of the stopped instance", bound=BOUND)
        assert d.instance("off1")["status"] == "Stopped"
    finally:
        calm(d.lxc, "delete", "run1", "--force")
        calm(d.lxc, "delete", "off1", "--force")


def test_expiry_sets_expires_at_and_prunes(sched):
    d = sched
    d.lxc("launch", "busybox", "e1")
    try:
        d.lxc("config", "set", "e1", "snapshots.expiry", "3M")
        # Without --no-expiry a manual snapshot gets snapshots.expiry too (LXD's rule).
        d.lxc("snapshot", "e1", "manual")
        d.lxc("snapshot", "e1", "keep", "--no-expiry")
        snaps = snapshots(d, "e1")
        assert not snaps["manual"]["expires_at"].startswith("0001"), snaps["manual"]
        assert snaps["keep"]["expires_at"].startswith("0001"), snaps["keep"]
        # lxc info shows the expiry in its table.
        year = snaps["manual"]["expires_at"][:4]
        for client in (d.lxc, d.ferry):
            out = client("info", "e1").stdout
            rows = [line for line in out.splitlines() if "manual" in line]
            assert rows and year in rows[0], out
        d.lxc("config", "set", "e1", "snapshots.schedule", "* * * * *")
        wait_until(lambda: any(n.startswith("snap") for n in snapshots(d, "e1")), "a scheduled snapshot",
                   bound=BOUND)
        first = sorted(n for n in snapshots(d, "e1") if n.startswith("snap"))[0]
        assert not snapshots(d, "e1")[first]["expires_at"].startswith("0001")
        wait_until(lambda: first not in snapshots(d, "e1"), "the expired scheduled snapshot pruned", bound=BOUND)
        wait_until(lambda: "manual" not in snapshots(d, "e1"), "the expired manual snapshot pruned", bound=BOUND)
        unset_schedule(d, "e1")
        assert "keep" in snapshots(d, "e1")
        # A bad expires_at is refused, and changes nothing.
        for method, path in (("PUT", "/1.0/instances/e1/snapshots/keep"), ("POST", "/1.0/instances/e1/snapshots")):
            status, env = d.api(method, path, {"name": "x", "expires_at": "tomorrow"})
            assert status == 400 and "expires_at" in env["error"], (method, status, env)
        assert snapshots(d, "e1")["keep"]["expires_at"].startswith("0001") and "x" not in snapshots(d, "e1")
        # expires_at set on one snapshot (lxc config edit, a PUT) is pruned likewise.
        calm(d.lxc, "config", "edit", "e1/keep", input="expires_at: 2001-01-01T00:00:00Z\n")
        wait_until(lambda: "keep" not in snapshots(d, "e1"), "the snapshot whose expires_at passed", bound=BOUND)
        status, env = d.api("PUT", "/1.0/instances/e1/snapshots/none", {"expires_at": "x"})
        assert status == 404
    finally:
        calm(d.lxc, "delete", "e1", "--force")


def test_startup_schedule(sched):
    d = sched
    d.lxc("init", "busybox", "st1")
    try:
        d.lxc("config", "set", "st1", "snapshots.schedule", "@startup")
        d.lxc("start", "st1")
        wait_until(lambda: "snap0" in snapshots(d, "st1"), "the @startup snapshot", bound=BOUND)
    finally:
        calm(d.lxc, "delete", "st1", "--force")


def test_schedule_survives_restart(sched):
    d = sched
    d.lxc("launch", "busybox", "r1")
    try:
        d.lxc("config", "set", "r1", "snapshots.schedule", "* * * * *")
        wait_until(lambda: len(snapshots(d, "r1")) >= 1, "a scheduled snapshot", bound=BOUND)
        d.kill(signal.SIGTERM)
        d.start()
        count = len(snapshots(d, "r1"))
        wait_until(lambda: len(snapshots(d, "r1")) >= count + 2, "snapshots after the restart", bound=BOUND)
        unset_schedule(d, "r1")
    finally:
        calm(d.lxc, "delete", "r1", "--force")


def test_schedule_from_a_profile(sched):
    d = sched
    d.lxc("profile", "create", "every")
    try:
        d.lxc("profile", "set", "every", "snapshots.schedule", "* * * * *")
        d.lxc("profile", "set", "every", "snapshots.pattern", "p%d")
        d.lxc("launch", "busybox", "p1", "-p", "default", "-p", "every")
        wait_until(lambda: {"p0", "p1"} <= set(snapshots(d, "p1")), "snapshots by the profile's schedule",
                   bound=BOUND)
        # @never in the instance turns the profile's schedule off.
        calm(d.lxc, "config", "set", "p1", "snapshots.schedule", "@never")
        d.lxc("launch", "busybox", "clock", "-p", "default", "-p", "every")
        wait_until(lambda: len(snapshots(d, "clock")) >= 1, "a snapshot of another instance", bound=BOUND)
        count = len(snapshots(d, "p1"))
        wait_until(lambda: len(snapshots(d, "clock")) >= 4, "more snapshots of the other", bound=BOUND)
        assert len(snapshots(d, "p1")) == count
    finally:
        calm(d.lxc, "delete", "p1", "--force")
        calm(d.lxc, "delete", "clock", "--force")
        d.lxc("profile", "delete", "every")


def killed_at(d, point, wait_for):
    """ferryd on the test clock, armed to SIGKILL itself at POINT; then, once it died
    there, started again clean (the test clock still on)."""
    d.kill(signal.SIGTERM)
    d.env = {"FERRY_TEST_SCHEDULE_MINUTE_SECONDS": TICK, "FERRY_TEST_CRASH_AT": point}
    d.start()
    wait_for()
    wait_until(lambda: not d.alive(), f"ferryd to die at {point}", bound=BOUND)
    assert d.proc.returncode == -signal.SIGKILL, f"ferryd exited {d.proc.returncode}, not at {point}"
    d.stopped_by_test = True
    d.env = {"FERRY_TEST_SCHEDULE_MINUTE_SECONDS": TICK}
    d.start()


def test_ferryd_killed_by_scheduled_work(own_daemon):
    """A scheduled snapshot or a pruning cut short by a SIGKILL of ferryd leaves the
    snapshot whole or gone, never half: the intents and commit points of
    docs/durability.md hold for the scheduler's operations as for lxc's."""
    d = own_daemon
    d.lxc("launch", "busybox", "k1")
    snap_dir = os.path.join(d.root, "snapshots", "k1")
    # Pruning: killed after the row went, before the files did.
    d.lxc("snapshot", "k1", "old")
    d.api_ok("PUT", "/1.0/instances/k1/snapshots/old", {"expires_at": "2001-01-01T00:00:00Z"})
    killed_at(d, "snapshot-delete-after-commit", lambda: None)
    assert "old" not in snapshots(d, "k1")
    assert not os.path.exists(os.path.join(snap_dir, "old"))
    # A scheduled snapshot killed after its copy, before its row.
    d.lxc("config", "set", "k1", "snapshots.schedule", "* * * * *")
    killed_at(d, "snapshot-after-dump", lambda: None)
    # Every directory is a recorded snapshot (the schedule goes on meanwhile: a
    # directory of the snapshot in progress gets its row within moments).
    def on_disk():
        return set(os.listdir(snap_dir)) if os.path.isdir(snap_dir) else set()
    wait_until(lambda: on_disk() <= set(snapshots(d, "k1")), "no snapshot directory without a row",
               bound=BOUND)
    names = set(snapshots(d, "k1"))
    wait_until(lambda: len(snapshots(d, "k1")) >= len(names) + 1, "the schedule going on", bound=BOUND)
    unset_schedule(d, "k1")
    calm(d.lxc, "delete", "k1", "--force")
