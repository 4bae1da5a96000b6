"""Live moves of stock Debian systemd containers between two lab hosts (issue 10): ten
consecutive moves of Debian 12 (four of Debian 13, systemd 257), back and forth, with sshd,
nginx and PostgreSQL serving and a client
connection to each, from the lab's client namespace (a third machine), held open across
every move; systemd stays `running` with no failed unit. The last move goes through LXD's
stock `lxc move`. Each move's downtime figure is the freeze-to-restored time, never 0."""

import os

import pytest

from debian_image import RELEASES, debian_tarball
from service_clients import ServiceClients, prepare_services
from test_systemd import BOOT_BOUND, wait_running

LAB_OPTIONS = {"hosts": 2, "client": True}
MOVES = {"bookworm": 10, "trixie": 4}
MOVE_TIMEOUT = 300
NAME = "mv1"


@pytest.fixture(scope="module")
def lab2(module_lab):
    if not os.path.exists("/usr/bin/mmdebstrap"):
        pytest.skip("mmdebstrap not installed (scripts/setup-deps)")
    module_lab.remotes()
    for release, alias in RELEASES.items():
        module_lab.hosts[0].ferry("image", "import", debian_tarball(release), "--alias", alias, timeout=600)
    return module_lab


def healthy(host):
    wait_running(host, NAME)
    cp = host.ferry("exec", NAME, "--", "systemctl", "is-active", "ssh", "nginx", "postgresql", check=False)
    assert cp.stdout.split() == ["active"] * 3, cp.stdout


@pytest.mark.parametrize("release", list(MOVES))
def test_live_moves_with_services(lab2, tmp_path, release):
    h1, h2 = lab2.hosts
    moves = MOVES[release]
    h1.ferry("launch", RELEASES[release], NAME, timeout=300)
    try:
        wait_running(h1, NAME)
        key = prepare_services(h1, NAME, str(tmp_path))
        address = h1.ipv4(NAME, bound=BOOT_BOUND)
        clients = ServiceClients(lab2.client_popen, address, key)
        try:
            clients.check()
            here, there = h1, h2
            for i in range(moves):
                if i == moves - 1:
                    cp = here.lxc("move", f"{NAME}", f"{there.name}:", check=False, timeout=MOVE_TIMEOUT)
                else:
                    cp = here.ferry("move", NAME, f"{there.name}:", "--verbose", check=False, timeout=MOVE_TIMEOUT)
                assert cp.returncode == 0, f"move {i + 1} ({here.name} -> {there.name}): {cp.stdout} {cp.stderr}"
                if "Downtime:" in cp.stdout:
                    downtime = int(cp.stdout.split("Downtime:")[1].split()[0])
                    assert downtime > 0, f"move {i + 1}: {cp.stdout}"
                assert NAME not in here.instance_names() and NAME in there.instance_names()
                answers = clients.check()
                print(f"move {i + 1} {here.name} -> {there.name}: {answers}")
                here, there = there, here
            healthy(here)
        finally:
            clients.close()
    finally:
        for h in (h1, h2):
            if NAME in h.instance_names():
                h.ferry("delete", "-f", NAME, timeout=120)
