# The one owner of what identifies a reading and where it waits until the broker has it.
#
# Numbers: a reading's number n never repeats, also across power loss. Flash keeps the ceiling
# of the numbers handed out so far (one small write per BLOCK readings), RTC memory (the
# node.state record) the next number and the ceiling in force; after a cold boot numbering
# resumes at the stored ceiling, so numbers reserved but never used are skipped, never reused.
# Packet ids: pid_of(n) = n % 65535 + 1, so a reading sent before a deep sleep and not
# acknowledged goes again after it with the same id (DUP set: it went out before, n <=
# sent_max), and nothing but n needs to be remembered. After a power loss, RTC memory no longer
# says which readings went out: every one that flash carried over counts as sent (DUP).
# Custody: a reading leaves the node only with its PUBACK. From the moment it is taken it waits
# in RTC memory (a batch of up to node.rtc_batch, written to flash in one commit when full) or
# in the flash ring buffer (node.ringbuf, opened only when it may hold readings or must take
# some), so a wake that breaks anywhere after take() loses nothing. When the flash refuses a
# write (full), the readings stay in RTC memory as far as it has room.
import os
from micropython import const

from node import reading
from node.state import PENDING_ROOM

_BLOCK = const(1024)
_NUMBERS = "numbers"
_RING = "/ring"


def pid_of(n):
    return n % 65535 + 1


class Ledger:
    def __init__(self, state, data_dir, opt, log):
        self.st = state
        self.dir = data_dir
        self.opt = opt
        self.log = log
        self.acked = set()          # packet ids the broker acknowledged in this wake
        self._numbers = {}          # packet id -> reading number, of messages not yet written
        self._ring = None
        if state.reset_reason:
            # Cold boot (power loss, first start, or RTC garbage): counters start again, and
            # what the flash holds is carried over.
            state.flash = 1
            state.carried = self.in_flash()
            if state.carried:
                # Which of them went out before the power went is lost with RTC memory: all go
                # again as resends (DUP); every number below the ceiling was handed out before.
                state.sent_max = self._ceiling() - 1
            log("node: cold boot (%s), %d readings in flash" % (state.reset_reason, state.carried))

    # --- numbers ---

    def number(self):
        """The next reading number; reserves a new block in flash when this one is used up."""
        st = self.st
        if st.next_n >= st.n_limit:
            path = self.dir + "/" + _NUMBERS
            start = max(st.next_n, self._ceiling())
            # Write then rename: littlefs renames atomically, a power cut leaves old or new.
            with open(path + ".tmp", "w") as f:
                f.write(str(start + _BLOCK))
            os.rename(path + ".tmp", path)
            st.n_limit = start + _BLOCK
            st.next_n = start
        n = st.next_n
        st.next_n += 1
        return n

    def _ceiling(self):
        # Numbers below it were handed out before (flash's record of them; 0: none yet).
        try:
            with open(self.dir + "/" + _NUMBERS) as f:
                return int(f.read())
        except (OSError, ValueError):
            return 0

    def message(self, rec):
        """(packet id, DUP) of a reading; DUP when it went out before (sent() says when it
        did)."""
        n = reading.number(rec)
        pid = pid_of(n)
        self._numbers[pid] = n
        return pid, n <= self.st.sent_max

    def sent(self, pid, dup):
        """A reading's message was written to the broker (the client's on_sent)."""
        st = self.st
        n = self._numbers.pop(pid, 0)
        if n > st.sent_max:
            st.sent_max = n
        if dup:
            st.resent += 1

    def is_acked(self, rec):
        return pid_of(reading.number(rec)) in self.acked

    # --- custody ---

    def ring(self):
        if self._ring is None:
            from node.ringbuf import RingBuffer
            opt = self.opt
            self._ring = RingBuffer(self.dir + _RING, opt["buffer_bytes"], opt["buffer_policy"])
        return self._ring

    def release(self):
        """Let go of the ring buffer object (it keeps no file open); the next use opens it
        again."""
        self._ring = None

    def in_flash(self):
        """How many readings wait in flash (0 without opening it when it holds none)."""
        if not self.st.flash:
            return 0
        n = len(self.ring())
        if not n:
            self.st.flash = 0
        return n

    def waiting(self):
        """Readings not yet delivered (those acknowledged in this wake leave at settle())."""
        return self.in_flash() + len([r for r in self.st.pending if not self.is_acked(r)])

    def store(self, records):
        """Into the flash ring buffer, in one commit; True when they are there. When the flash
        refuses (full, broken), they wait in RTC memory as far as it has room, the oldest
        dropped (and counted) beyond it."""
        st = self.st
        st.flash = 1                # before the write: a wake cut short never hides them
        ring = self.ring()
        before = ring.dropped
        try:
            ring.extend(records)
        except OSError as e:
            self.log("node: flash refused %d readings (%s): keeping them in RTC memory"
                     % (len(records), e))
            waiting = st.pending + [r for r in records if r not in st.pending]
            st.pending = []
            for rec in waiting:
                if not st.has_room(rec):
                    break
                st.pending.append(rec)
            st.dropped += len(waiting) - len(st.pending)
            return False
        st.dropped += ring.dropped - before
        self.log("node: stored n=%s in flash" % ",".join(str(reading.number(r)) for r in records))
        return True

    def take(self, new):
        """New readings into custody, before anything else can fail: flash (durable), else RTC
        memory, or both in one flash commit when RTC memory has no more room."""
        if not new:
            return
        st = self.st
        if not self.opt["durable"] and \
                st.pending_bytes() + sum(len(r) + 1 for r in new) <= PENDING_ROOM:
            st.pending.extend(new)
        elif self.store(st.pending + new):
            st.pending = []

    def settle(self):
        """After a wake's delivery: what the broker acknowledged leaves RTC memory; when more
        wait there than node.rtc_batch, they go to flash in one commit."""
        st = self.st
        st.pending = [r for r in st.pending if not self.is_acked(r)]
        if st.pending and len(st.pending) > self.opt["rtc_batch"]:
            if self.store(st.pending):
                st.pending = []

    def first(self, n):
        """The oldest n readings in flash, as (sequence number, reading): the first chunk
        of flush(), to go out with CONNECT."""
        return self.ring().peek(n) if self.in_flash() else []

    def flush(self, send, window, chunk):
        """Send what flash holds, oldest first, `window` at a time, starting with `chunk`
        (send(records) returns a flag per record: acknowledged); drop what the broker
        acknowledged. OSError when it stopped acknowledging."""
        ring = self.ring() if chunk else None
        while chunk:
            flags = send([rec for _, rec in chunk])
            last = 0
            for (seq, _), ok in zip(chunk, flags):
                if not ok:
                    break
                last = seq
            if last:
                ring.ack(last)
            if last != chunk[-1][0]:
                raise OSError("the broker did not acknowledge the buffered readings in time")
            chunk = ring.peek(window) if len(ring) else []
        self.st.flash = 0
