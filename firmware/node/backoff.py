# Reconnect backoff: attempt number -> delay in ms, exponential from 1 s to 120 s with jitter.
# A pure function of its arguments, so the wake cycle can keep the attempt number in RTC
# memory and pick up the schedule after deep sleep where it left off.
#
#   attempt 1: 1 s .. 1.5 s, 2: 2 .. 3 s, 3: 4 .. 6 s, ... 7: 64 .. 96 s, from 8 on: 90 .. 120 s
#
# The jitter spreads out nodes that lost the broker at the same moment (a broker restart),
# so they do not all come back in the same second. Every delay stays within [base, cap].
from micropython import const

BASE_MS = const(1000)
CAP_MS = const(120000)


def delay_ms(attempt, r=None, base_ms=BASE_MS, cap_ms=CAP_MS):
    """Delay before try number `attempt + 1`, after `attempt` (>= 1) failed tries.

    r is the jitter, a number in [0, 1); None takes a random one.
    """
    if r is None:
        import random
        r = random.getrandbits(16) / 65536
    if attempt < 1:
        attempt = 1
    # Shift only while it matters: no big ints for attempt numbers in the thousands.
    exp = base_ms
    for _ in range(attempt - 1):
        exp <<= 1
        if exp >= cap_ms:
            exp = cap_ms
            break
    d = exp + int((exp >> 1) * r)
    if d > cap_ms:
        # At the cap, jitter downwards: 3/4 cap .. cap.
        d = cap_ms - int((cap_ms >> 2) * r)
    return d
