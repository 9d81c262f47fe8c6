"""Record protection with a block cipher (RFC 5246 section 6.2.3.2; RFC 2246 for TLS 1.0's
chained IV): AES-128-CBC with HMAC, MAC then encrypt, one direction's state per object."""

import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16


class BadRecord(Exception):
    """A record that does not decrypt, or whose padding or MAC is wrong (bad_record_mac)."""


class CipherState:
    def __init__(self, version, mac_name, mac_key, key, iv=b""):
        self.version = version
        self.mac_name = mac_name
        self.mac_key = mac_key
        self.key = key
        self.iv = iv            # TLS 1.0: the chained IV; unused from TLS 1.1 on
        self.seq = 0

    def _mac(self, ctype, content):
        head = struct.pack(">QBHH", self.seq, ctype, self.version, len(content))
        return hmac.new(self.mac_key, head + content, self.mac_name).digest()

    def seal(self, ctype, content):
        """The protected fragment of a record of type ctype."""
        data = content + self._mac(ctype, content)
        pad = BLOCK - (len(data) + 1) % BLOCK
        data += bytes((pad,)) * (pad + 1)
        explicit = self.version >= 0x0302
        iv = os.urandom(BLOCK) if explicit else self.iv
        enc = Cipher(algorithms.AES(self.key), modes.CBC(iv)).encryptor()
        out = enc.update(data) + enc.finalize()
        self.seq += 1
        if explicit:
            return iv + out
        self.iv = out[-BLOCK:]
        return out

    def open(self, ctype, fragment):
        """The content of a protected fragment; BadRecord when it is not one of ours."""
        if self.version >= 0x0302:
            iv, fragment = fragment[:BLOCK], fragment[BLOCK:]
        else:
            iv = self.iv
        mac_len = len(hmac.new(b"", b"", self.mac_name).digest())
        if not fragment or len(fragment) % BLOCK or len(fragment) < mac_len + 1:
            raise BadRecord(f"a protected fragment of {len(fragment)} bytes")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(iv)).decryptor()
        data = dec.update(fragment) + dec.finalize()
        if self.version < 0x0302:
            self.iv = fragment[-BLOCK:]
        pad = data[-1]
        if pad + 1 + mac_len > len(data) or data[-pad - 1:] != bytes((pad,)) * (pad + 1):
            raise BadRecord("bad padding")
        data = data[:-pad - 1]
        content, mac = data[:-mac_len], data[-mac_len:]
        if not hmac.compare_digest(mac, self._mac(ctype, content)):
            raise BadRecord("bad MAC")
        self.seq += 1
        return content
