# A reading in its compact binary form: what waits in RTC memory and in the ring buffer.
#   <n:u32> <t:u32> <value:i32 x count>     values are scaled by 100 (two decimals)
# n is the node's reading number: it never repeats, also across power loss (node.ledger);
# t is Unix time.
# The JSON payload is made only when the reading is published.
import json
import struct

SCALE = 100
_HEAD = "<II"


def pack(n, t, values):
    fmt = _HEAD + "i" * len(values)
    return struct.pack(fmt, n, t, *[int(round(v * SCALE)) for v in values])


def number(record):
    return struct.unpack_from("<I", record, 0)[0]


def unpack(record):
    count = (len(record) - 8) // 4
    if count < 0 or len(record) != 8 + 4 * count:
        raise ValueError("reading record of %d bytes is malformed" % len(record))
    fields = struct.unpack(_HEAD + "i" * count, record)
    return fields[0], fields[1], [v / SCALE for v in fields[2:]]


def payload(record, device_id, names):
    n, t, values = unpack(record)
    doc = {"device": device_id, "seq": n, "t": t}
    for i, name in enumerate(names):
        if i < len(values):
            doc[name] = values[i]
    return json.dumps(doc)
