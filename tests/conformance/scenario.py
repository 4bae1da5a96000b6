"""The conformance scenario: the same requests, in the same order, for LXD and ferryd.

record-lxd.py runs it against real LXD 5.0.2 and writes golden/NNN-<step>.json;
tests/integration/test_conformance.py runs it against ferryd and compares (compare.py).

The daemons differ in a few names the scenario discovers first (Context): the managed
network (lxdbr0 / ferrybr0), the busybox image's fingerprint. Paths and bodies name them
through "{net}", "{fp}", "{op}" (the last operation a step kept), ... placeholders.

A record (one step) is a dict:
  step, request {method, path, body}, status, headers (Content-Type, Location, ETag,
  Content-Disposition, X-LXD-*), body (JSON, or {"raw_length": N} for non-JSON bodies),
  operation (for an async answer: what /1.0/operations/ID/wait returns at the end),
  events (if the step listens: every event from the request to a quiet moment after it).
"""

import base64
import hashlib
import json
import time

# Names the scenario creates; the recorder removes leftovers of a previous run first.
INSTANCES = ("c1", "c2", "c2r", "c3", "c9")
PROFILES = ("p1", "p1r")
PROJECTS = ("fcproj", "fcproj2")
ALIASES = ("bb2",)
NETWORKS = ("fcnet1", "fcnet2")
POOLS = ("fcpool",)

# A client certificate the suite adds and removes (self-signed, P-384, CN=conformance-suite;
# its key is not kept: nothing connects with it).
SUITE_CERT = (
    "MIIByzCCAVKgAwIBAgIUDEFvuKQM49ankiQyCuwwAxlD1jowCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRY29uZm9y"
    "bWFuY2Utc3VpdGUwIBcNMjYxMjA2MjIzNzM4WhgPMjEyNjExMTIyMjM3MzhaMBwxGjAYBgNVBAMMEWNvbmZvcm1h"
    "bmNlLXN1aXRlMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE4jz6+NwjfniPEy23H+Ezdnz3/iYe8Kg6ZcdJM9qgchKS"
    "Ce3D24aj2S8ZCXZ9P1wV1rUnhK21LAS2Ns21VYVS/nBQj3vb+Z+0QCE7gk2eRC3TUaQkLnUVhwf1Y1aGd5eyo1Mw"
    "UTAdBgNVHQ4EFgQUD7KPT1vTilPR8/rzd1SJ4kDEQfowHwYDVR0jBBgwFoAUD7KPT1vTilPR8/rzd1SJ4kDEQfow"
    "DwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNnADBkAjBallrpQgVSuoiUQea55Pn2gQgAHnPKqHvfqp8OQyuU"
    "+SG1lliq67skoPATY64wCyYCMFKBvPEDtjSOCAMmWp9OO+KqvI6GAriNIJicWScNZN2EPswu0E971kxXGWwpMfEZ"
    "OQ=="
)


# The writable fields of an instance (what `lxc config edit` sends back).
WRITABLE = ("architecture", "config", "devices", "ephemeral", "profiles", "stateful", "description")

STALE_ETAG = '"0000000000000000000000000000000000000000000000000000000000000000"'

EVENT_TYPES = "?type=operation,lifecycle"


class Context:
    def __init__(self, c1_config=None):
        self.vars = {"net": None, "fp": None, "op": None,
                     "certfp": hashlib.sha256(base64.b64decode(SUITE_CERT)).hexdigest()}
        self.c1_config = dict(c1_config or {})

    def fill(self, text):
        for k, v in self.vars.items():
            if v is not None:
                text = text.replace("{" + k + "}", str(v))
        return text

    def fill_json(self, value):
        if isinstance(value, str):
            return self.fill(value)
        if isinstance(value, dict):
            return {self.fill(k): self.fill_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill_json(v) for v in value]
        return value

    def names(self):
        """Daemon-specific values and the placeholder that replaces them when comparing."""
        return {v: "{" + k + "}" for k, v in self.vars.items() if k in ("net", "fp", "certfp") and v}


class Step:
    def __init__(self, name, method, path, body=None, headers=None, raw=False, wait=True,
                 events=None, keep_op=False, body_bytes=None, edit=False, if_match=False):
        self.name = name
        self.method = method
        self.path = path
        self.body = body
        self.headers = headers or {}
        self.raw = raw            # the answer is not JSON (file, export, log)
        self.wait = wait          # for an async answer: wait for the operation and record it
        self.events = events      # query of /1.0/events to listen to during the step, or None
        self.keep_op = keep_op    # remember the operation id as {op}
        self.body_bytes = body_bytes
        self.edit = edit          # body: the object's writable fields from a GET, BODY merged in
                                  # (True: an instance's WRITABLE; a tuple: those keys; "all": every key)
        self.if_match = if_match  # send If-Match with the ETag a GET of the same path answers


def S(*a, **kw):
    return Step(*a, **kw)


def steps(ctx):
    """The ordered steps. Setup steps are recorded too: their answers are API answers."""
    snap_expiry = "2030-01-02T03:04:05Z"
    return [
        # --- setup: c1 running (with snapshots), c2 stopped ------------------------------
        S("create-c1", "POST", "/1.0/instances",
          {"name": "c1", "source": {"type": "image", "alias": "busybox"}, "config": ctx.c1_config},
          events=EVENT_TYPES),
        S("create-c2", "POST", "/1.0/instances",
          {"name": "c2", "source": {"type": "image", "alias": "busybox"}}),
        S("get-c2-never-started", "GET", "/1.0/instances/c2"),
        S("start-c1", "PUT", "/1.0/instances/c1/state", {"action": "start", "timeout": 30},
          events=EVENT_TYPES),
        S("snapshot-c1-stateless", "POST", "/1.0/instances/c1/snapshots", {"name": "snap0"},
          events=EVENT_TYPES),
        S("snapshot-c1-stateful", "POST", "/1.0/instances/c1/snapshots", {"name": "snap1", "stateful": True}),

        # --- server ----------------------------------------------------------------------
        S("server", "GET", "/1.0"),
        S("root", "GET", "/"),
        S("resources", "GET", "/1.0/resources"),
        S("projects", "GET", "/1.0/projects"),
        S("projects-recursion1", "GET", "/1.0/projects?recursion=1"),
        S("project-default", "GET", "/1.0/projects/default"),
        S("warnings", "GET", "/1.0/warnings"),
        S("warnings-recursion1", "GET", "/1.0/warnings?recursion=1"),
        S("warning-missing", "GET", "/1.0/warnings/00000000-0000-0000-0000-000000000000"),
        S("warning-missing-put", "PUT", "/1.0/warnings/00000000-0000-0000-0000-000000000000",
          {"status": "acknowledged"}),
        S("warning-missing-patch", "PATCH", "/1.0/warnings/00000000-0000-0000-0000-000000000000",
          {"status": "acknowledged"}),
        S("warning-missing-delete", "DELETE", "/1.0/warnings/00000000-0000-0000-0000-000000000000"),

        # --- projects: the default one cannot be renamed or deleted; its features are fixed --
        S("project-default-put", "PUT", "/1.0/projects/default", {}, edit=("config", "description"),
          if_match=True),
        S("project-default-patch", "PATCH", "/1.0/projects/default", {"config": {"features.images": "true"}},
          if_match=True),
        S("project-default-stale-if-match", "PUT", "/1.0/projects/default", {},
          edit=("config", "description"), headers={"If-Match": STALE_ETAG}),
        S("project-default-patch-feature", "PATCH", "/1.0/projects/default",
          {"config": {"features.images": "false"}}),
        S("project-default-patch-description", "PATCH", "/1.0/projects/default",
          {"description": "patched by the suite"}),
        S("project-default-rename", "POST", "/1.0/projects/default", {"name": "fcproj2"}),
        S("project-default-delete", "DELETE", "/1.0/projects/default"),
        S("project-create", "POST", "/1.0/projects",
          {"name": "fcproj", "description": "suite", "config": {}}),
        S("project-created", "GET", "/1.0/projects/fcproj"),
        S("project-created-delete", "DELETE", "/1.0/projects/fcproj"),
        S("project-missing", "GET", "/1.0/projects/fcproj"),

        # --- instances -------------------------------------------------------------------
        S("instances", "GET", "/1.0/instances"),
        S("instances-recursion1", "GET", "/1.0/instances?recursion=1"),
        S("instances-recursion2", "GET", "/1.0/instances?recursion=2"),
        S("instances-filter-running", "GET", "/1.0/instances?filter=status+eq+Running"),
        S("instances-filter-name-recursion1", "GET", "/1.0/instances?recursion=1&filter=name+eq+c2"),
        S("instances-all-projects", "GET", "/1.0/instances?all-projects=true"),
        # ?project=: the default project by name, and one that does not exist
        S("instances-project-default", "GET", "/1.0/instances?project=default"),
        S("instances-project-missing", "GET", "/1.0/instances?project=nosuchproject"),
        S("get-c1-project-default", "GET", "/1.0/instances/c1?project=default"),
        S("get-c1-project-missing", "GET", "/1.0/instances/c1?project=nosuchproject"),
        S("profiles-project-missing", "GET", "/1.0/profiles?project=nosuchproject"),
        S("create-project-missing", "POST", "/1.0/instances?project=nosuchproject",
          {"name": "c3", "source": {"type": "image", "alias": "busybox"}}),
        S("containers-legacy", "GET", "/1.0/containers"),
        S("get-c1", "GET", "/1.0/instances/c1"),
        S("get-c1-recursion1", "GET", "/1.0/instances/c1?recursion=1"),
        S("get-c2", "GET", "/1.0/instances/c2"),
        S("state-c1", "GET", "/1.0/instances/c1/state"),
        S("state-c2", "GET", "/1.0/instances/c2/state"),
        # as `lxc config edit` does: GET, change, PUT the whole writable object back
        S("put-c2", "PUT", "/1.0/instances/c2",
          {"description": "put by the suite", "config": {"user.suite": "put"}}, edit=True),
        S("patch-c2", "PATCH", "/1.0/instances/c2", {"description": "patched", "config": {"user.patch": "1"}}),
        S("get-c2-after-patch", "GET", "/1.0/instances/c2"),
        S("put-c2-stale-if-match", "PUT", "/1.0/instances/c2", {"description": "lost update"},
          headers={"If-Match": STALE_ETAG}, edit=True),
        S("patch-c2-stale-if-match", "PATCH", "/1.0/instances/c2", {"description": "lost update"},
          headers={"If-Match": STALE_ETAG}),
        S("metadata-c1", "GET", "/1.0/instances/c1/metadata"),
        S("metadata-templates-c1", "GET", "/1.0/instances/c1/metadata/templates"),
        S("metadata-put", "PUT", "/1.0/instances/c1/metadata",
          {"properties": {"description": "put by the suite"},
           "templates": {"/etc/suite": {"when": ["create", "copy"], "template": "suite.tpl",
                                        "properties": {}, "create_only": False}}},
          edit="all", if_match=True),
        S("metadata-after-put", "GET", "/1.0/instances/c1/metadata"),
        S("metadata-put-stale-if-match", "PUT", "/1.0/instances/c1/metadata", {"properties": {}},
          edit="all", headers={"If-Match": STALE_ETAG}),
        S("metadata-patch", "PATCH", "/1.0/instances/c1/metadata", {"properties": {"suite": "patched"}},
          if_match=True),
        S("metadata-patch-stale-if-match", "PATCH", "/1.0/instances/c1/metadata", {"properties": {"x": "y"}},
          headers={"If-Match": STALE_ETAG}),
        S("metadata-after-patch", "GET", "/1.0/instances/c1/metadata"),
        S("metadata-put-bad-json", "PUT", "/1.0/instances/c1/metadata", body_bytes=b"{not json",
          headers={"Content-Type": "application/json"}),
        S("template-create", "POST", "/1.0/instances/c1/metadata/templates?path=suite.tpl",
          body_bytes=b"name: {{ container.name }}\n", headers={"Content-Type": "application/octet-stream"}),
        S("template-get", "GET", "/1.0/instances/c1/metadata/templates?path=suite.tpl", raw=True),
        S("templates-after-create", "GET", "/1.0/instances/c1/metadata/templates"),
        S("template-replace", "PUT", "/1.0/instances/c1/metadata/templates?path=suite.tpl",
          body_bytes=b"replaced {{ container.name }}\n", headers={"Content-Type": "application/octet-stream"}),
        S("template-get-replaced", "GET", "/1.0/instances/c1/metadata/templates?path=suite.tpl", raw=True),
        S("template-bad-name", "POST", "/1.0/instances/c1/metadata/templates?path=../escape.tpl",
          body_bytes=b"x\n", headers={"Content-Type": "application/octet-stream"}),
        S("template-bad-name-get", "GET", "/1.0/instances/c1/metadata/templates?path=../../etc/passwd",
          raw=True),
        S("template-no-path", "POST", "/1.0/instances/c1/metadata/templates",
          body_bytes=b"x\n", headers={"Content-Type": "application/octet-stream"}),
        S("template-delete", "DELETE", "/1.0/instances/c1/metadata/templates?path=suite.tpl"),
        S("template-missing", "GET", "/1.0/instances/c1/metadata/templates?path=suite.tpl", raw=True),
        S("template-delete-missing", "DELETE", "/1.0/instances/c1/metadata/templates?path=suite.tpl"),

        # --- state: freeze, operations -----------------------------------------------------
        S("freeze-c1", "PUT", "/1.0/instances/c1/state", {"action": "freeze", "timeout": 30},
          wait=False, keep_op=True),
        S("operation-get", "GET", "/1.0/operations/{op}"),
        S("operation-wait", "GET", "/1.0/operations/{op}/wait?timeout=30"),
        S("operations", "GET", "/1.0/operations"),
        S("operations-recursion1", "GET", "/1.0/operations?recursion=1"),
        S("operation-missing", "GET", "/1.0/operations/00000000-0000-0000-0000-000000000000"),
        S("operation-delete-missing", "DELETE", "/1.0/operations/00000000-0000-0000-0000-000000000000"),
        S("state-c1-frozen", "GET", "/1.0/instances/c1/state"),
        S("unfreeze-c1", "PUT", "/1.0/instances/c1/state", {"action": "unfreeze", "timeout": 30},
          events=EVENT_TYPES),

        # --- actions that cannot be done --------------------------------------------------
        S("start-running-c1", "PUT", "/1.0/instances/c1/state", {"action": "start", "timeout": 30}),
        S("stop-stopped-c2", "PUT", "/1.0/instances/c2/state", {"action": "stop", "timeout": 30}),
        S("freeze-stopped-c2", "PUT", "/1.0/instances/c2/state", {"action": "freeze", "timeout": 30}),
        S("bad-action", "PUT", "/1.0/instances/c2/state", {"action": "dance", "timeout": 30}),
        S("snapshot-duplicate", "POST", "/1.0/instances/c1/snapshots", {"name": "snap0"}),
        S("snapshot-stateful-stopped-c2", "POST", "/1.0/instances/c2/snapshots", {"name": "s", "stateful": True}),
        S("restore-missing-snapshot", "PUT", "/1.0/instances/c2",
          {"restore": "nosuchsnap"}),
        S("create-duplicate-c2", "POST", "/1.0/instances",
          {"name": "c2", "source": {"type": "image", "alias": "busybox"}}),
        S("rename-running-c1", "POST", "/1.0/instances/c1", {"name": "c9"}),
        S("delete-running-c1", "DELETE", "/1.0/instances/c1"),

        # --- snapshots ---------------------------------------------------------------------
        S("snapshots", "GET", "/1.0/instances/c1/snapshots"),
        S("snapshots-recursion1", "GET", "/1.0/instances/c1/snapshots?recursion=1"),
        S("snapshot-stateless", "GET", "/1.0/instances/c1/snapshots/snap0"),
        S("snapshot-stateful", "GET", "/1.0/instances/c1/snapshots/snap1"),
        S("snapshot-put", "PUT", "/1.0/instances/c1/snapshots/snap0", {"expires_at": snap_expiry}),
        S("snapshot-patch", "PATCH", "/1.0/instances/c1/snapshots/snap0", {"expires_at": snap_expiry}),
        S("snapshot-rename", "POST", "/1.0/instances/c1/snapshots/snap0", {"name": "snap0r"},
          events=EVENT_TYPES),
        S("snapshot-missing", "GET", "/1.0/instances/c1/snapshots/nosuch"),
        S("snapshot-delete", "DELETE", "/1.0/instances/c1/snapshots/snap0r", events=EVENT_TYPES),

        # --- exec ----------------------------------------------------------------------------
        S("exec-record-output", "POST", "/1.0/instances/c1/exec",
          {"command": ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], "environment": {"SUITE": "1"},
           "wait-for-websocket": False, "interactive": False, "record-output": True},
          events=EVENT_TYPES),
        S("exec-no-output", "POST", "/1.0/instances/c1/exec",
          {"command": ["true"], "wait-for-websocket": False, "interactive": False}),
        # with websockets nobody connects to: the 202 body shows the fds; LXD gives up after 5 s
        S("exec-websocket", "POST", "/1.0/instances/c1/exec",
          {"command": ["/bin/sh"], "environment": {"TERM": "xterm"}, "wait-for-websocket": True,
           "interactive": True, "width": 80, "height": 25},
          wait=False, keep_op=True),
        S("exec-websocket-unconnected", "GET", "/1.0/operations/{op}/wait?timeout=15"),
        S("exec-stopped-c2", "POST", "/1.0/instances/c2/exec",
          {"command": ["true"], "wait-for-websocket": False, "interactive": False}),

        # --- files ---------------------------------------------------------------------------
        S("file-push", "POST", "/1.0/instances/c1/files?path=/root/suite.txt", body_bytes=b"hello\n",
          headers={"X-LXD-uid": "0", "X-LXD-gid": "0", "X-LXD-mode": "0640", "X-LXD-type": "file",
                   "Content-Type": "application/octet-stream"}),
        S("file-get", "GET", "/1.0/instances/c1/files?path=/root/suite.txt", raw=True),
        S("file-mkdir", "POST", "/1.0/instances/c1/files?path=/root/suitedir",
          headers={"X-LXD-type": "directory", "X-LXD-mode": "0755"}, body_bytes=b""),
        S("file-symlink", "POST", "/1.0/instances/c1/files?path=/root/suitelink",
          headers={"X-LXD-type": "symlink"}, body_bytes=b"suite.txt"),
        S("file-get-dir", "GET", "/1.0/instances/c1/files?path=/root"),
        S("file-get-symlink", "GET", "/1.0/instances/c1/files?path=/root/suitelink", raw=True),
        S("file-get-missing", "GET", "/1.0/instances/c1/files?path=/root/nosuch"),
        S("file-delete", "DELETE", "/1.0/instances/c1/files?path=/root/suite.txt"),
        S("file-get-stopped-c2", "GET", "/1.0/instances/c2/files?path=/etc/passwd", raw=True),

        # --- logs ----------------------------------------------------------------------------
        S("logs", "GET", "/1.0/instances/c1/logs"),
        S("log-missing", "GET", "/1.0/instances/c1/logs/nosuch.log"),

        # --- backups (of the stopped c2) -----------------------------------------------------
        S("backup-create", "POST", "/1.0/instances/c2/backups",
          {"name": "b1", "instance_only": True, "optimized_storage": False, "compression_algorithm": "gzip"},
          events=EVENT_TYPES),
        S("backups", "GET", "/1.0/instances/c2/backups"),
        S("backups-recursion1", "GET", "/1.0/instances/c2/backups?recursion=1"),
        S("backup-get", "GET", "/1.0/instances/c2/backups/b1"),
        S("backup-export", "GET", "/1.0/instances/c2/backups/b1/export", raw=True),
        S("backup-rename", "POST", "/1.0/instances/c2/backups/b1", {"name": "b2"}),
        S("backup-missing", "GET", "/1.0/instances/c2/backups/b1"),
        S("backup-delete", "DELETE", "/1.0/instances/c2/backups/b2"),

        # --- rename, restore ----------------------------------------------------------------
        S("snapshot-c2", "POST", "/1.0/instances/c2/snapshots", {"name": "s0"}),
        S("restore-c2", "PUT", "/1.0/instances/c2", {"restore": "s0"}, events=EVENT_TYPES),
        S("rename-c2", "POST", "/1.0/instances/c2", {"name": "c2r"}, events=EVENT_TYPES),
        S("get-c2-renamed-away", "GET", "/1.0/instances/c2"),
        S("rename-c2-back", "POST", "/1.0/instances/c2r", {"name": "c2"}),

        # --- graceful stop / start, with events ---------------------------------------------
        S("start-c2", "PUT", "/1.0/instances/c2/state", {"action": "start", "timeout": 30},
          events=EVENT_TYPES),
        S("stop-c2-graceful", "PUT", "/1.0/instances/c2/state", {"action": "stop", "timeout": 30},
          events=EVENT_TYPES),
        S("get-c2-after-stop", "GET", "/1.0/instances/c2"),
        S("start-c2-default-events", "PUT", "/1.0/instances/c2/state", {"action": "start", "timeout": 30},
          events=""),
        S("stop-c2-force", "PUT", "/1.0/instances/c2/state", {"action": "stop", "force": True, "timeout": 30},
          events=EVENT_TYPES),

        # --- images ----------------------------------------------------------------------
        S("images", "GET", "/1.0/images"),
        S("images-recursion1", "GET", "/1.0/images?recursion=1"),
        S("image", "GET", "/1.0/images/{fp}"),
        S("image-missing", "GET", "/1.0/images/0000000000000000000000000000000000000000000000000000000000000000"),
        S("image-aliases", "GET", "/1.0/images/aliases"),
        S("image-aliases-recursion1", "GET", "/1.0/images/aliases?recursion=1"),
        S("image-alias", "GET", "/1.0/images/aliases/busybox"),
        S("image-alias-create", "POST", "/1.0/images/aliases",
          {"name": "bb2", "target": "{fp}", "description": "second alias"}),
        S("image-alias-put", "PUT", "/1.0/images/aliases/bb2", {"target": "{fp}", "description": "put"}),
        S("image-alias-patch", "PATCH", "/1.0/images/aliases/bb2", {"description": "patched"}),
        S("image-alias-duplicate", "POST", "/1.0/images/aliases", {"name": "bb2", "target": "{fp}"}),
        S("image-alias-delete", "DELETE", "/1.0/images/aliases/bb2"),
        S("image-alias-missing", "GET", "/1.0/images/aliases/bb2"),
        S("image-patch", "PATCH", "/1.0/images/{fp}", {"properties": {"suite": "1"}}),
        S("image-put", "PUT", "/1.0/images/{fp}", None),  # body filled by the runner
        S("image-stale-if-match", "PUT", "/1.0/images/{fp}", {"public": False, "properties": {}},
          headers={"If-Match": STALE_ETAG}),
        S("image-export", "GET", "/1.0/images/{fp}/export", raw=True),

        # --- profiles -------------------------------------------------------------------
        S("profiles", "GET", "/1.0/profiles"),
        S("profiles-recursion1", "GET", "/1.0/profiles?recursion=1"),
        S("profile-default", "GET", "/1.0/profiles/default"),
        S("profile-create", "POST", "/1.0/profiles",
          {"name": "p1", "description": "suite", "config": {"limits.cpu": "1"}, "devices": {}}),
        S("profile-get", "GET", "/1.0/profiles/p1"),
        S("profile-put", "PUT", "/1.0/profiles/p1", {"description": "put", "config": {}, "devices": {}}),
        S("profile-patch", "PATCH", "/1.0/profiles/p1", {"config": {"limits.memory": "64MiB"}}),
        S("profile-patch-stale-if-match", "PATCH", "/1.0/profiles/p1", {"description": "lost"},
          headers={"If-Match": STALE_ETAG}),
        S("profile-duplicate", "POST", "/1.0/profiles", {"name": "p1"}),
        S("profile-rename", "POST", "/1.0/profiles/p1", {"name": "p1r"}),
        S("profile-delete", "DELETE", "/1.0/profiles/p1r"),
        S("profile-missing", "GET", "/1.0/profiles/p1r"),
        S("profile-delete-default", "DELETE", "/1.0/profiles/default"),

        # --- networks --------------------------------------------------------------------
        S("networks", "GET", "/1.0/networks"),
        S("networks-recursion1", "GET", "/1.0/networks?recursion=1"),
        S("network", "GET", "/1.0/networks/{net}"),
        S("network-state", "GET", "/1.0/networks/{net}/state"),
        S("network-leases", "GET", "/1.0/networks/{net}/leases"),
        S("network-patch", "PATCH", "/1.0/networks/{net}", {"description": "patched"}),
        S("network-stale-if-match", "PATCH", "/1.0/networks/{net}", {"description": "lost"},
          headers={"If-Match": STALE_ETAG}),
        S("network-put-back", "PUT", "/1.0/networks/{net}", None),  # body filled by the runner
        S("network-missing", "GET", "/1.0/networks/nosuchnet"),

        # --- storage ---------------------------------------------------------------------
        S("storage-pools", "GET", "/1.0/storage-pools"),
        S("storage-pools-recursion1", "GET", "/1.0/storage-pools?recursion=1"),
        S("storage-pool", "GET", "/1.0/storage-pools/default"),
        S("storage-pool-resources", "GET", "/1.0/storage-pools/default/resources"),
        S("storage-volumes", "GET", "/1.0/storage-pools/default/volumes"),
        S("storage-volumes-recursion1", "GET", "/1.0/storage-pools/default/volumes?recursion=1"),
        S("storage-pool-missing", "GET", "/1.0/storage-pools/nosuchpool"),

        S("storage-pool-create", "POST", "/1.0/storage-pools",
          {"name": "fcpool", "driver": "dir", "description": "suite", "config": {}}),
        S("storage-pool-created", "GET", "/1.0/storage-pools/fcpool"),
        S("storage-pool-patch", "PATCH", "/1.0/storage-pools/fcpool", {"description": "patched"}),
        S("storage-pool-put", "PUT", "/1.0/storage-pools/fcpool", {"description": "put"}, edit=True),
        S("storage-pool-stale-if-match", "PATCH", "/1.0/storage-pools/fcpool", {"description": "lost"},
          headers={"If-Match": STALE_ETAG}),
        S("storage-pool-duplicate", "POST", "/1.0/storage-pools", {"name": "fcpool", "driver": "dir"}),
        S("storage-pool-delete", "DELETE", "/1.0/storage-pools/fcpool"),

        # --- a second network: create, rename, delete ------------------------------------
        S("network-create", "POST", "/1.0/networks",
          {"name": "fcnet1", "type": "bridge", "description": "suite",
           "config": {"ipv4.address": "10.231.77.1/24", "ipv4.nat": "false", "ipv6.address": "none"}}),
        S("network-created", "GET", "/1.0/networks/fcnet1"),
        S("network-duplicate", "POST", "/1.0/networks", {"name": "fcnet1", "type": "bridge"}),
        S("network-rename", "POST", "/1.0/networks/fcnet1", {"name": "fcnet2"}),
        S("network-delete", "DELETE", "/1.0/networks/fcnet2"),
        S("network-deleted", "GET", "/1.0/networks/fcnet2"),

        # --- certificates -------------------------------------------------------------
        S("certificates", "GET", "/1.0/certificates"),
        S("certificates-recursion1", "GET", "/1.0/certificates?recursion=1"),
        S("certificate-missing", "GET", "/1.0/certificates/0000000000000000"),
        S("certificate-add", "POST", "/1.0/certificates",
          {"type": "client", "name": "suite", "certificate": SUITE_CERT}),
        S("certificate", "GET", "/1.0/certificates/{certfp}"),
        S("certificate-add-duplicate", "POST", "/1.0/certificates",
          {"type": "client", "name": "suite", "certificate": SUITE_CERT}),
        S("certificate-delete", "DELETE", "/1.0/certificates/{certfp}"),

        # --- errors ---------------------------------------------------------------------
        S("instance-missing", "GET", "/1.0/instances/nosuch"),
        S("instance-missing-state", "GET", "/1.0/instances/nosuch/state"),
        S("unknown-endpoint", "GET", "/1.0/nosuchthing"),
        S("bad-json", "POST", "/1.0/instances", body_bytes=b"{not json",
          headers={"Content-Type": "application/json"}),
        S("method-not-allowed", "DELETE", "/1.0/instances"),
        S("create-no-name-bad-source", "POST", "/1.0/instances",
          {"name": "c3", "source": {"type": "image", "alias": "nosuchimage"}}),

        # --- teardown, with events ---------------------------------------------------------
        S("stop-c1-force", "PUT", "/1.0/instances/c1/state", {"action": "stop", "force": True, "timeout": 30}),
        S("delete-c1", "DELETE", "/1.0/instances/c1", events=EVENT_TYPES),
        S("delete-c2", "DELETE", "/1.0/instances/c2"),
        S("instances-empty", "GET", "/1.0/instances"),
        S("instances-empty-recursion1", "GET", "/1.0/instances?recursion=1"),
    ]


def discover(client, ctx):
    """Fills ctx with the daemon's managed network and busybox fingerprint."""
    prof = client.request("GET", "/1.0/profiles/default").json()["metadata"]
    for dev in prof.get("devices", {}).values():
        if dev.get("type") == "nic" and dev.get("network"):
            ctx.vars["net"] = dev["network"]
            break
    alias = client.request("GET", "/1.0/images/aliases/busybox").json()
    ctx.vars["fp"] = alias["metadata"]["target"]
    if ctx.vars["net"] is None:
        raise AssertionError("the default profile names no managed network")


def _wait(client, op_id, bound=120):
    r = client.request("GET", f"/1.0/operations/{op_id}/wait?timeout={bound}", timeout=bound + 10)
    return r.json()


def run_step(client, ctx, step):
    path = ctx.fill(step.path)
    body = ctx.fill_json(step.body) if step.body is not None else None
    headers = dict(step.headers)
    if step.if_match:
        headers["If-Match"] = client.request("GET", path).headers.get("etag", "")
    if step.edit:
        cur = client.request("GET", path).json()["metadata"]
        keys = WRITABLE if step.edit is True else cur.keys() if step.edit == "all" else step.edit
        base = {k: cur[k] for k in keys if k in cur}
        for k, v in body.items():
            base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
        body = base
    if step.name == "network-put-back":
        # PUT the network back as it was: its writable fields from a GET.
        net = client.request("GET", path).json()["metadata"]
        body = {"description": "", "config": net.get("config", {})}
    if step.name == "image-put":
        # PUT the image back as it was before image-patch.
        img = client.request("GET", path).json()["metadata"]
        props = {k: v for k, v in img.get("properties", {}).items() if k != "suite"}
        body = {"auto_update": img.get("auto_update", False), "public": img.get("public", False),
                "properties": props}
    listener = client.events(step.events) if step.events is not None else None
    if listener is not None:
        time.sleep(0.1)
    try:
        send = step.body_bytes if step.body_bytes is not None else body
        resp = client.request(step.method, path, send, headers=headers)
        rec = {
            "step": step.name,
            "request": {"method": step.method, "path": path, "body": body,
                        "headers": {k: ("{etag}" if step.if_match and k == "If-Match" else v)
                                    for k, v in headers.items()}},
            "status": resp.status,
            "headers": resp.headers,
        }
        parsed = None if step.raw and resp.status < 400 else resp.json()
        if parsed is None and resp.data:
            rec["body"] = {"raw_length": len(resp.data)}
        else:
            rec["body"] = parsed
        if isinstance(parsed, dict) and parsed.get("type") == "async":
            op_id = parsed.get("metadata", {}).get("id") if isinstance(parsed.get("metadata"), dict) else None
            if step.keep_op:
                ctx.vars["op"] = op_id
            if step.wait and op_id:
                rec["operation"] = _wait(client, op_id)
        if listener is not None:
            listener.settle()
    finally:
        if listener is not None:
            rec_events = listener.close()
    if listener is not None:
        rec["events"] = rec_events
    return rec


def run(client, ctx, on_record=None, only=None):
    """Runs every step; returns {step name: record}."""
    discover(client, ctx)
    out = {}
    for i, step in enumerate(steps(ctx)):
        rec = run_step(client, ctx, step)
        rec["index"] = i
        out[step.name] = rec
        if on_record:
            on_record(i, rec)
    return out


def dump(rec):
    return json.dumps(rec, indent=1, sort_keys=True)
