"""The Debian 12 systemd image of the integration tests, built once per machine.

`ferry image build debian/bookworm --cache` reuses the last build of the same recipe
(release, packages, recipe version) from /var/cache/ferry/images, so the image is built
only when it is missing or the recipe changed; the .debs it downloaded are kept in
/var/cache/ferry/debs for the next build. Tests that need a systemd container:

    from debian_image import debian12_tarball
    path = debian12_tarball()           # builds (minutes) or reuses (a second); with INCLUDES
    daemon.ferry("image", "import", path, "--alias", "debian12", timeout=300)
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

_built = {}


def debian12_tarball():
    """Path of the cached Debian 12 image tarball, built if needed; (path, seconds) kept."""
    if "path" in _built:
        return _built["path"]
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, "debian12.tar.zst")
    started = time.monotonic()
    try:
        cp = subprocess.run([FERRY, "image", "build", "debian/bookworm", "--include", INCLUDES, "--cache",
                             "--no-import", "--output", path], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=BUILD_BOUND)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"ferry image build hung for {BUILD_BOUND}s: {e.stdout} {e.stderr}")
    if cp.returncode != 0:
        raise AssertionError(f"ferry image build debian/bookworm failed: {cp.stdout}\n{cp.stderr}")
    _built["path"] = path
    _built["seconds"] = time.monotonic() - started
    _built["output"] = cp.stdout
    return path


def last_build():
    """What the last debian12_tarball() call printed and how long it took."""
    return dict(_built)
