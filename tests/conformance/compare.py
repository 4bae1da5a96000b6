"""Structural comparison of a ferryd record with LXD's golden record of the same step.

What is compared: the status code, the headers clients use, the envelope and every JSON
object's key set, the JSON type of every value, the values themselves where both daemons
must agree (booleans, status codes, strings once normalised), and event sequences.

Values that naturally differ are normalised, keeping their format: a timestamp becomes
<time> (its format is checked: RFC 3339, zero time kept literally), a UUID <uuid>, a
sha256 <sha256>, a MAC <mac>, an address <ipv4>/<ipv6>, an ETag <etag> (quoted) or
<unquoted-etag>; the daemon's network and image fingerprint become {net} and {fp}.
Numbers are compared by type only, except status codes and exit codes. VALUE_FREE names
the paths whose string values are the daemon's own (versions, PIDs, paths, descriptions):
there only the type (and format) is compared.

A difference is (step, path, message); path is "status", "headers/<name>",
"body/<json path>", "operation/<json path>" or "events/<signature>", JSON paths joined
with "/", list items as [name] (objects with a name) or [index].
"""

import difflib
import fnmatch
import ipaddress
import re

TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
ZERO_TIMES = ("0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SHA_RE = re.compile(r"\b[0-9a-f]{64}\b")
MAC_RE = re.compile(r"\b[0-9a-f]{2}(:[0-9a-f]{2}){5}\b", re.I)
IPV4_RE = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?\b")
VETH_RE = re.compile(r"^veth[0-9a-f]{8}$")

# Keys whose integer values must be equal; other numbers are counters, sizes, PIDs, ids.
EXACT_INT_KEYS = {"status_code", "error_code", "return"}

# (step pattern, path pattern): the string value is the daemon's own; type and format only.
VALUE_FREE = [
    ("*", "*/environment/server_pid"),
    ("*", "*/environment/kernel*"),
    ("*", "*/environment/server_version"),
    ("*", "*/environment/os_version"),
    ("*", "*/environment/driver_version"),
    ("*", "*/environment/storage_version"),
    ("*", "*/environment/certificate*"),
    ("*", "*/environment/server_name"),
    ("*", "*/environment/addresses*"),
    ("*", "*/environment/lxc_features/*"),
    ("*", "*/environment/kernel_features/*"),
    ("*", "*config/volatile.*.host_name"),
    ("*", "*config/volatile.*.name"),
    ("*", "*config/volatile.uuid"),
    ("*", "*config/image.*"),         # the daemons' busybox images are not the same build
    ("*", "*config/source"),
    ("*", "*/properties/*"),
    ("image*", "body/metadata/description"),
    ("images-recursion1", "body/metadata/*/description"),
    ("*", "*/update_source/*"),
    ("*", "*/host_name"),
    ("*", "*/filename"),
    ("*", "*/certificate"),
    ("*", "*/name"),   # compared where it matters: names become list keys
    ("*", "*/hostname"),
    ("resources", "*"),
    ("storage-pool-resources", "*"),
    ("*", "*/network/*/addresses"),   # LXD's busybox runs no DHCP client, Ferry's does
    ("operations", "body/metadata/*"),  # which operations are still listed: timing
    ("*", "*/progress/speed"),         # an unpack's speed: the machine's
    ("*", "*/create_instance_from_image_unpack_progress"),
]

# (step pattern, path pattern): objects whose keys are data, not fields (which lists of
# operations exist depends on what failed within the last seconds).
DATA_KEYS = [
    ("operations*", "body/metadata"),
]

# Keys whose dicts are maps of data (names chosen by the user or the daemon): compared
# key by key all the same, but listed here so that a difference names the key clearly.


class Ctx:
    def __init__(self, names):
        self.names = names  # {daemon-specific value: placeholder}
        self.untrimmed = []  # paths of timestamps with a trailing zero in their fraction


def norm_str(s, ctx, path):
    for value, ph in ctx.names.items():
        if value:
            s = s.replace(value, ph)

    def t(m):
        text = m.group(0)
        if text in ZERO_TIMES:
            return text
        frac = m.group(1)
        if frac and frac.endswith("0"):
            ctx.untrimmed.append(path)
        return "<time>"
    s = TIME_RE.sub(t, s)
    s = UUID_RE.sub("<uuid>", s)
    s = SHA_RE.sub("<sha256>", s)
    s = MAC_RE.sub("<mac>", s)
    s = IPV4_RE.sub(lambda m: "<ipv4>" + ("/n" if m.group(2) else ""), s)
    try:
        ipaddress.IPv6Address(s.split("/")[0])
        s = "<ipv6>" + ("/n" if "/" in s else "")
    except ValueError:
        pass
    if VETH_RE.match(s):
        s = "<veth>"
    return s


def fmt_class(s):
    """A string's format: what must match even where its value may not."""
    if TIME_RE.fullmatch(s):
        return "zero-time:" + s if s in ZERO_TIMES else "time"
    if UUID_RE.fullmatch(s):
        return "uuid"
    if SHA_RE.fullmatch(s):
        return "sha256"
    if MAC_RE.fullmatch(s):
        return "mac"
    if s == "":
        return "empty"
    return "text"


def jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def value_free(step, path):
    return any(fnmatch.fnmatchcase(step, sp) and fnmatch.fnmatchcase(path, pp) for sp, pp in VALUE_FREE)


def _short(v):
    import json
    text = json.dumps(v, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def _list_key(items):
    """How items of a list of objects pair up: by name, else by index."""
    for key in ("name", "fingerprint", "id"):
        if items and all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items):
            return key
    return None


def compare_value(step, path, g, f, gctx, fctx, out, shape=False):
    """SHAPE: compare key sets and types only (items that are the daemon's own)."""
    gt, ft = jtype(g), jtype(f)
    if gt != ft:
        out.append((step, path, f"type: LXD {gt} {_short(g)}, Ferry {ft} {_short(f)}"))
        return
    if gt == "object" and any(fnmatch.fnmatchcase(step, sp) and fnmatch.fnmatchcase(path, pp)
                              for sp, pp in DATA_KEYS):
        for k in sorted(set(g) & set(f)):
            compare_value(step, f"{path}/{k}", g[k], f[k], gctx, fctx, out)
    elif gt == "object":
        for k in sorted(set(g) - set(f)):
            out.append((step, f"{path}/{k}", f"key missing in Ferry (LXD: {_short(g[k])})"))
        for k in sorted(set(f) - set(g)):
            out.append((step, f"{path}/{k}", f"key only in Ferry ({_short(f[k])})"))
        for k in sorted(set(g) & set(f)):
            compare_value(step, f"{path}/{k}", g[k], f[k], gctx, fctx, out, shape)
    elif shape and gt not in ("object", "array"):
        return
    elif gt == "array" and (shape or value_free(step, path)):
        # which items (and how many) are the daemon's own: compare the first one's shape
        if g and f:
            compare_value(step, f"{path}/[0]", g[0], f[0], gctx, fctx, out, shape=True)
    elif gt == "array":
        if all(isinstance(i, str) for i in g + f):
            gs = sorted(norm_str(i, gctx, path) for i in g)
            fs = sorted(norm_str(i, fctx, path) for i in f)
            if gs != fs and not value_free(step, path + "/[]"):
                for i in sorted(set(gs) - set(fs)):
                    out.append((step, f"{path}/[{i}]", "item missing in Ferry"))
                for i in sorted(set(fs) - set(gs)):
                    out.append((step, f"{path}/[{i}]", "item only in Ferry"))
                if set(gs) == set(fs):
                    out.append((step, path, f"items repeat differently: LXD {gs}, Ferry {fs}"))
            return
        key = _list_key(g) if _list_key(g) == _list_key(f) else None
        if key is not None:
            gm = {norm_str(i[key], gctx, path): i for i in g}
            fm = {norm_str(i[key], fctx, path): i for i in f}
            if len(gm) < len(g) or len(fm) < len(f):
                # keys equal once normalised (operation ids): pair the first item of each
                # description instead; which ones are still listed is timing
                gd, fd = {}, {}
                for i in g:
                    gd.setdefault(str(i.get("description")), i)
                for i in f:
                    fd.setdefault(str(i.get("description")), i)
                for k in sorted(set(gd) & set(fd)):
                    compare_value(step, f"{path}/[{k}]", gd[k], fd[k], gctx, fctx, out, shape=True)
                return
            for k in sorted(set(gm) - set(fm)):
                out.append((step, f"{path}/[{k}]", "item missing in Ferry"))
            for k in sorted(set(fm) - set(gm)):
                out.append((step, f"{path}/[{k}]", "item only in Ferry"))
            for k in sorted(set(gm) & set(fm)):
                compare_value(step, f"{path}/[{k}]", gm[k], fm[k], gctx, fctx, out)
            return
        if len(g) != len(f):
            out.append((step, path, f"length: LXD {len(g)}, Ferry {len(f)}"))
        if len(g) == len(f) or all(isinstance(i, dict) for i in g + f):
            for i, (gi, fi) in enumerate(zip(g, f)):
                compare_value(step, f"{path}/[{i}]", gi, fi, gctx, fctx, out)
    elif gt == "bool":
        if g != f:
            out.append((step, path, f"value: LXD {g}, Ferry {f}"))
    elif gt == "number":
        if path.rsplit("/", 1)[-1] in EXACT_INT_KEYS and g != f:
            out.append((step, path, f"value: LXD {g}, Ferry {f}"))
    elif gt == "string":
        gn, fn = norm_str(g, gctx, path), norm_str(f, fctx, path)
        if value_free(step, path):
            gc, fc = fmt_class(g), fmt_class(f)
            if gc != fc and not (gc == "text" and fc == "text"):
                out.append((step, path, f"format: LXD {gc} {_short(g)}, Ferry {fc} {_short(f)}"))
        elif gn != fn:
            out.append((step, path, f"value: LXD {_short(gn)}, Ferry {_short(fn)}"))


def norm_etag(v):
    return "<etag>" if re.fullmatch(r'"[^"]*"', v or "") else "<unquoted-etag>"


def compare_headers(step, g, f, gctx, fctx, out):
    for name in sorted(set(g) | set(f)):
        if name not in f:
            out.append((step, f"headers/{name}", f"header missing in Ferry (LXD: {g[name]!r})"))
        elif name not in g:
            out.append((step, f"headers/{name}", f"header only in Ferry ({f[name]!r})"))
        elif name == "etag":
            if norm_etag(g[name]) != norm_etag(f[name]):
                out.append((step, "headers/etag", f"format: LXD {g[name]!r}, Ferry {f[name]!r}"))
        elif name in ("x-lxd-modified",):
            continue
        elif norm_str(g[name], gctx, "h") != norm_str(f[name], fctx, "h"):
            out.append((step, f"headers/{name}", f"value: LXD {g[name]!r}, Ferry {f[name]!r}"))


def event_signature(ev):
    t = ev.get("type")
    md = ev.get("metadata") or {}
    if t == "lifecycle":
        return f"lifecycle {md.get('action')}"
    if t == "operation":
        return f"operation {md.get('description')} {md.get('status')}"
    return str(t)


OP_ORDER = {"Pending": 0, "Running": 1, "Cancelling": 2, "Success": 3, "Failure": 3, "Cancelled": 3}


def event_sequence(events):
    """The operation events' signatures (each once, in status order: LXD sends Pending and
    Running from two goroutines, so their order on the wire varies, and a Running update
    per progress step), then the lifecycle events in order (where they fall between the
    operation's events varies in LXD too)."""
    ops, life = [], []
    for e in events:
        sig = event_signature(e)
        if e.get("type") == "operation" and sig not in ops:
            ops.append(sig)
        elif e.get("type") == "lifecycle" and (not life or life[-1] != sig):
            life.append(sig)
    ops.sort(key=lambda sig: OP_ORDER.get(sig.rsplit(" ", 1)[-1], 9))
    return ops + life


def compare_events(step, g, f, gctx, fctx, out):
    g_types = sorted({e.get("type") for e in g})
    f_types = sorted({e.get("type") for e in f})
    for t in sorted(set(g_types) - set(f_types)):
        out.append((step, f"events/types/{t}", "event type missing in Ferry"))
    for t in sorted(set(f_types) - set(g_types)):
        out.append((step, f"events/types/{t}", "event type only in Ferry"))
    gs, fs = event_sequence(g), event_sequence(f)
    sm = difflib.SequenceMatcher(a=gs, b=fs, autojunk=False)
    told = False
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        seqs = "" if told else f" (LXD: {gs}, Ferry: {fs})"
        if op in ("delete", "replace"):
            for s in gs[i1:i2]:
                out.append((step, f"events/{s}", f"event missing in Ferry at this place{seqs}"))
                told, seqs = True, ""
        if op in ("insert", "replace"):
            for s in fs[j1:j2]:
                out.append((step, f"events/{s}", f"event only in Ferry at this place{seqs}"))
                told, seqs = True, ""
    gfirst, ffirst = {}, {}
    for e in g:
        gfirst.setdefault(event_signature(e), e)
    for e in f:
        ffirst.setdefault(event_signature(e), e)
    for sig in sorted(set(gfirst) & set(ffirst)):
        compare_value(step, f"events/{sig}", gfirst[sig], ffirst[sig], gctx, fctx, out)


def _op_status_free(rec):
    """An operation object answered while it may still run (a 202 body, a GET without
    /wait) has whatever status it reached by then: compare its type only."""
    import copy
    body = rec.get("body")
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        return rec
    md = body["metadata"]
    if body.get("type") != "async" and not (rec.get("request", {}).get("path", "").startswith("/1.0/operations/")
                                            and "/wait" not in rec["request"]["path"]):
        return rec
    rec = copy.deepcopy(rec)
    md = rec["body"]["metadata"]
    for k, v in (("status", "<status>"), ("status_code", 0), ("err", ""), ("updated_at", "<time>")):
        if k in md and isinstance(md[k], type(v)):
            md[k] = v
    return rec


def compare_record(step, g, f, gnames, fnames, untrimmed=None):
    """[(step, path, message)] of the differences between golden G and Ferry's F.
    UNTRIMMED (a list) collects the paths of Ferry's timestamps with a trailing 0 in their
    fraction: one such timestamp proves nothing (LXD's can end in 0 too... never: Go trims
    them), so the caller judges the whole run at once."""
    gctx, fctx = Ctx(gnames), Ctx(fnames)
    out = []
    g, f = _op_status_free(g), _op_status_free(f)
    if g["status"] != f["status"]:
        out.append((step, "status", f"HTTP status: LXD {g['status']}, Ferry {f['status']}"))
    compare_headers(step, g.get("headers", {}), f.get("headers", {}), gctx, fctx, out)
    compare_value(step, "body", g.get("body"), f.get("body"), gctx, fctx, out)
    if "operation" in g or "operation" in f:
        compare_value(step, "operation", g.get("operation"), f.get("operation"), gctx, fctx, out)
    if "events" in g:
        compare_events(step, g["events"], f.get("events", []), gctx, fctx, out)
    if untrimmed is not None:
        untrimmed.extend((step, p) for p in fctx.untrimmed)
    return out
