"""Real distributions (issue 10, part 1): `ferry image build` makes a Debian image with
mmdebstrap, Ferry imports it (device nodes under rootfs/dev/ skipped with a note, refused
anywhere else), and real LXD's format: the stock client imports it. Bad input to the build is refused before anything
runs as root, in seconds; hostile tarballs are refused while the daemon keeps serving.
How the image runs (systemd) is test_systemd.py.

The Debian image is built once per machine (debian_image.py: /var/cache/ferry/test-images,
rebuilt only when the build recipe changes)."""

import os
import re
import subprocess
import tarfile
import tempfile
import time

import pytest

from conftest import FERRY, free_port
from debian_image import INCLUDES, debian12_tarball, last_build
from imagetar import base_image



def build(*args, env=None, timeout=120, user=None):
    """`ferry image build ARGS` outside any daemon (a private cache unless env says)."""
    argv = [FERRY, "image", "build", *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


@pytest.fixture
def private_cache():
    with tempfile.TemporaryDirectory(prefix="ferry-build-cache-") as d:
        yield {"FERRY_CACHE_DIR": d}


# --- bad input to the build: refused before mmdebstrap runs ------------------

@pytest.mark.parametrize("args, message", [
    (["debian/sid"], "Unknown distribution or release \"debian/sid\": can build debian/bookworm (12), "
                     "debian/trixie (13)"),
    (["ubuntu/noble"], "Unknown distribution or release"),
    (["bookworm"], "Unknown distribution or release"),
    (["debian/bookworm", "--include", "../../../etc/shadow.deb"], "Invalid package name"),
    (["debian/bookworm", "--include", "nginx;reboot"], "Invalid package name"),
    (["debian/bookworm", "--include", "?essential"], "Invalid package name"),
    (["debian/bookworm", "--include", "Nginx"], "Invalid package name"),
    (["debian/bookworm", "--include", "$(reboot)"], "Invalid package name"),
    (["debian/bookworm", "--compression", "rar"], "Unknown --compression"),
    (["debian/bookworm", "--mirror", "ftp://evil.example/debian"], "--mirror must be"),
    (["debian/bookworm", "--no-import", "--alias", "x"], "--alias names the imported image"),
])
def test_build_refuses_bad_arguments(private_cache, args, message):
    started = time.monotonic()
    cp = build(*args, env=private_cache, timeout=30)
    assert cp.returncode == 1, cp
    assert message in cp.stderr, cp.stderr
    assert cp.stderr.startswith("Error: ") and cp.stderr.count("\n") == 1, cp.stderr
    # Nothing was built: no log, no tarball.
    for sub in ("images", "logs"):
        p = os.path.join(private_cache["FERRY_CACHE_DIR"], sub)
        assert not os.path.exists(p) or not os.listdir(p), os.listdir(p)
    assert time.monotonic() - started < 30


def test_build_refuses_non_root(private_cache):
    os.chmod(private_cache["FERRY_CACHE_DIR"], 0o777)
    cp = build("debian/bookworm", "--no-import", env=private_cache, user=65534)
    assert cp.returncode == 1, cp
    assert "Building an image needs root" in cp.stderr, cp.stderr


def test_build_without_mmdebstrap(private_cache):
    env = dict(private_cache, PATH="/nonexistent")
    cp = build("debian/bookworm", "--no-import", env=env)
    assert cp.returncode == 1, cp
    assert "mmdebstrap is not installed: install Debian's package of that name" in cp.stderr, cp.stderr


def test_build_unreachable_mirror(private_cache):
    """Nothing listens on the port: apt's message, the mirror's name and the log, in seconds."""
    mirror = f"http://127.0.0.1:{free_port()}/debian"
    cp = build("debian/bookworm", "--no-import", "--mirror", mirror, env=private_cache, timeout=300)
    assert cp.returncode == 1, cp
    assert f"Cannot reach the Debian mirror {mirror}: " in cp.stderr, cp.stderr
    assert "Could not connect" in cp.stderr or "Failed to fetch" in cp.stderr, cp.stderr
    log = re.search(r"\(log: ([^)]+)\)", cp.stderr).group(1)
    assert os.path.exists(log)
    images = os.path.join(private_cache["FERRY_CACHE_DIR"], "images")
    assert os.listdir(images) == [], "a failed build left a tarball behind"
    # What an interrupted build of the same recipe leaves is removed by the next one.
    key = os.path.basename(log)[:-len(".log")]
    leftover = os.path.join(images, f".{key}.tar.zst.tmp-AbC123")
    open(leftover, "w").close()
    cp = build("debian/bookworm", "--no-import", "--mirror", mirror, env=private_cache, timeout=300)
    assert cp.returncode == 1 and "Cannot reach the Debian mirror" in cp.stderr, cp
    assert os.listdir(images) == [], os.listdir(images)


def test_build_unknown_package(private_cache):
    """apt's own words, before the essential packages are installed (the check hook)."""
    if not os.path.exists("/usr/bin/mmdebstrap"):
        pytest.skip("mmdebstrap not installed (scripts/setup-deps)")
    cp = build("debian/bookworm", "--no-import", "--include", "nosuchpkg-ferry-test", env=private_cache,
               timeout=600)
    assert cp.returncode == 1, cp
    assert "apt cannot install the packages in Debian bookworm: E: Unable to locate package " \
           "nosuchpkg-ferry-test" in cp.stderr, cp.stderr
    log = re.search(r"\(log: ([^)]+)\)", cp.stderr).group(1)
    with open(log) as f:
        text = f.read()
    assert "installing essential packages" not in text, "the bad name was found only after installing"


def test_build_refuses_existing_alias_before_building(daemon):
    cp = daemon.ferry("image", "build", "debian/bookworm", "--alias", "busybox", check=False)
    assert cp.returncode == 1
    assert "Image alias \"busybox\" already exists" in cp.stderr, cp.stderr


# --- import rules: /dev nodes skipped with a note, refused elsewhere --------

def fifo(builder, name):
    """Only device nodes are skipped under rootfs/dev/: a fifo there is still refused."""
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.FIFOTYPE, 0o600, int(time.time())
    builder.tar.addfile(ti)
    return builder


def tarball(builder, tmp_path, name):
    path = os.path.join(tmp_path, name)
    with open(path, "wb") as f:
        f.write(builder.bytes())
    return path


def test_import_skips_dev_nodes_with_a_note(daemon, tmp_path):
    img = (base_image(tag="devnodes")
           .chardev("rootfs/dev/null", 1, 3).chardev("rootfs/dev/mem", 1, 1)
           .blockdev("rootfs/dev/sda", 8, 0).chardev("rootfs/dev/pts/ptmx", 5, 2)
           .hardlink("rootfs/dev/kmem", "rootfs/dev/mem").symlink("rootfs/dev/fd", "/proc/self/fd"))
    path = tarball(img, str(tmp_path), "devnodes.tar.gz")
    cp = daemon.ferry("image", "import", path, "--alias", "devnodes")
    assert "Note: 5 device nodes under rootfs/dev/ are skipped (containers get a fresh /dev)" in cp.stdout, cp.stdout
    fp = re.search(r"fingerprint: ([0-9a-f]{64})", cp.stdout).group(1)
    # The daemon says it in its log too; the stock client's import works the same way.
    assert f"Image {fp}: 5 device nodes under rootfs/dev/ skipped" in daemon.log_tail(200)
    daemon.ferry("launch", "devnodes", "dn1")
    unpacked = os.path.join(daemon.root, "images", fp + ".rootfs", "dev")
    # dev/pts was implied only by the skipped ptmx: nothing creates it.
    assert sorted(os.listdir(unpacked)) == ["fd"], os.listdir(unpacked)
    # Inside, /dev is the container's own tmpfs: its /dev/mem does not exist.
    out = daemon.ferry("exec", "dn1", "--", "ls", "/dev").stdout.split()
    assert "mem" not in out and "sda" not in out and "null" in out, out
    daemon.ferry("delete", "-f", "dn1")
    daemon.ferry("image", "delete", "devnodes")


@pytest.mark.parametrize("case", ["etc", "devices", "dev-itself", "templates-dev", "hardlink-out", "beneath",
                                  "dotdot", "fifo-in-dev"])
def test_import_refuses_device_nodes_elsewhere(daemon, case):
    """A /dev/mem (1,1) anywhere the container could reach it is refused, however named."""
    img = {
        "etc": lambda b: b.chardev("rootfs/etc/mem", 1, 1),
        "devices": lambda b: b.chardev("rootfs/devices/mem", 1, 1),
        "dev-itself": lambda b: b.chardev("rootfs/dev", 1, 1),
        "templates-dev": lambda b: b.chardev("templates/dev/mem", 1, 1),
        "hardlink-out": lambda b: b.chardev("rootfs/dev/mem", 1, 1).hardlink("rootfs/root/mem", "rootfs/dev/mem"),
        "beneath": lambda b: b.blockdev("rootfs/dev/sda", 8, 0).file("rootfs/dev/sda/x", "x"),
        "dotdot": lambda b: b.chardev("rootfs/dev/../etc/mem", 1, 1),
        "fifo-in-dev": lambda b: fifo(b, "rootfs/dev/initctl"),
    }[case](base_image(with_busybox=False))
    before = daemon.api_ok("GET", "/1.0/images")
    status, env = daemon.api("POST", "/1.0/images", img.bytes(),
                             headers={"Content-Type": "application/octet-stream"})
    if env.get("type") == "async":
        op = daemon.wait_op(env)
        assert op["status_code"] == 400, op
        err = op["err"]
    else:
        assert 400 <= status < 500, env
        err = env["error"]
    assert err, env
    assert daemon.api_ok("GET", "/1.0/images") == before
    assert daemon.api_ok("GET", "/1.0")["api_version"] == "1.0"  # still serving


# --- the Debian image, built here, boots ------------------------------------

@pytest.fixture(scope="module")
def debian12(daemon):
    if not os.path.exists("/usr/bin/mmdebstrap"):
        pytest.skip("mmdebstrap not installed (scripts/setup-deps)")
    path = debian12_tarball()
    daemon.ferry("image", "import", path, "--alias", "debian12", timeout=600)
    return path


def test_debian12_image_is_lxd_unified(debian12):
    # Python 3.11's tarfile has no zstd: GNU tar lists it.
    names = subprocess.run(["tar", "--zstd", "-tf", debian12], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert names[0] == "metadata.yaml", names[:3]
    assert "templates/hostname.tpl" in names and "rootfs/etc/systemd/network/eth0.network" in names
    assert not [n for n in names if n.startswith("rootfs/dev/") and n != "rootfs/dev/"], "device nodes"
    meta = subprocess.run(["tar", "--zstd", "-xOf", debian12, "metadata.yaml"], capture_output=True, text=True,
                          check=True).stdout
    assert "architecture: x86_64" in meta and "os: Debian" in meta and "release: bookworm" in meta, meta


def test_debian12_stock_lxc_import(daemon, debian12):
    """`lxc image import` of the same tarball (the stock client's upload) into ferryd."""
    fp = daemon.api_ok("GET", "/1.0/images/aliases/debian12")["target"]
    daemon.ferry("image", "delete", "debian12")
    try:
        daemon.lxc("image", "import", debian12, "--alias", "debian12", timeout=600)
        out = daemon.lxc("image", "list", "debian12", "--format", "csv").stdout
        assert "debian12" in out and "Debian 12 (bookworm)" in out, out
        assert daemon.api_ok("GET", "/1.0/images/aliases/debian12")["target"] == fp, "not the same bytes"
    finally:
        if daemon.api("GET", "/1.0/images/aliases/debian12")[0] != 200:
            daemon.ferry("image", "import", debian12, "--alias", "debian12", timeout=600)


def test_cached_build_is_reused(debian12):
    """A second build of the same recipe with --cache takes the stored tarball."""
    cp = build("debian/bookworm", "--include", INCLUDES, "--cache", "--no-import", timeout=120)
    assert cp.returncode == 0, cp
    assert "Using the build of " in cp.stdout and "from the cache" in cp.stdout, cp.stdout
    # Writing the cached tarball over a link to itself leaves no temporary file behind.
    out = os.path.join(os.path.dirname(debian12), "debian12.tar.zst")
    cp = build("debian/bookworm", "--include", INCLUDES, "--cache", "--no-import", "--output", out, timeout=120)
    assert cp.returncode == 0, cp
    assert [n for n in os.listdir(os.path.dirname(out)) if ".tmp-" in n] == []
    info = last_build()
    print(f"debian12 image: {info.get('seconds', 0):.1f}s this run: {info.get('output', '').strip()}")
