# What a wake learned about its way to the broker, so that the next wake skips the slow
# steps: the access point of the SSID (BSSID, channel), the IP configuration of the last DHCP
# lease and when it was obtained, the broker's address and when it was resolved. Kept in RTC
# memory right after the state record (node.state, at most OFFSET bytes), as one packed
# record; in RAM it is one bytearray (the body), read and written in place.
#
#   "NW" <crc32 of body:u32> body (40 bytes):
#     0 SSID key u16 | 2 BSSID 6 | 8 channel u8 | 9 flags u8 (1: IP configuration kept)
#    10 address, mask, gateway, DNS server: 4 bytes each | 26 lease obtained at u32
#    30 broker key u16 | 32 broker address 4 | 36 resolved at u32
# A key is the low 16 bits of the CRC-32 of the SSID, or of "host:port": what was learned on
# another network, or for another broker, is not used. Times are Unix seconds.
import struct
from micropython import const

from node.crc import crc32

OFFSET = const(256)         # node.state.MAX_BYTES: the state record comes first
_HEAD = const(6)
_BODY = const(40)
_MAGIC = b"NW"
_BSSID = const(2)
_CHANNEL = const(8)
_FLAGS = const(9)
_IP = const(10)
_LEASE = const(26)
_HOST = const(30)
_ADDR = const(32)
_RESOLVED = const(36)


def load(raw):
    """The body kept after the state record in RTC memory; zeros when there is none."""
    body = bytearray(_BODY)
    at = OFFSET + _HEAD
    if len(raw) >= at + _BODY and raw[OFFSET:OFFSET + 2] == _MAGIC:
        got = raw[at:at + _BODY]
        if struct.unpack_from("<I", raw, OFFSET + 2)[0] == crc32(got):
            body[:] = got
    return body


def rtc_image(state_bytes, body):
    """RTC memory's content: the state record, padded to OFFSET, then this record."""
    return (state_bytes + bytes(OFFSET - len(state_bytes)) + _MAGIC
            + struct.pack("<I", crc32(body)) + body)


def key(text):
    return (crc32(text.encode()) & 0xFFFF) or 1


def _key_is(body, at, text):
    return struct.unpack_from("<H", body, at)[0] == key(text)


def _ip(body, at):
    return "%d.%d.%d.%d" % tuple(body[at:at + 4])


def _put_ip(body, at, text):
    for i, part in enumerate(text.split(".")):
        body[at + i] = int(part)


def ap(body, ssid):
    """(BSSID or None, channel) of the access point the SSID was last joined on, or None."""
    if not _key_is(body, 0, ssid or ""):
        return None
    bssid = bytes(body[_BSSID:_BSSID + 6])
    return (bssid if any(bssid) else None), body[_CHANNEL]


def ipconfig(body, ssid, now, lease_s):
    """The (address, mask, gateway, DNS) of the last lease while it is in its first half (a
    DHCP client renews from there on, RFC 2131's T1), else None."""
    if not (body[_FLAGS] & 1 and _key_is(body, 0, ssid or "")):
        return None
    got = struct.unpack_from("<I", body, _LEASE)[0]
    if not 0 <= now - got < lease_s // 2:
        return None
    return tuple(_ip(body, _IP + 4 * i) for i in range(4))


def learned(body, ssid, bssid, channel, ifconfig=None, now=0):
    """An association that worked: its access point, and the lease it got (ifconfig, now)
    when DHCP ran; a BSSID of None keeps the one known for the SSID."""
    same = _key_is(body, 0, ssid or "")
    if not same:
        body[0:_HOST] = bytes(_HOST)
    struct.pack_into("<H", body, 0, key(ssid or ""))
    if bssid:
        body[_BSSID:_BSSID + 6] = bssid
    body[_CHANNEL] = channel
    if ifconfig:
        for i in range(4):
            _put_ip(body, _IP + 4 * i, ifconfig[i])
        struct.pack_into("<I", body, _LEASE, now)
        body[_FLAGS] |= 1


def forget_network(body):
    body[0:_HOST] = bytes(_HOST)


def broker(body, host, port, now, max_age):
    """The broker's address resolved less than max_age seconds ago, or None."""
    if not _key_is(body, _HOST, "%s:%d" % (host, port)):
        return None
    if not 0 <= now - struct.unpack_from("<I", body, _RESOLVED)[0] < max_age:
        return None
    return _ip(body, _ADDR)


def resolved(body, host, port, addr, now):
    struct.pack_into("<H", body, _HOST, key("%s:%d" % (host, port)))
    _put_ip(body, _ADDR, addr)
    struct.pack_into("<I", body, _RESOLVED, now)
