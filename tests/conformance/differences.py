"""Known differences between ferryd and LXD 5.0.2, each with its reason.

An entry: kind, step pattern, JSON path pattern, optional message pattern ("what"), reason.
Patterns use "*" only (any text, "/" included); paths are compare.py's: "status",
"headers/<name>", "body/...", "operation/...", "events/<signature>/...".
  deliberate  kept: Ferry differs on purpose, or the oracle's setup differs (the reason says)
  pending     a row of issue 16's table, being fixed now: delete the entry with the fix
  found       found by this suite, not in issue 16's table: to fix, or to make deliberate
test_no_stale_known_difference fails on an entry that matches no difference any more.
"""

import re


class Known:
    def __init__(self, kind, step, path, reason, what="*"):
        assert kind in ("deliberate", "pending", "found")
        self.kind, self.step, self.path, self.what, self.reason = kind, step, path, what, reason
        self._rx = [re.compile("^" + ".*".join(map(re.escape, p.split("*"))) + "$", re.S)
                    for p in (step, path, what)]

    def matches(self, step, path, msg):
        return all(rx.match(v) for rx, v in zip(self._rx, (step, path, msg)))

    def __repr__(self):
        return f"{self.kind}: {self.step}: {self.path}" + ("" if self.what == "*" else f" [{self.what}]")


def D(step, path, reason, what="*"):
    return Known("deliberate", step, path, reason, what)


def P(step, path, reason, what="*"):
    return Known("pending", step, path, reason, what)


def F(step, path, reason, what="*"):
    return Known("found", step, path, reason, what)


MISSING = "key missing in Ferry*"
ONLY = "key only in Ferry*"

# The failing actions of the table: LXD answers 202, then fails the operation.
FAILING_ACTIONS = ("start-running-c1", "stop-stopped-c2", "freeze-stopped-c2", "snapshot-duplicate",
                   "snapshot-stateful-stopped-c2", "restore-missing-snapshot", "create-duplicate-c2",
                   "rename-running-c1")

# Extensions of the table that helper 5 adds.
PENDING_EXTENSIONS = ("etag", "patch", "projects", "event_lifecycle")

KNOWN = [
    # ------------------------------------------------------------------ deliberate
    D("server", "body/metadata/environment/server", "Ferry names itself: clients read `server` to know the daemon"),
    D("server", "body/metadata/environment/driver", "Ferry runs containers itself, not through liblxc"),
    D("server", "body/metadata/environment/criu_*", "Ferry's host report: the CRIU it checkpoints with", ONLY),
    D("server", "body/metadata/environment/cgroup_layout", "Ferry's host report: the cgroup layout it runs on", ONLY),
    D("server", "body/metadata/api_extensions/*ferry*", "Ferry's own extensions (migration_ferry, ferry_*)",
      "item only in Ferry"),
    D("server", "body/metadata/api_extensions/*",
      "Ferry serves LXD's container subset (no VMs, clustering, OVN, custom volumes, ...) and advertises an "
      "extension only when what it names works (issue 16 requirement 3)", "item missing in Ferry"),
    D("*", "*config/raw.lxc",
      "the recorder sets raw.lxc on LXD's c1 only (LXD + CRIU 4.2 need it for a stateful snapshot); Ferry "
      "takes no such key", MISSING),
    D("snapshot-c1-stateful", "*",
      "the oracle's LXD cannot dump here (CRIU: /dev/.lxd-mounts has unreachable sharing), so its stateful "
      "snapshot fails where Ferry's succeeds"),
    D("snapshot-stateful", "*", "LXD's stateful snapshot failed here (see snapshot-c1-stateful)"),
    D("*", "*snapshots/*snap1*", "LXD's stateful snapshot failed here (see snapshot-c1-stateful)",
      "item only in Ferry"),
    D("snapshots*", "body/metadata/*snap1*", "LXD's stateful snapshot failed here (see snapshot-c1-stateful)",
      "item only in Ferry"),
    D("storage-volumes-recursion1", "body/metadata/*c1/snap1*",
      "LXD's stateful snapshot failed here (see snapshot-c1-stateful)", "item only in Ferry"),
    D("logs", "body/metadata/*snapshot_dump_*", "LXD's failed dump log (see snapshot-c1-stateful)"),
    D("*", "*last_dump", "Ferry's checkpoint report (extension ferry_checkpoint_stats)", ONLY),
    D("logs", "body/metadata/*lxc.conf*", "Ferry is not LXC: it writes no lxc.conf"),
    D("logs", "body/metadata/*console.log*", "Ferry keeps the console's output as a log file"),
    D("*profile*", "*description", "the default profile's description names the daemon",
      "value: LXD \"Default LXD profile\"*"),
    D("image*", "*description", "the built-in image's alias describes itself", "*Built-in busybox image*"),
    D("image-export", "headers/content-disposition",
      "the two daemons' busybox images are compressed differently (xz / gzip)"),
    D("image-alias-patch", "*", "LXD 5.0.2 answers 500 \"context deadline exceeded\" to an alias PATCH (its "
      "bug); Ferry applies it"),
    D("network*", "*config/ipv6.*", "the oracle's preseed sets ipv6.address none; Ferry's bridge has IPv6"),
    D("networks*", "body/metadata/*ferrybr*", "another ferryd's bridge existed while LXD was recorded",
      "item missing in Ferry"),
    D("profile-duplicate", "*", "LXD answers 500 (its database error); Ferry 409 Conflict, as both answer "
      "for a duplicate alias"),
    D("bad-json", "body/error", "the JSON parser's own words (Go's encoding/json in LXD)"),

    # --------------------------------------------------------------------- pending
    P("*", "headers/etag", "ETag quoted, on every object LXD gives one (helper 2)"),
    P("start-c2-default-events", "events/types/logging", "logging events by default (helper 3)"),
    P("network-state", "*", "/1.0/networks/NAME/state (helper 5)"),
    P("network-leases", "*", "/1.0/networks/NAME/leases (helper 5)"),
    P("warnings*", "*", "/1.0/warnings (helper 5)"),
    P("metadata-c1", "*", "/1.0/instances/NAME/metadata (helper 6)"),
    P("metadata-templates-c1", "*", "/1.0/instances/NAME/metadata/templates (helper 6)"),

    # ----------------------------------------------------------------------- found
    F("*", "*config/volatile.last_state.idmap", "LXD records the idmap applied at start; Ferry keeps \"[]\" on "
      "a started unprivileged container"),
    F("*", "*[snap0]/description", "snapshot objects: LXD 5.0.2 has no description field", ONLY),
    F("snapshot-stateless", "body/metadata/description", "snapshot objects: LXD 5.0.2 has no description "
      "field", ONLY),
    D("file-get-missing", "body/error", "Ferry names the path and the reason (\"Opening \\\"/root/nosuch\\\": No such "
      "file or directory\"), which `ferry file pull` shows; LXD says only \"Not Found\". Both answer 404"),
    F("snapshot-c1-stateless", "events/lifecycle instance-paused", "LXD freezes a running instance for its "
      "stateless snapshot (instance-paused, instance-resumed)"),
    F("snapshot-c1-stateless", "events/lifecycle instance-resumed", "see instance-paused"),
    F("exec-websocket-unconnected", "*", "LXD fails an exec whose websockets nobody connects within 5 s "
      "(\"Timed out waiting for websockets to connect\"); Ferry's operation stays Running"),
    D("networks*", "body/metadata/*", "LXD lists the host's unmanaged interfaces (eth0, lo, ...) as networks; "
      "Ferry lists only the bridges it manages: serving host interfaces read-only (names validated, every change "
      "refused, state and leases for them) is not built yet", "item missing in Ferry"),
    F("storage-volumes", "body/metadata/*", "a snapshot volume's URL is .../volumes/container/c2/snapshots/s0"),
    F("storage-volumes-recursion1", "body/metadata/*", "volume objects: created_at, project; no pool key"),
    F("server", "body/metadata/api_extensions/*", "names LXD 5.0.2 does not advertise (backup_expiry, "
      "image_aliases_post, network_ipv4_dhcp_ranges)", "item only in Ferry"),
    F("*", "*/metadata", "create and start operations carry progress metadata in LXD "
      "(create_instance_from_image_unpack_progress, progress, container_progress)",
      "type: LXD object*, Ferry null null"),
    D("snapshot-p*", "*resources/*", "LXD 5.0.2 names the snapshot as if it were an instance "
      "(/1.0/instances/snap0: its bug); Ferry names the snapshot's instance"),
    F("get-c2-after-stop", "body/metadata/description", "LXD's restore brings back the snapshot's config, "
      "devices, profiles and description; Ferry's restores the rootfs (and state) only"),
]
