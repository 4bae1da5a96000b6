"""bench/peers' table from canned results: medians, ratios to raw CRIU, a failed step's error
(first line) in its cell, "n/a", a peer that is not installed. No daemon, no timing."""
import importlib.machinery
import importlib.util
import io
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "..", "..", "bench", "peers")


def _peers():
    loader = importlib.machinery.SourceFileLoader("bench_peers", PEERS)
    spec = importlib.util.spec_from_loader("bench_peers", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def _canned(peers):
    results = {"runs": 3, "sizes": [64], "systems": ["ferry", "criu", "lxd", "podman"], "criu": "criu",
               "missing": {"podman": peers.NOT_INSTALLED}, "cells": {}}
    for v in (0.3, 0.1, 0.2):
        peers.cell(results, "ferry", 64, "snapshot", v)
    for v in (0.2, 0.1, 0.1):
        peers.cell(results, "criu", 64, "snapshot", v)
    peers.cell(results, "ferry", "-", "start", 0.05)
    peers.cell(results, "lxd", 64, "snapshot", 0.4)
    peers.cell(results, "lxd", 64, "snapshot",
               peers.StepError("lxc snapshot: Error: snapshot dump failed: criu: mnt: Mount 114\nall of it"))
    return results


def test_table_cells():
    peers = _peers()
    rows = {(step, size): (texts, secs) for step, size, texts, secs in peers.table_cells(_canned(peers))}
    texts, secs = rows[("snapshot", "64")]
    assert secs == {"ferry": 0.2, "criu": 0.1}
    assert texts["ferry"] == "0.200"
    # one failed run of three: the cell is the error's first line, never a number
    # its first line, CRIU's cause kept, the rest only in the JSON
    assert texts["lxd"] == "ERR lxc snapshot: criu: mnt: Mount 114"
    assert "all of it" not in texts["lxd"]
    assert texts["podman"] == "not installed (run bench/peers --setup)"
    assert rows[("start", "-")][0]["criu"] == "n/a"
    assert rows[("move", "64")][0]["podman"] == "n/a"  # not applicable comes first
    assert rows[("move", "64")][0]["ferry"] == "not run"


def test_print_table_and_json():
    peers = _peers()
    results = json.loads(json.dumps(_canned(peers)))  # what --table reads back
    out = io.StringIO()
    peers.print_table(results, out)
    text = out.getvalue()
    line = next(l for l in text.splitlines() if l.startswith("snapshot") and " 64 " in l)
    assert "0.200 (2.00x)" in line and "0.100" in line
    assert "not installed (run bench/peers --setup)" in text
    # the full error stays in the JSON
    assert results["cells"]["lxd"]["64"]["snapshot"]["errors"][0].endswith("all of it")
