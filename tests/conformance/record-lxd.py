#!/usr/bin/python3
"""Records LXD 5.0.2's answers to the conformance scenario as golden fixtures.

Run as root on a host with the LXD oracle (../shared/tools/lxd-oracle) initialised:
    ./lxdd.sh start A; eval "$(./lxdd.sh env A)"; lxd init --preseed < preseed.yaml
    IMPORT=1 ./mkimage.sh
    tests/conformance/record-lxd.py [--socket /var/lib/lxd-peerA/unix.socket]
It removes what a previous run left (instances c1, c2, ..., profile p1, alias bb2), runs
scenario.steps() and rewrites tests/conformance/golden/.
"""

import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import client as cl  # noqa: E402
import scenario  # noqa: E402

# LXD 5.0.2 with CRIU >= 4.2 needs these for a stateful snapshot (oracle README); Ferry
# takes no such key (differences.py lists raw.lxc).
LXD_C1_CONFIG = {"raw.lxc": "lxc.pty.max=1\nlxc.apparmor.profile="}


def cleanup(c):
    for name in scenario.INSTANCES:
        r = c.request("GET", f"/1.0/instances/{name}")
        if r.status != 200:
            continue
        r = c.request("PUT", f"/1.0/instances/{name}/state", {"action": "stop", "force": True, "timeout": 30})
        op = r.json()
        if op and op.get("type") == "async":
            c.request("GET", f"/1.0/operations/{op['metadata']['id']}/wait?timeout=60")
        r = c.request("DELETE", f"/1.0/instances/{name}")
        op = r.json()
        if op and op.get("type") == "async":
            c.request("GET", f"/1.0/operations/{op['metadata']['id']}/wait?timeout=60")
    for name in scenario.PROFILES:
        c.request("DELETE", f"/1.0/profiles/{name}")
    for name in scenario.ALIASES:
        c.request("DELETE", f"/1.0/images/aliases/{name}")
    for name in scenario.NETWORKS:
        c.request("DELETE", f"/1.0/networks/{name}")
    for name in scenario.POOLS:
        c.request("DELETE", f"/1.0/storage-pools/{name}")
    c.request("DELETE", "/1.0/certificates/" + scenario.Context().vars["certfp"])
    for name in scenario.PROJECTS:
        c.request("DELETE", f"/1.0/projects/{name}")
    # the scenario's project-default-patch-description changes it (Ferry refuses to)
    c.request("PATCH", "/1.0/projects/default", {"description": "Default LXD project"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", default="/var/lib/lxd-peerA/unix.socket")
    ap.add_argument("--out", default=os.path.join(HERE, "golden"))
    args = ap.parse_args()
    c = cl.Client(args.socket)
    cleanup(c)
    ctx = scenario.Context(c1_config=LXD_C1_CONFIG)
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)

    def write(i, rec):
        print(f"{i:03d} {rec['step']}: {rec['status']}", file=sys.stderr)
        with open(os.path.join(args.out, f"{i:03d}-{rec['step']}.json"), "w") as f:
            f.write(scenario.dump(rec) + "\n")

    try:
        scenario.run(c, ctx, on_record=write)
    finally:
        cleanup(c)
    with open(os.path.join(args.out, "context.json"), "w") as f:
        json.dump({"net": ctx.vars["net"], "fp": ctx.vars["fp"],
                   "server_version": c.request("GET", "/1.0").json()["metadata"]["environment"]
                   .get("server_version")}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
