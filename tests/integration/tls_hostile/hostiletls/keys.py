"""Key derivation of TLS 1.0 to 1.2 (RFC 2246 and 4346 section 5, RFC 5246 section 5): the PRF,
the master secret, the key block and the Finished messages' verify_data, and the cipher suites
this server speaks (RSA key exchange with AES-128-CBC, and ECDHE-RSA for a signed key
exchange)."""

import hashlib
import hmac
from dataclasses import dataclass

from .wire import TLS12


@dataclass(frozen=True)
class Suite:
    code: int
    name: str
    mac: str            # hashlib name of the record MAC
    key_exchange: str   # "rsa" or "ecdhe_rsa"
    key_len: int = 16   # AES-128

    @property
    def mac_len(self):
        return hashlib.new(self.mac).digest_size


SUITES = {s.code: s for s in (
    Suite(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", "sha256", "rsa"),
    Suite(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", "sha1", "rsa"),
    Suite(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "sha256", "ecdhe_rsa"),
    Suite(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "sha1", "ecdhe_rsa"),
)}


def choose(offered, key_exchange="rsa", version=TLS12):
    """The first suite of ours (in SUITES' order) that the client offered; SHA-256 suites only
    from TLS 1.2 on."""
    for s in SUITES.values():
        if (s.code in offered and s.key_exchange == key_exchange
                and (version >= TLS12 or s.mac == "sha1")):
            return s
    return None


def _p_hash(name, secret, seed, n):
    out, a = b"", seed
    while len(out) < n:
        a = hmac.new(secret, a, name).digest()
        out += hmac.new(secret, a + seed, name).digest()
    return out[:n]


def prf(version, secret, label, seed, n):
    if version >= TLS12:
        return _p_hash("sha256", secret, label + seed, n)
    half = (len(secret) + 1) // 2
    md5 = _p_hash("md5", secret[:half], label + seed, n)
    sha = _p_hash("sha1", secret[-half:], label + seed, n)
    return bytes(x ^ y for x, y in zip(md5, sha))


def master_secret(version, premaster, client_random, server_random):
    return prf(version, premaster, b"master secret", client_random + server_random, 48)


@dataclass
class KeyBlock:
    client_mac: bytes
    server_mac: bytes
    client_key: bytes
    server_key: bytes
    client_iv: bytes        # TLS 1.0 only: the first record's IV; later versions send theirs
    server_iv: bytes


def key_block(version, suite, master, client_random, server_random):
    iv_len = 16 if version < 0x0302 else 0
    sizes = (suite.mac_len, suite.mac_len, suite.key_len, suite.key_len, iv_len, iv_len)
    block = prf(version, master, b"key expansion", server_random + client_random, sum(sizes))
    parts, i = [], 0
    for n in sizes:
        parts.append(block[i:i + n])
        i += n
    return KeyBlock(*parts)


def verify_data(version, master, label, transcript):
    """Finished's verify_data over the handshake messages so far (label: b"client finished"
    or b"server finished")."""
    if version >= TLS12:
        digest = hashlib.sha256(transcript).digest()
    else:
        digest = hashlib.md5(transcript).digest() + hashlib.sha1(transcript).digest()
    return prf(version, master, label, digest, 12)
