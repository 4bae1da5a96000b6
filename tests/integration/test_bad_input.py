"""Bad input over the raw API: a clear 4xx, nothing created or changed, and the daemon
keeps serving.  Teardown additionally fails on any crash or sanitizer report."""

import gzip
import json
import os
import random
import uuid

import pytest

from conftest import pid_alive, wait_until
from imagetar import TarBuilder, base_image

IMAGE_SRC = {"type": "image", "alias": "busybox"}


@pytest.fixture(scope="module")
def c1(daemon):
    daemon.launch("c1")
    return "c1"


def containers_on_disk(d):
    return sorted(os.listdir(os.path.join(d.root, "containers")))


def assert_error(status, env, codes=(400,), mention=None):
    assert status in codes, (status, env)
    assert env is not None and env.get("type") == "error", env
    assert env.get("error"), f"error response without a message: {env}"
    assert env.get("error_code") == status, env
    if mention:
        assert mention.lower() in env["error"].lower(), env["error"]


def create(d, body):
    return d.api("POST", "/1.0/instances", body)


# --- instance names -----------------------------------------------------

@pytest.mark.parametrize("name", ["1c", "-a", "a_b", "a" * 64, "..", "a-", "a b", "a/b", "a.b", "c1/snap",
                                  "\u00e9t\u00e9", "a\u0000b"])
def test_invalid_name_is_refused(daemon, c1, name):
    before_list, before_disk = daemon.instance_names(), containers_on_disk(daemon)
    status, env = create(daemon, {"name": name, "source": IMAGE_SRC})
    assert_error(status, env)
    assert daemon.instance_names() == before_list
    assert containers_on_disk(daemon) == before_disk


def test_longest_valid_name_is_accepted(daemon, c1):
    name = "a" * 63
    daemon.api_ok("POST", "/1.0/instances", {"name": name, "source": IMAGE_SRC})
    assert name in daemon.instance_names()
    daemon.api_ok("DELETE", f"/1.0/instances/{name}")


def test_duplicate_name_conflicts(daemon, c1):
    pid = daemon.init_pid("c1")
    status, env = create(daemon, {"name": "c1", "source": IMAGE_SRC})
    # LXD accepts it, then its operation fails.
    assert status == 202, (status, env)
    op = daemon.wait_op(env)
    assert op["status_code"] == 400 and "already exists" in op["err"], op
    assert daemon.init_pid("c1") == pid and pid_alive(pid)
    assert daemon.instance_names().count("c1") == 1


def test_rename_to_invalid_or_existing_name(daemon, c1):
    daemon.api_ok("POST", "/1.0/instances", {"name": "rn", "source": IMAGE_SRC})
    for bad, codes in (("1x", (400,)), ("a_b", (400,)), ("c1", (409, 400))):
        status, env = daemon.api("POST", "/1.0/instances/rn", {"name": bad})
        if env.get("type") == "async":
            op = daemon.wait_op(env)
            assert op["status_code"] == 400, op
        else:
            assert_error(status, env, codes)
    assert "rn" in daemon.instance_names()
    assert os.path.isdir(os.path.join(daemon.root, "containers", "rn"))
    daemon.api_ok("DELETE", "/1.0/instances/rn")


@pytest.mark.parametrize("source", [
    {"type": "image", "alias": "no-such-image"},
    {"type": "image", "fingerprint": "0" * 64},
    {"type": "image", "fingerprint": "zz"},
    {"type": "image"},
    {"type": "none-such"},
])
def test_unknown_image_creates_nothing(daemon, c1, source):
    before_list, before_disk = daemon.instance_names(), containers_on_disk(daemon)
    status, env = create(daemon, {"name": "noimg", "source": source})
    if env.get("type") == "async":
        op = daemon.wait_op(env)
        assert op["status_code"] == 400 and op["err"], op
    else:
        assert_error(status, env, codes=(400, 404))
    assert daemon.instance_names() == before_list
    assert containers_on_disk(daemon) == before_disk


# --- malformed bodies ------------------------------------------------------

MALFORMED = [
    b'{"name": "m1", "source": {"type": "image", "alias": "busybox"',
    b"[]",
    b'"just a string"',
    b"null",
    b"42",
    b"",
    b"\xff\xfe garbage",
    b'{"name": "m1", "source": {"type": "image", "alias": "busybox"}} trailing',
    json.dumps({"name": "m1", "source": IMAGE_SRC, "ephemeral": "yes"}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "config": {"limits.memory": 128}}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "config": {"user.x": True}}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "config": ["limits.memory"]}).encode(),
    json.dumps({"name": 5, "source": IMAGE_SRC}).encode(),
    json.dumps({"name": "m1", "source": "busybox"}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "profiles": "default"}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "profiles": ["no-such-profile"]}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "devices": []}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "devices": {"d0": {"path": "/x"}}}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "devices": {"d0": "disk"}}).encode(),
    json.dumps({"name": "m1", "source": IMAGE_SRC, "type": "virtual-machine"}).encode(),
    b"[" * 100000 + b"]" * 100000,
    b'{"a":' * 50000 + b"1" + b"}" * 50000,
]


@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_create_body(daemon, c1, body):
    before_list, before_disk = daemon.instance_names(), containers_on_disk(daemon)
    status, env = daemon.api("POST", "/1.0/instances", body)
    assert_error(status, env, codes=(400, 404))
    assert daemon.instance_names() == before_list
    assert containers_on_disk(daemon) == before_disk


def test_unknown_config_key(daemon, c1):
    status, env = create(daemon, {"name": "k1", "source": IMAGE_SRC, "config": {"foo.bar": "1"}})
    assert_error(status, env, mention="Unknown configuration key")
    assert "foo.bar" in env["error"]
    assert "k1" not in daemon.instance_names()


def test_user_config_keys_are_allowed(daemon, c1):
    """Positive control: user.* is free-form in LXD."""
    daemon.api_ok("POST", "/1.0/instances", {"name": "k2", "source": IMAGE_SRC,
                                             "config": {"user.anything": "value"}})
    assert daemon.instance("k2")["config"]["user.anything"] == "value"
    daemon.api_ok("DELETE", "/1.0/instances/k2")


BAD_LIMITS = [
    ("limits.memory", "lots"), ("limits.memory", "-1"), ("limits.memory", "128XB"),
    ("limits.memory", "12.5.1MiB"), ("limits.memory", "150%%"),
    ("limits.processes", "abc"), ("limits.processes", "-5"), ("limits.processes", "1e3"),
    ("limits.cpu", "abc"), ("limits.cpu", "-1"), ("limits.cpu", "0-"),
]


@pytest.mark.parametrize("key,value", BAD_LIMITS)
def test_bad_limits_on_create(daemon, c1, key, value):
    status, env = create(daemon, {"name": "lim", "source": IMAGE_SRC, "config": {key: value}})
    assert_error(status, env, mention=key)
    assert "lim" not in daemon.instance_names()


@pytest.mark.parametrize("key,value", BAD_LIMITS[:6])
def test_bad_limits_on_update_leave_config_unchanged(daemon, c1, key, value):
    before = daemon.instance("c1")
    body = {"config": dict(before["config"], **{key: value}), "devices": before["devices"],
            "profiles": before["profiles"], "ephemeral": False, "description": ""}
    status, env = daemon.api("PUT", "/1.0/instances/c1", body)
    if env.get("type") == "async":
        op = daemon.wait_op(env)
        assert op["status_code"] == 400, op
    else:
        assert_error(status, env)
    status, env = daemon.api("PATCH", "/1.0/instances/c1", {"config": {key: value}})
    if env.get("type") == "async":
        assert daemon.wait_op(env)["status_code"] == 400
    else:
        assert_error(status, env)
    after = daemon.instance("c1")
    assert after["config"] == before["config"]


def test_unknown_device_type(daemon, c1):
    status, env = create(daemon, {"name": "dev", "source": IMAGE_SRC,
                                  "devices": {"d0": {"type": "bogus"}}})
    assert_error(status, env, mention="bogus")
    assert "dev" not in daemon.instance_names()


@pytest.mark.parametrize("body", [
    {"action": "dance"}, {}, {"action": 5}, {"action": "stop", "timeout": "soon"},
    {"action": "stop", "force": "yes"}, [], "stop",
])
def test_bad_state_change(daemon, c1, body):
    pid = daemon.init_pid("c1")
    status, env = daemon.api("PUT", "/1.0/instances/c1/state", body)
    assert_error(status, env)
    assert daemon.init_pid("c1") == pid and pid_alive(pid)


def test_state_change_on_missing_instance(daemon, c1):
    status, env = daemon.api("PUT", "/1.0/instances/nope/state", {"action": "start"})
    assert_error(status, env, codes=(404,))


@pytest.mark.parametrize("method,path", [
    ("GET", "/1.0/nope"), ("GET", "/2.0"), ("GET", "/1.0/instances/nope"),
    ("GET", "/1.0/instances/c1/nope"), ("GET", "/1.0/instances/nope/state"),
    ("GET", "/1.0/operations/" + str(uuid.uuid4())), ("GET", "/1.0/images/aliases/nope"),
    ("GET", "/1.0/images/" + "0" * 64), ("GET", "/1.0/profiles/nope"),
    ("DELETE", "/1.0/instances/nope"), ("GET", "/1.0/instances/c1/logs/nope.log"),
])
def test_unknown_paths(daemon, c1, method, path):
    status, env = daemon.api(method, path)
    assert_error(status, env, codes=(404, 400))


@pytest.mark.parametrize("path", [
    "/1.0/instances/..%2F..%2Fetc", "/1.0/instances/c1/logs/..%2F..%2F..%2Fferry.db",
    "/1.0/instances/c1/logs/..%2Fmonitor.log", "/1.0/instances/c1/logs/%2Fetc%2Fpasswd",
    "/1.0/images/..%2F..%2Fferry.db",
])
def test_path_traversal_serves_nothing(daemon, c1, path):
    status, data = daemon.request("GET", path)
    assert status in (400, 404, 501), (status, data[:200])
    assert b"SQLite format" not in data and b"root:x:0:0" not in data


def test_wrong_method(daemon, c1):
    status, env = daemon.api("DELETE", "/1.0")
    assert status in (400, 404, 501) and env["type"] == "error", (status, env)


def test_bad_percent_encoding(daemon, c1):
    status, _ = daemon.request("GET", "/1.0/instances/%ZZ")
    assert status in (400, 404)


# --- image tarballs ----------------------------------------------------------

def images(d):
    return sorted(d.api_ok("GET", "/1.0/images"))


def image_files(d):
    return sorted(os.listdir(os.path.join(d.root, "images")))


def assert_store_unchanged(d, before_files):
    """Nothing new in the image store, except the upload's temporary copy, which ferryd
    removes when it forgets the operation; test_no_upload_copies_stay checks that it does."""
    after = [f for f in image_files(d) if not f.startswith("upload-")]
    assert after == [f for f in before_files if not f.startswith("upload-")], \
        "the failed import left files in the image store"


def post_image(d, data, filename="bad.tar.gz"):
    """POST a tarball; returns the error text (the request or its operation must fail)."""
    status, env = d.api("POST", "/1.0/images", data,
                        headers={"Content-Type": "application/octet-stream", "X-LXD-filename": filename})
    if env.get("type") == "error":
        assert 400 <= status < 500, (status, env)
        return env["error"]
    assert env.get("type") == "async", env
    op = d.wait_op(env)
    assert op["status_code"] == 400, f"a bad tarball was accepted: {op}"
    assert op["err"], op
    return op["err"]


def _outside_marker():
    return f"/tmp/ferry-evil-{uuid.uuid4().hex[:12]}"


def bad_tarballs():
    evil = _outside_marker()
    cases = {
        "dotdot": (base_image(with_busybox=False).file(f"rootfs/../../../..{evil}", "x"), evil),
        "dotdot_middle": (base_image(with_busybox=False).file("rootfs/etc/../../../escape", "x"), None),
        "absolute": (base_image(with_busybox=False).file(evil, "x"), evil),
        # Under rootfs/dev/ they are skipped (test_image_build.py); anywhere else refused.
        "chardev": (base_image(with_busybox=False).chardev("rootfs/etc/mem", 1, 1), None),
        "blockdev": (base_image(with_busybox=False).blockdev("rootfs/sda", 8, 0), None),
        "hardlink_out": (base_image(with_busybox=False).hardlink("rootfs/etc/shadow2", "/etc/shadow"), None),
        "hardlink_dotdot": (base_image(with_busybox=False).hardlink("rootfs/x", "../../etc/shadow"), None),
        "no_metadata": (TarBuilder().dir("rootfs").file("rootfs/a", "b"), None),
        "no_rootfs": (TarBuilder().file("metadata.yaml", "architecture: x86_64\ncreation_date: 1\n"), None),
        "bad_metadata": (TarBuilder().file("metadata.yaml", "architecture: [x86_64\n  - :\n\t").dir("rootfs"), None),
        "metadata_is_dir": (TarBuilder().dir("metadata.yaml").dir("rootfs"), None),
        "stray_top_entry": (base_image(with_busybox=False).file("evil.sh", "x"), None),
    }
    return {k: (v[0].bytes(), v[1]) for k, v in cases.items()}


BAD_TARBALLS = bad_tarballs()


@pytest.mark.parametrize("case", sorted(BAD_TARBALLS))
def test_bad_image_tarball_is_refused(daemon, c1, case):
    data, outside = BAD_TARBALLS[case]
    before, before_files = images(daemon), image_files(daemon)
    err = post_image(daemon, data)
    assert len(err) > 10, err
    assert images(daemon) == before
    assert_store_unchanged(daemon, before_files)
    if outside:
        assert not os.path.exists(outside), f"tarball wrote {outside} on the host"


@pytest.mark.parametrize("case", ["random", "truncated", "gzip_of_garbage", "empty_gzip"])
def test_not_a_tarball(daemon, c1, case):
    good = base_image(with_busybox=False).bytes()
    data = {
        "random": random.Random(7).randbytes(50000),
        "truncated": good[: len(good) // 2],
        "gzip_of_garbage": gzip.compress(b"not a tar archive at all" * 100),
        "empty_gzip": gzip.compress(b""),
    }[case]
    before, before_files = images(daemon), image_files(daemon)
    post_image(daemon, data)
    assert images(daemon) == before
    assert_store_unchanged(daemon, before_files)


def test_unextractable_name_fails_cleanly(daemon, c1):
    """A 5000-byte file name cannot exist on Linux: refuse the image, or at the latest
    the instance created from it, with a clear error and nothing left behind."""
    data = base_image(with_busybox=False).file("rootfs/" + "a" * 5000, "x").bytes()
    status, env = daemon.api("POST", "/1.0/images", data, headers={"Content-Type": "application/octet-stream"})
    if env.get("type") == "error":
        assert 400 <= status < 500
        return
    op = daemon.wait_op(env)
    if op["status_code"] != 200:
        assert op["err"]
        return
    fp = op["metadata"]["fingerprint"]
    before_disk = containers_on_disk(daemon)
    status, env = create(daemon, {"name": "longname", "source": {"type": "image", "fingerprint": fp}})
    if env.get("type") == "async":
        op = daemon.wait_op(env)
        assert op["status_code"] == 400 and op["err"], op
    else:
        assert_error(status, env)
    assert "longname" not in daemon.instance_names()
    assert containers_on_disk(daemon) == before_disk
    daemon.api_ok("DELETE", f"/1.0/images/{fp}")


def test_no_upload_copies_stay(daemon, c1):
    """Temporary copies of refused uploads must go away (bounded wait, not a timing test)."""
    wait_until(lambda: not [f for f in image_files(daemon) if f.startswith("upload-")],
               "upload-* copies of refused images to be removed", bound=30)


def test_symlink_escape_does_not_write_outside(daemon, c1):
    """A symlink to a host directory followed by a file 'inside' it: nothing may land on the host,
    neither at import nor when a container is created from the image."""
    target = _outside_marker()
    os.mkdir(target)
    try:
        data = base_image(tag="esc").symlink("rootfs/esc", target).file("rootfs/esc/pwned", "x").bytes()
        status, env = daemon.api("POST", "/1.0/images", data,
                                 headers={"Content-Type": "application/octet-stream"})
        ok = False
        if env.get("type") == "async":
            op = daemon.wait_op(env)
            ok = op["status_code"] == 200
            fp = op["metadata"].get("fingerprint") if ok else None
        assert not os.path.exists(os.path.join(target, "pwned"))
        if ok:
            daemon.api_ok("POST", "/1.0/instances", {"name": "esc", "source": {"type": "image",
                                                                               "fingerprint": fp}})
            assert not os.path.exists(os.path.join(target, "pwned"))
            daemon.api_ok("DELETE", "/1.0/instances/esc")
            daemon.api_ok("DELETE", f"/1.0/images/{fp}")
    finally:
        for f in os.listdir(target):
            os.unlink(os.path.join(target, f))
        os.rmdir(target)


def test_good_image_tarball_is_accepted(daemon, c1):
    """Positive control for the refusals above."""
    before = images(daemon)
    status, env = daemon.api("POST", "/1.0/images", base_image(tag="good").bytes(),
                             headers={"Content-Type": "application/octet-stream"})
    op = daemon.wait_op(env)
    assert op["status_code"] == 200, op
    fp = op["metadata"]["fingerprint"]
    assert f"/1.0/images/{fp}" in images(daemon)
    daemon.api_ok("DELETE", f"/1.0/images/{fp}")
    assert images(daemon) == before


# --- fuzz ----------------------------------------------------------------------

def _mutate_value(rng, depth=0):
    choices = [None, True, False, 0, -1, 2**63, 1.5, "", "x" * rng.randint(1, 300),
               "\u0000", "\udc80".encode("utf-8", "surrogatepass").decode("latin-1"), "../..", [], {},
               ["a", 1], {"type": "image"}]
    if depth < 3 and rng.random() < 0.2:
        return {"k" + str(rng.randint(0, 9)): _mutate_value(rng, depth + 1)}
    return rng.choice(choices)


def _mutate(rng, base):
    body = json.loads(json.dumps(base))
    for _ in range(rng.randint(1, 3)):
        target = body
        path = []
        while isinstance(target, dict) and target and rng.random() < 0.5:
            k = rng.choice(list(target))
            if not isinstance(target[k], dict):
                break
            path.append(k)
            target = target[k]
        if not isinstance(target, dict):
            continue
        op = rng.random()
        if target and op < 0.4:
            target[rng.choice(list(target))] = _mutate_value(rng)
        elif target and op < 0.6:
            del target[rng.choice(list(target))]
        else:
            target[rng.choice(["name", "config", "devices", "source", "action", "timeout", "force",
                               "profiles", "limits.memory", "type", "zzz"])] = _mutate_value(rng)
    raw = json.dumps(body).encode()
    r = rng.random()
    if r < 0.15:
        raw = raw[: rng.randint(0, len(raw))]
    elif r < 0.3:
        b = bytearray(raw)
        for _ in range(rng.randint(1, 5)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        raw = bytes(b)
    return raw


def test_fuzz_bodies_never_5xx(daemon, c1):
    rng = random.Random(20240501)
    bases = [
        ("POST", "/1.0/instances", {"name": "fz", "source": dict(IMAGE_SRC), "config": {"limits.memory": "64MiB"},
                                    "devices": {}, "profiles": ["default"], "ephemeral": False}),
        ("PUT", "/1.0/instances/c1", {"config": {"user.a": "b"}, "devices": {}, "profiles": ["default"],
                                      "ephemeral": False, "description": ""}),
        ("PUT", "/1.0/instances/c1/state", {"action": "freeze", "timeout": 5, "force": False}),
    ]
    failures = []
    for i in range(200):
        method, path, base = bases[i % 3]
        raw = _mutate(rng, base)
        status, data = daemon.request(method, path, raw)
        if status >= 500:
            failures.append((method, path, raw[:300], status, data[:300]))
        try:
            env = json.loads(data)
        except ValueError:
            failures.append((method, path, raw[:300], status, "non-JSON reply", data[:300]))
            continue
        if env.get("type") == "async":
            daemon.wait_op(env)
        # Keep c1 running so that every state/config mutation meets a live instance.
        if not daemon.alive():
            pytest.fail(f"ferryd died on {method} {path} {raw[:300]!r}\n{daemon.log_tail()}")
        inst = daemon.instance("c1")
        if inst["status_code"] == 110:
            daemon.api_ok("PUT", "/1.0/instances/c1/state", {"action": "unfreeze"})
        elif inst["status_code"] == 102:
            daemon.api_ok("PUT", "/1.0/instances/c1/state", {"action": "start"})
    assert not failures, "\n".join(map(repr, failures))
    for name in daemon.instance_names():
        if name != "c1":
            daemon.api_ok("PUT", f"/1.0/instances/{name}/state", {"action": "stop", "force": True}) \
                if daemon.instance(name)["status_code"] == 103 else None
            daemon.api_ok("DELETE", f"/1.0/instances/{name}")


def test_daemon_still_serves_after_all_that(daemon, c1):
    assert daemon.alive()
    status, env = daemon.api("GET", "/1.0")
    assert status == 200 and env["metadata"]["api_version"] == "1.0"
    assert daemon.lxc("exec", "c1", "--", "hostname").stdout == "c1\n"
    assert "busybox" in daemon.lxc("image", "list", "--format", "csv").stdout
