"""The server's side of one connection, as its Plan says: the TLS 1.0-1.2 full handshake
(RFC 5246 section 7.3) with RSA or signed ECDHE key exchange, HelloRequests where the plan
puts them, a second handshake when the client renegotiates, and MQTT's CONNACK to a CONNECT.
Everything the client does is noted in the session's log; nothing here raises at the client."""

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from . import keys, wire
from .channel import Closed
from .protect import CipherState

HANDSHAKE_FAILURE, UNKNOWN_CA = 40, 48
CONNACK_ACCEPTED = b"\x20\x02\x00\x00"
SECP256R1 = 23


class Handshake:
    """One handshake's state: the transcript (every handshake message but HelloRequest) and
    what the keys come from."""

    def __init__(self, version, client_hello, whole):
        self.version = version
        self.hello = client_hello
        self.transcript = whole
        self.server_random = os.urandom(32)
        self.suite = None
        self.master = None
        self.ecdhe = None

    def add(self, whole):
        self.transcript += whole


class Session:
    def __init__(self, channel, plan, log):
        self.ch = channel
        self.plan = plan
        self.log = log
        self.handshakes = 0
        self.verify_data = (b"", b"")      # client's and server's of the last handshake

    def run(self):
        try:
            if not self._first_handshake():
                self.ch.wait_for_close()
                return
            self._application()
        except Closed as exc:
            self.log.add("closed", str(exc))

    # --- handshakes ---

    def _first_handshake(self):
        item = self.ch.next_item()
        if item[0] != "handshake" or item[1] != wire.CLIENT_HELLO:
            self.log.add("not a ClientHello", item)
            return False
        try:
            hello = wire.parse_client_hello(item[2])
        except ValueError as exc:
            self.log.add("not a ClientHello", str(exc))
            return False
        self.log.add("client hello", {"version": hex(hello.version),
                                      "suites": [hex(s) for s in hello.suites]})
        return self._handshake(hello, item[3], self.plan.chain, self.plan.key, first=True)

    def _handshake(self, hello, whole, chain, key, first):
        plan, ch = self.plan, self.ch
        hs = Handshake(plan.version, hello, whole)
        self.handshakes += 1
        hs.suite = keys.choose(hello.suites, plan.key_exchange, plan.version)
        if hs.suite is None:
            self.log.add("no suite in common", [hex(s) for s in hello.suites])
            ch.send(ch.seal(wire.ALERT, wire.alert(2, HANDSHAKE_FAILURE)))
            return False
        ch.version = plan.version
        flight = [self._server_hello(hs)]
        certificate = plan.certificate if first and plan.certificate is not None \
            else wire.handshake(wire.CERTIFICATE, wire.certificate_list(chain))
        flight.append(certificate)
        if hs.suite.key_exchange == "ecdhe_rsa":
            flight.append(self._server_key_exchange(hs, key))
        if plan.request_client_cert:
            flight.append(wire.certificate_request(plan.version))
        flight.append(wire.server_hello_done())
        for m in flight:
            hs.add(m)
        ch.send(self._flight(flight, first))
        self.log.add("server flight sent", len(b"".join(flight)))
        if not wire.messages_complete(b"".join(flight)):
            # The client is left waiting inside a message: a server that says no more.
            self.log.add("flight ends inside a message: server closes its side")
            ch.half_close()
            return False
        return self._client_flight(hs, key) and self._finish(hs, first)

    def _server_hello(self, hs):
        ext = b""
        if hs.hello.offers_secure_renegotiation():
            ext = wire.extension(wire.RENEGOTIATION_INFO, wire.vec8(b"".join(self.verify_data)))
        return wire.server_hello(hs.version, hs.server_random, hs.suite.code, ext)

    def _server_key_exchange(self, hs, key):
        hs.ecdhe = ec.generate_private_key(ec.SECP256R1())
        point = hs.ecdhe.public_key().public_bytes(serialization.Encoding.X962,
                                                    serialization.PublicFormat.UncompressedPoint)
        params = b"\x03" + wire.u16(SECP256R1) + wire.vec8(point)
        signer = self.plan.signing_key or key
        signed = hs.hello.random + hs.server_random + params
        if hs.version >= wire.TLS12:
            sig = b"\x04\x01" + wire.vec16(signer.sign(signed, padding.PKCS1v15(), hashes.SHA256()))
        else:
            raise ValueError("a signed key exchange is built for TLS 1.2 only")
        return wire.handshake(wire.SERVER_KEY_EXCHANGE, params + sig)

    def _flight(self, flight, first):
        """The flight's records (with a HelloRequest where the plan puts it), as bytes."""
        ch, where = self.ch, self.plan.hello_request if first else None
        hr = wire.hello_request()
        if self.plan.layout == "one record":
            payloads = [b"".join(flight)]
        else:
            payloads = list(flight)
        if where == "clear, in the flight's record":
            payloads[-1] += hr
        elif where == "clear, amid the flight":
            if len(payloads) > 1:
                payloads.insert(1, hr)
            else:   # one record: the HelloRequest goes between the messages in it
                payloads = [flight[0] + hr + b"".join(flight[1:])]
        size = self.plan.record_size
        out = b"".join(ch.seal(wire.HANDSHAKE, p[i:i + size])
                       for p in payloads for i in range(0, len(p), size))
        if where == "clear, first":
            out = ch.seal(wire.HANDSHAKE, hr) + out
        elif where == "clear, after the flight":
            out += ch.seal(wire.HANDSHAKE, hr)
        if where and where.startswith("clear, ") and where != "clear, before Finished":
            self.log.add("hello request sent", where)
        return out

    def _client_flight(self, hs, key):
        """The client's Certificate, ClientKeyExchange, CertificateVerify, ChangeCipherSpec
        and Finished. False when the handshake ends here."""
        ch, plan = self.ch, self.plan
        premaster = None
        while True:
            item = ch.next_item()
            if item[0] != "handshake":
                if item[0] == wire.CHANGE_CIPHER_SPEC:
                    break
                self._note(item)
                return False
            mtype, body, whole = item[1:]
            self.log.add(f"client handshake message {mtype}")
            if mtype == wire.CERTIFICATE and plan.refuse_client_cert:
                empty = body == b"\x00\x00\x00"
                self.log.add("server refuses the client's certificate",
                             "none sent" if empty else "not of its CA")
                ch.send(ch.seal(wire.ALERT, wire.alert(2, HANDSHAKE_FAILURE if empty else UNKNOWN_CA)))
                return False
            hs.add(whole)
            if mtype == wire.CLIENT_KEY_EXCHANGE:
                premaster = self._premaster(hs, key, body)
        if premaster is None:
            self.log.add("change cipher spec before any key exchange")
            return False
        hs.master = keys.master_secret(hs.version, premaster, hs.hello.random, hs.server_random)
        block = keys.key_block(hs.version, hs.suite, hs.master, hs.hello.random, hs.server_random)
        self._keys = block
        ch.read_state = CipherState(hs.version, hs.suite.mac, block.client_mac, block.client_key,
                                    block.client_iv)
        self.log.add("client change cipher spec")
        try:
            item = ch.next_item()
        except Closed:
            if key is None:         # an impostor cannot read it: answer all the same
                self.log.add("client Finished unreadable (impostor)")
                return True
            raise
        if item[0] != "handshake" or item[1] != wire.FINISHED:
            self._note(item)
            return False
        expected = keys.verify_data(hs.version, hs.master, b"client finished", hs.transcript)
        ok = item[2] == expected
        self.log.add("client finished", "verified" if ok else "wrong verify_data")
        hs.add(item[3])
        self._client_verify = item[2]
        return ok or key is None

    def _premaster(self, hs, key, body):
        if hs.suite.key_exchange == "ecdhe_rsa":
            point = body[1:1 + body[0]]
            peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            return hs.ecdhe.exchange(ec.ECDH(), peer)
        encrypted = body[2:] if len(body) >= 2 and int.from_bytes(body[:2], "big") == len(body) - 2 \
            else body
        if key is None:
            self.log.add("premaster secret unreadable (impostor)")
            return os.urandom(48)
        try:
            return key.decrypt(encrypted, padding.PKCS1v15())
        except ValueError:
            self.log.add("premaster secret does not decrypt")
            return os.urandom(48)

    def _finish(self, hs, first):
        ch, where = self.ch, self.plan.hello_request if first else None
        block = self._keys
        out = b""
        if where == "clear, before Finished":
            out += ch.seal(wire.HANDSHAKE, wire.hello_request())
        out += ch.seal(wire.CHANGE_CIPHER_SPEC, b"\x01")
        ch.write_state = CipherState(hs.version, hs.suite.mac, block.server_mac, block.server_key,
                                     block.server_iv)
        finished = wire.handshake(wire.FINISHED, keys.verify_data(
            hs.version, hs.master, b"server finished", hs.transcript))
        if where == "encrypted, with Finished":
            out += ch.seal(wire.HANDSHAKE, finished + wire.hello_request())
        else:
            out += ch.seal(wire.HANDSHAKE, finished)
        if where == "encrypted, after Finished":
            out += ch.seal(wire.HANDSHAKE, wire.hello_request())
        ch.send(out)
        self.verify_data = (getattr(self, "_client_verify", b""), finished[4:])
        self.log.add("server finished sent")
        if where in ("clear, before Finished", "encrypted, with Finished",
                     "encrypted, after Finished"):
            self.log.add("hello request sent", where)
        return True

    # --- after the handshake ---

    def _application(self):
        ch, plan = self.ch, self.plan
        hello_after_connect = plan.hello_request == "encrypted, after CONNECT"
        while True:
            item = ch.next_item()
            if item[0] == "handshake":
                self._renegotiation(item)
                continue
            ctype, content = item
            if ctype != wire.APPLICATION_DATA:
                self._note(item)
                if ctype == wire.ALERT and content[:1] == b"\x02":
                    return
                continue
            self.log.add("application data", content)
            if content[:1] != b"\x10":
                continue
            if hello_after_connect:
                # and CONNACK right behind it: a client that lets it pass gets connected
                hello_after_connect = False
                ch.send(ch.seal(wire.HANDSHAKE, wire.hello_request())
                        + ch.seal(wire.APPLICATION_DATA, CONNACK_ACCEPTED))
                self.log.add("hello request sent", plan.hello_request)
            elif plan.answer_connect:
                ch.send(ch.seal(wire.APPLICATION_DATA, CONNACK_ACCEPTED))

    def _renegotiation(self, item):
        mtype, body, whole = item[1:]
        if mtype != wire.CLIENT_HELLO:
            self.log.add(f"client handshake message {mtype} after the handshake")
            return False
        hello = wire.parse_client_hello(body)
        self.log.add("renegotiation client hello", {"version": hex(hello.version)})
        if not self._handshake(hello, whole, self.plan.renegotiation_chain,
                               self.plan.renegotiation_key, first=False):
            return False
        self.log.add("renegotiated")
        return True

    def _note(self, item):
        ctype, content = item[0], item[-1]
        if ctype == wire.ALERT and len(content) >= 2:
            self.log.add("alert", {"level": content[0], "description": content[1]})
        else:
            self.log.add(f"record type {ctype}", content)
