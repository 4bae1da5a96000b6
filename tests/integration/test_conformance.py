"""API conformance with LXD 5.0.2: ferryd's answers to the scenario of tests/conformance,
compared structurally with the golden answers recorded from real LXD (no LXD needed here).

A difference that is not in tests/conformance/differences.py fails
test_answers_match_lxd, naming the step and the JSON path; an entry of that list that
no longer differs fails test_no_stale_known_difference (delete it: it was fixed).
"""

import glob
import json
import os
import re
import sys

import pytest

from conftest import host_range

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.path.join(os.path.dirname(HERE), "conformance")
sys.path.insert(0, CONFORMANCE)

import client as cl  # noqa: E402
import compare  # noqa: E402
import differences  # noqa: E402
import scenario  # noqa: E402

GOLDEN = os.path.join(CONFORMANCE, "golden")
# root:100000:10000001 in the recording host's /etc/subuid and /etc/subgid.
GOLDEN_SUBIDS = '"Hostid":100000,"Nsid":0,"Maprange":10000001'
ROUTES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "src", "daemon", "api", "routes.c")


def load_golden():
    recs = {}
    for path in sorted(glob.glob(os.path.join(GOLDEN, "[0-9][0-9][0-9]-*.json"))):
        with open(path) as f:
            rec = json.load(f)
        recs[rec["step"]] = rec
    with open(os.path.join(GOLDEN, "context.json")) as f:
        ctx = json.load(f)
    return recs, ctx


@pytest.fixture(scope="module")
def run(daemon):
    """The scenario against this module's ferryd, and every difference from the golden answers."""
    golden, gctx = load_golden()
    ctx = scenario.Context()
    records = scenario.run(cl.Client(daemon.socket), ctx)
    dump_dir = os.environ.get("FERRY_CONFORMANCE_DUMP")
    if dump_dir:  # ferryd's records, named as the golden ones, to read beside them
        os.makedirs(dump_dir, exist_ok=True)
        for name, rec in records.items():
            with open(os.path.join(dump_dir, f"{rec['index']:03d}-{name}.json"), "w") as f:
                f.write(scenario.dump(rec) + "\n")
    gnames = {gctx["net"]: "{net}", gctx["fp"]: "{fp}", ctx.vars["certfp"]: "{certfp}"}
    fnames = ctx.names()
    # volatile.idmap.*: the host's subordinate ids for root (/etc/subuid) as LXD chose its
    # maps from them: those of the host LXD was recorded on, and this host's.
    base, size = host_range()
    gnames[GOLDEN_SUBIDS] = "{subids}"
    fnames[f'"Hostid":{base},"Nsid":0,"Maprange":{size}'] = "{subids}"
    diffs, untrimmed = [], []
    for name, rec in records.items():
        if name not in golden:
            diffs.append((name, "*", "step has no golden record: re-record (tests/conformance/README.md)"))
            continue
        diffs += compare.compare_record(name, golden[name], rec, gnames, fnames, untrimmed)
    for name in golden:
        if name not in records:
            diffs.append((name, "*", "golden record of a step the scenario no longer has: re-record"))
    if untrimmed:
        # Go trims trailing zeros of a fraction; any one with a trailing 0 shows the format.
        diffs.append(("*", "timestamps#fraction",
                      f"{len(untrimmed)} timestamps have a fraction with a trailing 0, e.g. "
                      f"{untrimmed[0][0]}: {untrimmed[0][1]}"))
    listing = os.environ.get("FERRY_CONFORMANCE_LIST")
    if listing:  # every difference and the known entries that cover it, to triage the list
        with open(listing, "w") as f:
            for d in diffs:
                f.write(f"{d[0]}: {d[1]}: {d[2]}\n    <- {known(d) or 'NOT LISTED'}\n")
    return diffs


def known(diff):
    return [k for k in differences.KNOWN if k.matches(*diff)]


def test_answers_match_lxd(run):
    unknown = [d for d in run if not known(d)]
    if unknown:
        lines = [f"{step}: {path}: {msg}" for step, path, msg in unknown]
        pytest.fail(f"{len(unknown)} differences from LXD 5.0.2 (step: JSON path: what), not in "
                    "tests/conformance/differences.py:\n" + "\n".join(lines), pytrace=False)


def test_no_stale_known_difference(run):
    used = {id(k) for d in run for k in known(d)}
    stale = [k for k in differences.KNOWN if id(k) not in used]
    if stale:
        pytest.fail("known differences that no longer differ (delete them from "
                    "tests/conformance/differences.py):\n"
                    + "\n".join(f"{k!r}  ({k.reason})" for k in stale), pytrace=False)


def test_every_route_is_in_the_scenario():
    """Every path pattern of the route table is requested by some step (or listed here)."""
    not_covered_on_purpose = {
        "instances/*/console",            # a websocket pair: test_lxc_client covers `lxc console`
        "instances/*/report",             # Ferry's own endpoint (checkpoint report), not LXD's
        "instances/*/logs/*",             # LXD's log names differ from Ferry's (logs lists them)
        "operations/*/websocket",         # exec/migration websockets: their own tests
        "images/*/*/**", "images/aliases/*/*/**", "profiles/*/*/**", "networks/*/*/**",
        "instances/*/snapshots/*/*/**",   # catch-all 404s
        "storage-pools/*/volumes/*",      # custom volumes: Ferry has none (400)
        "events",                         # the steps' event listeners (websockets)
    }
    methods_not_covered = {
        ("", "PUT"), ("", "PATCH"),       # server config: would change the daemon under test
        ("images", "POST"),               # an import: test_lxc_client / test_image_build
        ("images/*", "DELETE"),           # would delete the scenario's only image
        ("images/aliases/*", "POST"),     # alias rename: Ferry's extension image_aliases_post
        ("instances/*/logs/*", "DELETE"),
        ("storage-pools/*/volumes", "POST"),
    }
    with open(ROUTES) as f:
        routes = sorted(set(re.findall(r'^\s*\{ "([^"]*)", (?:"([A-Z]+)"|NULL)', f.read(), re.M)))
    requests = [(s.method, s.path.split("?")[0].split("/1.0", 1)[-1].lstrip("/").replace("containers", "instances", 1))
                for s in scenario.steps(scenario.Context())]
    missing = []
    for p, method in routes:
        if p in not_covered_on_purpose or (p, method) in methods_not_covered:
            continue
        rx = "^" + re.escape(p).replace(r"\*\*", ".*").replace(r"\*", "[^/]+") + "$"
        if not any(re.match(rx, q) and method in ("", m) for m, q in requests):
            missing.append(f"{method or 'any'} {p}")
    assert not missing, f"routes no scenario step requests: {missing}"
