# Fake `ntptime` (frozen into the ESP firmware): settime() succeeds when `reachable`.
host = "pool.ntp.org"
timeout = 1
reachable = True
synced = 0


def settime():
    global synced
    if not reachable:
        raise OSError(110)  # ETIMEDOUT, as a lost UDP reply gives
    synced += 1
