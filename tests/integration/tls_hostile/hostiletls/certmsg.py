"""Certificate messages (RFC 5246 section 7.4.2) for the fuzz: what the node's pin check must
find wrong with one (a reference check written from the rules, not from the firmware), and
seeded mutations of well-formed ones: lengths, truncations, extra entries, sizes.

The rules: the list's length is the message's length minus 3; the entries fill the list
exactly; each entry's length is its certificate's own DER length (RFC 5280: a SEQUENCE);
at most max_certs entries, each at most max_cert_bytes long; the leaf (the first entry) is a
pinned certificate."""

import random
from dataclasses import dataclass

from .wire import CERTIFICATE, MAX_RECORD, handshake, u24, vec24

MALFORMED = "Certificate message"
TOO_MANY = "tls.max_certs"
TOO_BIG = "tls.max_cert_bytes"
MESSAGE_TOO_BIG = "handshake message of"
WRONG_PIN = "wrong pin"
SMALL_RECORDS = 1024


def der_length(cert):
    """The length of the DER SEQUENCE that starts `cert`, header included; None when it does
    not start with one."""
    if len(cert) < 2 or cert[0] != 0x30:
        return None
    n = cert[1]
    if n < 0x80:
        return 2 + n
    k = n & 0x7F
    if k == 0 or k > 3 or len(cert) < 2 + k:
        return None
    return 2 + k + int.from_bytes(cert[2:2 + k], "big")


def problems(body, max_certs, max_cert_bytes, exact_der=True):
    """(what is wrong with a Certificate message's body, as the set of causes a refusal may
    name; the entries it holds when it parses). exact_der=False lets an entry hold bytes after
    its certificate's DER (a TLS library that parses the certificate itself ignores them):
    the entry then stands for its certificate alone."""
    found = set()
    if len(body) < 3 or int.from_bytes(body[:3], "big") != len(body) - 3:
        found.add(MALFORMED)
    entries, i = [], 3
    while i < len(body):
        n = int.from_bytes(body[i:i + 3], "big")
        if i + 3 > len(body) or n == 0 or i + 3 + n > len(body):
            found.add(MALFORMED)
            break
        entries.append(body[i + 3:i + 3 + n])
        i += 3 + n
    if not entries:
        found.add(MALFORMED)
    for k, cert in enumerate(entries):
        n = der_length(cert)
        if n is not None and n < len(cert) and not exact_der:
            entries[k] = cert = cert[:n]
        if n != len(cert):
            found.add(MALFORMED)
        if len(cert) > max_cert_bytes:
            found.add(TOO_BIG)
    if len(entries) > max_certs:
        found.add(TOO_MANY)
    if len(body) > max_certs * (max_cert_bytes + 3) + 3:
        found.add(MESSAGE_TOO_BIG)
    return found, entries


@dataclass
class Case:
    number: int
    kind: str
    message: bytes          # the whole Certificate handshake message, as sent
    layout: str             # the flight's records: "record per message" or "one record"
    record_size: int        # the largest record the flight is cut into

    def expectation(self, pinned, max_certs, max_cert_bytes, exact_der=True):
        """(may connect, the causes a refusal may name)."""
        body = self.message[4:]
        declared = int.from_bytes(self.message[1:4], "big")
        found, entries = problems(body, max_certs, max_cert_bytes, exact_der)
        if declared != len(body):
            found.add(MALFORMED)
            if declared > max_certs * (max_cert_bytes + 3) + 3:
                found.add(MESSAGE_TOO_BIG)
        if not entries or entries[0] not in pinned:
            found.add(WRONG_PIN)
        return not found, found


class Mutator:
    """Seeded mutations of Certificate messages built from real certificates: `pinned` the
    pinned leaf, `other` a leaf that is not pinned, `ca` its issuer, `big` a well-formed
    certificate over the size cap."""

    KINDS = ("genuine", "list length", "entry length", "message length", "truncated",
             "extra entries", "entry not its DER", "empty", "byte flips", "other leaf",
             "oversized")

    def __init__(self, seed, pinned, other, ca, big):
        self.rng = random.Random(seed)
        self.pinned, self.other, self.ca, self.big = pinned, other, ca, big

    def cases(self, count):
        for number in range(count):
            kind = self.KINDS[number % len(self.KINDS)]
            body, declared = getattr(self, "_" + kind.replace(" ", "_"))()
            layout = self.rng.choice(("record per message", "one record"))
            # A certificate over the cap comes in records an ESP8266 takes (1 KB), so that
            # the entry's length is read before anything else is too big.
            size = SMALL_RECORDS if kind == "oversized" else MAX_RECORD
            yield Case(number, kind, handshake(CERTIFICATE, body, declared), layout, size)

    # Each returns (body, the length the message header declares: None for the true one).

    def _genuine(self):
        return _list([self.pinned]), None

    def _near(self, n):
        r = self.rng
        return r.choice([r.randrange(0, 8), max(0, n + r.randrange(-8, 9)),
                         r.randrange(0, 1 << 24), n ^ (1 << r.randrange(24))])

    def _list_length(self):
        entries = b"".join(vec24(c) for c in self._chain())
        n = self._near(len(entries))
        return u24(n & 0xFFFFFF) + entries, None

    def _entry_length(self):
        leaf = self.pinned
        n = self._near(len(leaf)) & 0xFFFFFF
        entry = u24(n) + leaf
        # the list's length either fits the bytes or the lying entry
        listed = len(entry) if self.rng.random() < 0.5 else n + 3
        return u24(listed & 0xFFFFFF) + entry, None

    def _message_length(self):
        body = _list(self._chain())
        return body, self._near(len(body)) & 0xFFFFFF

    def _truncated(self):
        body = _list(self._chain())
        cut = self.rng.randrange(0, len(body))
        return body[:cut], (None if self.rng.random() < 0.7 else len(body))

    def _extra_entries(self):
        r = self.rng
        pool = [self.ca, self.other, self.pinned, r.randbytes(r.randrange(1, 200)), b"",
                self.ca[:r.randrange(1, len(self.ca))], self.ca + r.randbytes(r.randrange(1, 9))]
        extras = [r.choice(pool) for _ in range(r.randrange(1, 5))]
        entries = b"".join(vec24(c) for c in [self.pinned] + extras)
        if r.random() < 0.3:
            # the last entry says it is longer than what is left
            entries += u24(len(self.ca)) + self.ca[:r.randrange(0, len(self.ca))]
        return vec24(entries), None

    def _entry_not_its_DER(self):
        r = self.rng
        leaf = bytearray(self.pinned)
        if r.random() < 0.5:
            leaf += r.randbytes(r.randrange(1, 40))         # junk inside the entry
        else:
            hdr = 2 + (leaf[1] & 0x7F if leaf[1] & 0x80 else 0)
            pos = r.randrange(1, hdr)                      # the DER header's own length
            leaf[pos] = (leaf[pos] + r.choice((-1, 1, 0x10))) & 0xFF
        return _list([bytes(leaf)]), None

    def _empty(self):
        return self.rng.choice([b"", b"\x00\x00\x00", b"\x00\x00\x03\x00\x00\x00",
                                b"\x00\x00"]), None

    def _byte_flips(self):
        r = self.rng
        body = bytearray(_list(self._chain()))
        for _ in range(r.randrange(1, 4)):
            pos = r.randrange(0, 12) if r.random() < 0.7 else r.randrange(len(body))
            body[pos] = r.randrange(256)
        return bytes(body), None

    def _other_leaf(self):
        return _list(self.rng.choice([[self.other], [self.other, self.pinned],
                                      [self.other, self.ca]])), None

    def _oversized(self):
        return _list(self.rng.choice([[self.big], [self.pinned, self.big]])), None

    def _chain(self):
        return [self.pinned] if self.rng.random() < 0.6 else [self.pinned, self.ca]


def _list(certs):
    return vec24(b"".join(vec24(c) for c in certs))
