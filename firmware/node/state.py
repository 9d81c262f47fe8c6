# What must survive deep sleep, kept in RTC memory (machine.RTC().memory()): at most 256 bytes,
# versioned and CRC-checked. RTC memory survives deep sleep and reset, not power loss: whatever
# is here must also be recoverable (or acceptable to lose) after a cold boot.
#
#   header  "NS" <version:u8> <body length:u8> <crc32 of body:u32>
#   body    the fixed fields below, then <count:u8> and `count` readings waiting for a batch
#           write to flash, each <length:u8><bytes> (see node.reading)
import struct

from node.crc import crc32

MAGIC = b"NS"
VERSION = 5
MAX_BYTES = 256
_HEADER = "<2sBBI"
_HEADER_LEN = 8

# Field names and struct codes, in order. Counters are since the last cold boot.
FIELDS = (
    ("cycles", "I"),       # wake cycles run
    ("next_n", "I"),       # number of the next reading (node.ledger)
    ("n_limit", "I"),      # numbers below this are reserved in flash
    ("sent_max", "I"),     # every reading numbered <= this went out at least once (resend: DUP)
    ("attempt", "B"),      # consecutive failed connection attempts (backoff)
    ("wake_at", "I"),      # Unix time of the next scheduled wake
    ("taken", "I"),        # readings taken
    ("delivered", "I"),    # readings the broker acknowledged
    ("dropped", "I"),      # readings lost to a full buffer
    ("reconnects", "I"),   # connections made after the first
    ("resent", "I"),       # readings that went out again (DUP set)
    ("awake_ms", "I"),     # time spent awake
    ("up_s", "I"),         # time since cold boot, slept time included
    ("stats_t", "I"),      # Unix time stats were last published
    ("read_at", "I"),      # Unix time the next reading is due (0: at once)
    ("carried", "I"),      # readings found in the ring buffer at the last cold boot
    ("failures", "I"),     # wakes or connections that could not deliver
    ("subscribed", "B"),   # 1: the session the broker holds has the command subscription (as
                           # of the last CONNACK); 0 after a cold boot: subscribe to be sure
    ("flash", "B"),        # 1: the flash ring buffer may hold readings (set before any write to
                           # it, cleared when it was found empty): 0 spares opening it
    ("refused", "H"),      # commands answered with an error (counts stop at 65535)
    ("oversized", "H"),    # messages over mqtt.max_packet, read past and not run (likewise)
    ("sub_refusals", "B"), # command subscriptions the broker refused in a row
    ("sub_retry_at", "I"), # Unix time to ask for the command subscription again (0: at once)
    ("broker", "B"),       # which of mqtt.hosts to try first: the last that answered, the
                           # next one after a connection that failed
)
_BODY = "<" + "".join(code for _, code in FIELDS)
_BODY_LEN = struct.calcsize(_BODY)
PENDING_ROOM = MAX_BYTES - _HEADER_LEN - _BODY_LEN - 1


class State:
    def __init__(self):
        for name, _ in FIELDS:
            setattr(self, name, 0)
        self.next_n = 1
        self.pending = []
        # Why the last load fell back to defaults: "" when it did not.
        self.reset_reason = "blank"

    def pending_bytes(self):
        return sum(len(r) + 1 for r in self.pending)

    def has_room(self, record):
        return self.pending_bytes() + len(record) + 1 <= PENDING_ROOM

    def encode(self):
        body = bytearray(struct.pack(_BODY, *[getattr(self, name) for name, _ in FIELDS]))
        body.append(len(self.pending))
        for rec in self.pending:
            body.append(len(rec))
            body.extend(rec)
        if _HEADER_LEN + len(body) > MAX_BYTES:
            raise ValueError("state of %d bytes does not fit RTC memory" % (_HEADER_LEN + len(body)))
        return struct.pack(_HEADER, MAGIC, VERSION, len(body), crc32(body)) + body

    @classmethod
    def decode(cls, raw):
        """A State from RTC memory; anything malformed gives defaults and says why."""
        state = cls()
        if not raw or len(raw) < _HEADER_LEN:
            return state
        magic, version, length, crc = struct.unpack_from(_HEADER, raw, 0)
        body = memoryview(raw)[_HEADER_LEN:_HEADER_LEN + length]
        if magic != MAGIC:
            state.reset_reason = "no state (magic)"
        elif version != VERSION:
            state.reset_reason = "state version %d, not %d" % (version, VERSION)
        elif len(body) != length or length < _BODY_LEN + 1:
            state.reset_reason = "state truncated"
        elif crc32(body) != crc:
            state.reset_reason = "state CRC mismatch"
        else:
            state._decode_body(body)
        return state

    def _decode_body(self, body):
        values = struct.unpack_from(_BODY, body, 0)
        pos = _BODY_LEN
        count = body[pos]
        pos += 1
        pending = []
        for _ in range(count):
            if pos >= len(body):
                self.reset_reason = "state pending list truncated"
                return
            n = body[pos]
            if pos + 1 + n > len(body):
                self.reset_reason = "state pending list truncated"
                return
            pending.append(bytes(body[pos + 1:pos + 1 + n]))
            pos += 1 + n
        for (name, _), value in zip(FIELDS, values):
            setattr(self, name, value)
        self.pending = pending
        self.reset_reason = ""
