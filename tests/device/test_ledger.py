# node.ledger: reading numbers that never repeat, also across power loss, for one small flash
# write per block of numbers; packet ids and DUP derived from them.
from mptest import eq
from node.ledger import Ledger, pid_of
from node.state import State

NUMBERS = "numbers"     # the ceiling's file in the data folder
BLOCK = 1024
OPT = {"buffer_bytes": 32768, "buffer_policy": "drop_oldest", "durable": False, "rtc_batch": 8}


def ledger(state):
    return Ledger(state, ".", OPT, lambda line: None)


def test_reading_numbers_survive_power_loss_without_reuse():
    s = State()
    got = [ledger(s).number() for _ in range(5)]
    eq(got, [1, 2, 3, 4, 5], "first numbers")
    # Power loss: RTC memory is gone, flash keeps the ceiling.
    cold = State()
    after = ledger(cold).number()
    assert after > 5, after
    # Deep sleep: RTC memory kept, no flash write for the next BLOCK numbers.
    warm = State.decode(cold.encode())
    with open(NUMBERS) as f:
        ceiling = f.read()
    eq(ledger(warm).number(), after + 1, "continues after deep sleep")
    with open(NUMBERS) as f:
        eq(f.read(), ceiling, "flash untouched")
    eq(warm.n_limit, int(ceiling), "limit in force")


def test_numbering_writes_flash_once_per_block():
    s = State()
    writes = 0
    last = None
    for _ in range(3 * BLOCK):
        limit = s.n_limit
        n = ledger(s).number()
        if s.n_limit != limit:
            writes += 1
        assert last is None or n == last + 1
        last = n
    eq(writes, 3, "ceiling writes")


def test_packet_ids_follow_reading_numbers_and_never_are_0():
    # written out, not recomputed: n % 65535 + 1
    for n, pid in ((0, 1), (1, 2), (65533, 65534), (65534, 65535), (65535, 1), (65536, 2),
                   (131070, 1), (2 ** 32 - 1, 1)):
        eq(pid_of(n), pid, "reading %d" % n)


def test_dup_marks_only_what_went_out_before():
    from node import reading
    st = State()
    st.reset_reason = ""
    lg = ledger(st)
    recs = [reading.pack(n, 1800000000, (1.0,)) for n in (5, 6, 7)]
    eq([lg.message(r) for r in recs], [(6, False), (7, False), (8, False)], "first sends")
    eq(st.sent_max, 0, "built is not sent")
    lg.sent(6, False)
    lg.sent(7, False)              # 7 never written: the connection broke first
    eq((st.sent_max, st.resent), (6, 0), "the highest number written")
    eq(lg.message(recs[1]), (7, True), "6 again: DUP, same id")
    eq(lg.message(recs[2]), (8, False), "7 never went out: no DUP")
    lg.sent(7, True)
    eq(st.resent, 1, "resent counts what went out again")
