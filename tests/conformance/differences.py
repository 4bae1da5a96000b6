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
    D("logs", "body/metadata/*console.log*", "Ferry keeps the console's output as a log file (console.log); "
      "LXD 5.0.2 lists none for a running container"),
    D("*profile*", "*description", "the default profile's description names the daemon",
      "value: LXD \"Default LXD profile\"*"),
    D("image*", "*description", "the alias of Ferry's built-in image says \"Built-in busybox image\"; the "
      "oracle's alias (lxd-oracle/mkimage.sh) has no description", "*Built-in busybox image*"),
    D("image-export", "headers/content-disposition",
      "the file name is the image's own: the oracle's busybox image is a .tar.xz, Ferry's built-in one a "
      ".tar.gz (different fingerprints)"),
    D("image-alias-patch", "*", "LXD 5.0.2 answers 500 \"context deadline exceeded\" to an alias PATCH (its "
      "bug); Ferry applies it"),
    D("network*", "*config/ipv6.*", "the oracle's preseed sets ipv6.address none; Ferry's bridge has IPv6 "
      "(ipv6.address, ipv6.nat)"),
    D("networks*", "body/metadata/*ferrybr*", "LXD lists the host's interfaces as unmanaged networks; ferrybr0 "
      "belonged to a ferryd running on the host while LXD was recorded (Ferry's own bridge is {net})",
      "item missing in Ferry"),
    D("profile-duplicate", "*", "LXD answers 500 (its database error); Ferry 409 Conflict, as both answer "
      "for a duplicate alias"),
    D("*bad-json", "body/error", "the JSON parser's own words (Go's encoding/json in LXD)"),
    D("*", "body/metadata/templates//etc/host*", "Ferry's built-in busybox image carries templates for "
      "/etc/hostname and /etc/hosts (applied at create, as LXD's images do); the oracle's image "
      "(lxd-oracle/mkimage.sh) has none", ONLY),
    D("*templates*", "body/metadata/[host*.tpl]", "Ferry's built-in image has hostname.tpl and hosts.tpl; the "
      "oracle's has no template", "item only in Ferry"),
    D("warnings", "body/metadata/*", "LXD 5.0.2 raises warnings about itself on this host (no KVM, AppArmor "
      "disabled, no blkio.weight / net_prio cgroup controllers); Ferry has none of these to report",
      "item missing in Ferry"),
    D("warnings-recursion1", "body/metadata", "LXD's own host warnings (see warnings)", "length: *"),
    D("warning-missing-p*", "*", "LXD 5.0.2 answers 200 to a status change of a warning that does not exist "
      "(it does not look it up; its GET and DELETE answer 404 \"Warning not found\"); Ferry answers 404 as its "
      "GET and DELETE do"),
    D("project-create", "*", "Ferry has only the default project (instances, images, profiles, networks are not "
      "isolated per project), so it refuses to create another (400) rather than accept one it cannot honour"),
    D("project-created*", "*", "the project LXD created in project-create does not exist in Ferry (404)"),
    D("metadata-put-stale-if-match", "*", "LXD 5.0.2's metadata PUT does not check If-Match (200 here; its PATCH "
      "answers 412); Ferry checks it on PUT too, so `lxc config metadata edit` cannot lose an update (issue 16 "
      "requirement 4)"),
    D("template-replace", "*", "the stock lxc 5.0.2 client's `lxc config template edit` sends PUT "
      "(UpdateInstanceTemplateFile), which LXD 5.0.2's server does not route (501 \"not implemented\"); Ferry "
      "serves PUT as POST (write the template) so the stock client's command works"),

    # --------------------------------------------------------------------- pending
    D("storage-pool*", "headers/etag", "LXD 5.0.2 hashes a pool's name and driver without calling them, the "
      "hash fails and it drops the header (its bug, fixed in later LXD); Ferry sends the pool's ETag so that "
      "If-Match protects pool edits too", "header only in Ferry*"),
    F("start-c2-default-events", "events/types/logging", "LXD logs an instance start at info level, so a "
      "listener of the default event types sees logging events then; Ferry sends logging events for what it "
      "logs (info and up), and its start logs nothing at info level"),
    D("network-state", "*", "the oracle's bridge has IPv6 off (its preseed: ipv6.address none), Ferry's has "
      "IPv6: the address list's length differs, and the bridge id is made of the bridge's own MAC; keys and "
      "types are compared"),
    D("network-leases", "*", "the oracle's bridge has IPv6 off and fewer instances than Ferry's at that step: "
      "the list's length differs; each lease's keys and types are compared"),

    # ----------------------------------------------------------------------- found
    D("*", "*config/volatile.last_state.idmap", "LXD records the map its rootfs is shifted to on disk; Ferry "
      "never shifts (idmapped mounts), so \"[]\" is the truth: an LXD importing or receiving the instance "
      "would otherwise unshift files that were never shifted"),
    D("*", "*[snap0]/description", "Ferry keeps a description per snapshot (PUT/PATCH set it, `lxc config "
      "edit c1/snap` shows it); LXD 5.0.2's snapshot object has none", ONLY),
    D("snapshot-stateless", "body/metadata/description", "see *[snap0]/description", ONLY),
    D("file-get-missing", "body/error", "Ferry names the path and the reason (\"Opening \\\"/root/nosuch\\\": No such "
      "file or directory\"), which `ferry file pull` shows; LXD says only \"Not Found\". Both answer 404"),
    F("snapshot-c1-stateless", "events/lifecycle instance-paused", "LXD freezes a running instance for its "
      "stateless snapshot (instance-paused, instance-resumed); Ferry copies the rootfs of a running instance "
      "without freezing it (to do: freeze, with an intent that thaws after a crash, as copy.c does)"),
    F("snapshot-c1-stateless", "events/lifecycle instance-resumed", "see instance-paused"),
    D("exec-websocket-unconnected", "*", "LXD fails an exec whose websockets nobody connects within 5 s; "
      "Ferry fails it the same way (\"Timed out waiting for websockets to connect\") after 30 s "
      "(EXEC_CONNECT_TIMEOUT_SECONDS), so that a client on a loaded host or a slow link still gets its "
      "session; at the suite's 15 s wait it is still Running"),
    D("networks*", "body/metadata/*", "LXD lists the host's unmanaged interfaces (eth0, lo, ...) as networks; "
      "Ferry lists only the bridges it manages: serving host interfaces read-only (names validated, every change "
      "refused, state and leases for them) is not built yet", "item missing in Ferry"),
    D("server", "body/metadata/api_extensions/*", "names for what Ferry does beyond LXD 5.0.2 (backup_expiry, "
      "image_aliases_post, network_ipv4_dhcp_ranges), listed in docs/api-extensions.md; clients ignore names "
      "they do not know", "item only in Ferry"),
    D("snapshot-p*", "*resources/*", "LXD 5.0.2 names the snapshot as if it were an instance "
      "(/1.0/instances/snap0: its bug); Ferry names the snapshot's instance"),
    D("project-default-patch-description", "*", "LXD lets the default project's description be changed (200). "
      "Ferry keeps no project records (its one project is implicit), so it has nowhere to keep a description: "
      "it refuses the change (400) rather than accept it and lose it"),
    D("*project-missing", "*", "Ferry checks ?project= once, before any handler, for every endpoint: a project "
      "it does not have gets one answer everywhere (404 \"Project not found\", nothing read or changed); LXD's "
      "answer differs per endpoint ([] for a list, \"Instance not found\", \"Failed loading project...\")"),
]
