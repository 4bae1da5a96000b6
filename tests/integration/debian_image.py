"""The Debian systemd images of the integration tests (12 bookworm, systemd 252; 13 trixie,
systemd 257), built once per machine.

`ferry image build debian/RELEASE --cache` reuses the last build of the same recipe
(release, packages, recipe version) from /var/cache/ferry/images, so the image is built
only when it is missing or the recipe changed; the .debs it downloaded are kept in
/var/cache/ferry/debs for the next build. Tests that need a systemd container:

    from debian_image import debian_tarball
    path = debian_tarball("trixie")     # builds (minutes) or reuses (a second); with INCLUDES
    daemon.ferry("image", "import", path, "--alias", "debian13", timeout=300)
"""

import os
import subprocess
import time

from conftest import FERRY

CACHE = os.environ.get("FERRY_TEST_IMAGE_DIR", "/var/cache/ferry/test-images")
# A cold build takes 1-5 minutes here; the bound only turns a hang into a failure.
BUILD_BOUND = 1800

# The services whose connections the systemd suite holds open across every stateful
# operation (sshd, nginx, PostgreSQL), installed as a user would with --include.
INCLUDES = "openssh-server,nginx-light,postgresql"

# release -> (alias, cache file name)
RELEASES = {"bookworm": "debian12", "trixie": "debian13"}

_built = {}


def debian_tarball(release):
    """Path of the cached image tarball of RELEASE, built if needed; (path, seconds) kept."""
    if release in _built:
        return _built[release]["path"]
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f"{RELEASES[release]}.tar.zst")
    started = time.monotonic()
    try:
        cp = subprocess.run([FERRY, "image", "build", f"debian/{release}", "--include", INCLUDES, "--cache",
                             "--no-import", "--output", path], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=BUILD_BOUND)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"ferry image build hung for {BUILD_BOUND}s: {e.stdout} {e.stderr}")
    if cp.returncode != 0:
        raise AssertionError(f"ferry image build debian/{release} failed: {cp.stdout}\n{cp.stderr}")
    _built[release] = {"path": path, "seconds": time.monotonic() - started, "output": cp.stdout}
    return path


def debian12_tarball():
    return debian_tarball("bookworm")


def last_build(release="bookworm"):
    """What the last debian_tarball(RELEASE) call printed and how long it took."""
    return dict(_built.get(release, {}))
