# Make sure the clock is plausible before TLS: the broker's certificate dates are checked
# against it, and readings carry its time. A board that lost power wakes in 1970 (or 2000).
from node import sntp

# No reading of this firmware can be older than this: 2025-01-01T00:00:00Z.
PLAUSIBLE_AFTER = 1735689600


def plausible(unix_time):
    return unix_time >= PLAUSIBLE_AFTER


def ensure(board, host, port=123, timeout_s=2):
    """Return "ok" or "synced"; raise OSError saying what to do when the time stays unknown."""
    if plausible(board.unix_time()):
        return "ok"
    try:
        now = sntp.query(host, port, timeout_s)
    except OSError as exc:
        raise OSError("clock not set and NTP (%s:%d) failed: %s; certificate dates cannot be "
                      "checked: check network access to the NTP server (node.ntp_host)"
                      % (host, port, exc))
    if not plausible(now):
        raise OSError("NTP server %s gave an implausible time (%d): use another node.ntp_host"
                      % (host, int(now)))
    board.set_time(int(now))
    return "synced"
