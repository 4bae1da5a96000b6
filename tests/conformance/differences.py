"""Known differences between ferryd and LXD 5.0.2, each with its reason.

Each entry: kind, step pattern, JSON path pattern (fnmatch, as compare.py names paths:
"status", "headers/<name>", "body/...", "operation/...", "events/<signature>"), reason.
  deliberate  kept: Ferry is not LXD there, on purpose (the reason says why)
  pending     in issue 16's table; another change is fixing it: delete the entry with the fix
  found       found by this suite, not in issue 16's table: to be fixed or made deliberate
test_no_stale_known_difference fails on an entry that matches no difference any more.
"""


class Known:
    def __init__(self, kind, step, path, reason):
        assert kind in ("deliberate", "pending", "found")
        self.kind, self.step, self.path, self.reason = kind, step, path, reason


def D(step, path, reason):
    return Known("deliberate", step, path, reason)


def P(step, path, reason):
    return Known("pending", step, path, reason)


def F(step, path, reason):
    return Known("found", step, path, reason)


KNOWN = [
]
