# RTC-memory state: round trip, size bound, and garbage resets to defaults without a crash.
import os

from mptest import eq
from node import reading
from node.crc import crc32, crc32_nibble
from node.state import MAX_BYTES, PENDING_ROOM, State


def _full_state():
    s = State()
    s.cycles, s.next_n, s.n_limit, s.sent_max = 7, 1100, 2048, 1090
    s.attempt, s.wake_at, s.taken, s.delivered = 3, 1800000000, 99, 90
    s.dropped, s.reconnects, s.resent, s.awake_ms, s.up_s, s.stats_t = 1, 4, 2, 123456, 7200, 5
    s.read_at, s.carried, s.failures = 1800000060, 12, 3
    s.refused, s.oversized, s.sub_refusals, s.sub_retry_at, s.flash, s.subscribed = 65535, 2, 3, 1800003600, 1, 1
    return s


def test_round_trip_keeps_every_field_and_pending_readings():
    s = _full_state()
    rec = reading.pack(1095, 1800000000, (21.5, -3.25))
    while s.has_room(rec):
        s.pending.append(rec)
    raw = s.encode()
    assert len(raw) <= MAX_BYTES, len(raw)
    t = State.decode(raw)
    eq(t.reset_reason, "", "reset reason")
    for name in ("cycles", "next_n", "n_limit", "sent_max", "attempt", "wake_at",
                 "taken", "delivered", "dropped", "reconnects", "resent", "awake_ms", "up_s", "stats_t",
                 "read_at", "carried", "failures", "refused", "oversized", "sub_refusals",
                 "sub_retry_at", "flash", "subscribed"):
        eq(getattr(t, name), getattr(s, name), name)
    eq(t.pending, s.pending, "pending")
    # At least ten two-value readings fit beside the counters.
    assert len(t.pending) >= 10, len(t.pending)


def test_state_never_exceeds_256_bytes():
    s = _full_state()
    assert PENDING_ROOM > 0
    s.pending = [b"x" * 60] * 5
    try:
        s.encode()
    except ValueError as e:
        assert "RTC" in str(e)
    else:
        raise AssertionError("an oversized state was encoded")


def test_garbage_resets_to_defaults():
    good = _full_state().encode()
    cases = [b"", b"\x00" * 10, os.urandom(256), b"NS" + os.urandom(60),
             good[:20], good[:-1], bytes([good[0] ^ 1]) + good[1:]]
    flipped = bytearray(good)
    flipped[30] ^= 0x40
    cases.append(bytes(flipped))
    wrong_version = bytearray(good)
    wrong_version[2] = 99
    cases.append(bytes(wrong_version))
    for raw in cases:
        t = State.decode(raw)
        assert t.reset_reason, raw
        eq((t.cycles, t.next_n, t.pending), (0, 1, []), "defaults")


def test_random_bytes_never_crash_decode():
    for i in range(2000):
        raw = os.urandom(i % 300)
        State.decode(raw)


def test_crc_fallback_matches_binascii():
    for data in (b"", b"123456789", bytes(range(256)) * 3):
        eq(crc32_nibble(data), crc32(data), "crc")
    eq(crc32(b"123456789"), 0xCBF43926, "check value")
