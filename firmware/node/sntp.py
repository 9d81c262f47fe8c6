# A minimal SNTP client (RFC 4330): one UDP request, the server's transmit time back.
# The request's transmit field carries random bytes that a genuine reply must echo as its
# originate time, so a stray or spoofed datagram is not taken for the answer.
import os
import socket
import struct

NTP_TO_UNIX = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def query(host, port=123, timeout_s=2):
    """Unix time (whole seconds, rounded) from the NTP server at host:port; OSError when there
    is no good answer. No float: an ESP8266's has 24 bits, too few for a Unix time."""
    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]
    nonce = os.urandom(8)
    request = bytearray(48)
    request[0] = 0x23  # LI 0, version 4, mode 3 (client)
    request[40:48] = nonce
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout_s)
        s.sendto(request, addr)
        reply = s.recv(48)
    finally:
        s.close()
    if len(reply) < 48:
        raise OSError("NTP reply of %d bytes is too short" % len(reply))
    if reply[0] & 7 != 4:
        raise OSError("NTP reply is not from a server (mode %d)" % (reply[0] & 7))
    if reply[1] == 0:
        raise OSError("NTP server sent kiss-of-death (stratum 0): try another server")
    if reply[24:32] != nonce:
        raise OSError("NTP reply does not answer our request")
    secs, frac = struct.unpack_from("!II", reply, 40)
    return secs - NTP_TO_UNIX + (frac >> 31)
