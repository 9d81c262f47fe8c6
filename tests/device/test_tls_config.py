# node.tls: the "tls" config section checked once, with errors that name the key and the fix;
# and the messages for each way a handshake is refused (node.tlsexplain), under MicroPython.
from mptest import eq, raises
from node import tls, tlsexplain, tlsmake
from node import tlsguard
from node.tls import TLSError, make_context

PIN = "27b0b6115ec609f77f590fa0db074ebdbc9da026431fd5ce5c21f144f25797f1"


KEY = "sha256//" + "J7C2EV7GCfd/WQ+g2wdOvbydoCZDH9XOXCHxRPJXl/E="     # the same 32 bytes


def test_pins_are_parsed_in_both_spellings_and_both_kinds():
    colons = ":".join(PIN[i:i + 2] for i in range(0, 64, 2)).upper()
    certs, keys = tlsmake.parse_pins([PIN, colons])
    eq(certs[0], certs[1], "hex and colon-separated upper case are the same pin")
    eq((len(certs[0]), keys), (32, []), "certificate pins: SHA-256 digests")
    certs, keys = tlsmake.parse_pins([PIN, KEY])
    eq((certs, keys), ([certs[0]], [certs[0]]), "a key pin (curl's sha256//base64) is its own kind")
    for bad in ("abc", PIN[:-2], PIN + "00", "zz" * 32, "sha256//short=", "sha256/" + KEY[8:]):
        err = raises(ValueError, tlsmake.parse_pins, [PIN, bad])
        assert "tls.pins[1]" in str(err) and "64 hex digits" in str(err), str(err)
        assert "sha256//" in str(err), str(err)


def test_config_errors_name_the_key():
    err = raises(ValueError, make_context, {"mode": "tofu"}, ".")
    assert "tls.mode" in str(err), str(err)
    err = raises(ValueError, make_context, {"mode": "pin", "pins": []}, ".")
    assert "tls.pins" in str(err) and "provision" in str(err), str(err)
    err = raises(ValueError, make_context, {"mode": "ca", "ca": "ca.der"}, ".")
    assert "tls.ca" in str(err) and "no file ca.der" in str(err), str(err)
    with open("junk.der", "wb") as f:
        f.write(b"not a certificate")
    err = raises(ValueError, make_context, {"mode": "ca", "ca": "junk.der"}, ".")
    assert "not a certificate in DER" in str(err), str(err)
    err = raises(ValueError, make_context, {"mode": "pin", "pins": [PIN], "cert": "c.der"}, ".")
    assert "tls.cert and tls.key" in str(err), str(err)
    err = raises(ValueError, make_context, {"mode": "pin", "pins": [PIN], "cert": "junk.der",
                                            "key": "junk.der"}, ".")
    assert "tls.cert/tls.key" in str(err), str(err)


def test_pin_and_insecure_contexts_need_no_ca():
    ctx = make_context({"mode": "pin", "pins": [PIN], "ca": "missing.der"}, ".")
    eq(ctx.mode, "pin", "mode")
    ctx = make_context({"mode": "insecure"}, ".")
    eq(ctx.mode, "insecure", "mode")
    ctx = make_context({"mode": "pin", "pins": [PIN], "server_hostname": "broker.lan"}, ".")
    eq(ctx.server_hostname, "broker.lan", "the name to check and send (SNI)")


class Watch:
    def __init__(self, **kw):
        self.refused = None
        self.detail = 0
        self.timed_out = False
        self.asked = False
        self.fingerprint = None
        self.key_fingerprint = None
        self.cert_requested = False
        self.alert = None
        self.received = 100
        self.verified = True
        for k, v in kw.items():
            setattr(self, k, v)


class Ctx:
    """What node.tlsexplain reads of a node.tls.Context."""

    def __init__(self, pins=None, client_cert=False, fingerprint=None, leaf=None):
        self.pins = pins
        self.key_pins = []
        self.key_fingerprint = None
        self.client_cert = client_cert
        self.fingerprint = fingerprint
        self.leaf = leaf
        self.handshake_ms = 15000
        self.max_certs = 1
        self.max_cert_bytes = 4096


def explain(exc, watch, name, pins=None, client_cert=False):
    return tlsexplain.explain(Ctx(pins, client_cert), exc, watch, name)


def why(exc, watch=None, pins=None, client_cert=False):
    return str(explain(exc, watch or Watch(), "broker.lan", pins, client_cert))


def test_each_refusal_names_cause_and_fix():
    cases = (
        (ValueError("\nThe certificate is not correctly signed by the trusted CA\n"), Watch(),
         ("untrusted CA", "tls.ca")),
        (ValueError("\nThe certificate validity has expired\n"), Watch(), ("expired", "NTP")),
        (ValueError("\nThe certificate validity starts in the future\n"), Watch(),
         ("not valid yet", "clock", "NTP")),
        (ValueError("\nThe certificate Common Name (CN) does not match with the expected CN\n"),
         Watch(), ("wrong hostname", "broker.lan", "tls.server_hostname")),
        (OSError(111), Watch(refused=tlsguard.PIN_MISMATCH, fingerprint=b"\xab" * 32),
         ("wrong pin", "ab" * 32, PIN, "tls.pins")),
        (OSError(111), Watch(refused=tlsguard.NOT_TLS), ("not TLS", "8883")),
        (OSError(111), Watch(refused=tlsguard.NO_CLEAR_CERT),
         ("TLS 1.3", "tls_version tlsv1.2")),
        (OSError(-30592), Watch(alert=70), ("protocol_version", "TLS 1.2")),
        (OSError(32), Watch(cert_requested=True), ("requires a client certificate", "tls.cert")),
        (OSError(-30592), Watch(cert_requested=True, alert=48), ("rejected this device's client",)),
        (OSError(-30592), Watch(alert=40), ("no cipher suite in common", "RSA")),
        (OSError(-111), Watch(refused=tlsguard.BAD_CERT_MSG), ("Certificate message", "malformed")),
        (OSError(-111), Watch(refused=tlsguard.TOO_MANY_CERTS, detail=2),
         ("chain of 2", "tls.max_certs", "certfile")),
        (OSError(-111), Watch(refused=tlsguard.BIG_CERT, detail=9000), ("9000", "tls.max_cert_bytes")),
        (OSError(-111), Watch(refused=tlsguard.HUGE_MESSAGE, detail=4 << 20),
         ("handshake message of 4194304",)),
        (OSError(-111), Watch(refused=tlsguard.OLD_TLS, detail=0x0301),
         ("TLS 1.0", "TLS 1.2 only", "tls_version")),
        (OSError(-111), Watch(refused=tlsguard.OLD_TLS, detail=0x0302), ("TLS 1.1",)),
        (OSError(-111), Watch(refused=tlsguard.RENEGOTIATION), ("renegotiat",)),
        (OSError(-0x7180), Watch(), ("own checks", "does not hold the key")),
        (OSError(-262), Watch(), ("own checks",)),
    )
    for exc, watch, words in cases:
        text = why(exc, watch, tlsmake.parse_pins([PIN])[0],
                   client_cert=watch.alert == 48)
        assert text.startswith("TLS: broker broker.lan: "), text
        for w in words:
            assert w in text, "%r not in: %s" % (w, text)
        assert isinstance(explain(exc, watch, "b", None), TLSError)


def test_no_tls_answer_at_all_is_named_but_retryable():
    # A plain MQTT port closes on a ClientHello; so may a broker that is just starting: an
    # OSError (reconnect tries again), with the likely cause in its message.
    e = explain(OSError(104), Watch(received=0), "broker.lan")
    assert type(e) is OSError and e.args[0] == 104, repr(e)
    for w in ("broker.lan", "without a TLS answer", "plain MQTT", "8883"):
        assert w in str(e), str(e)


def test_plain_network_faults_stay_oserror():
    e = OSError(110)
    assert explain(e, Watch(received=50), "b") is e, "a timeout is not a TLS refusal"
    e = explain(OSError(104), Watch(received=50), "b")
    assert type(e) is OSError and e.args[0] == 104, "a reset mid-handshake stays OSError"
    assert isinstance(TLSError("x"), ValueError), "TLSError is a ValueError, as mbedtls' own"


def test_a_handshake_past_its_deadline_is_a_timeout_naming_the_setting():
    e = explain(OSError(-110), Watch(timed_out=True), "broker.lan")
    assert type(e) is OSError and e.args[0] == 110, repr(e)
    assert "tls.handshake_s (15 s)" in str(e), str(e)


def test_client_certificate_is_named_only_for_its_own_failure():
    # A CertificateRequest seen, then an alert that is not about certificates: not mutual TLS.
    text = why(OSError(-30592), Watch(cert_requested=True, alert=20))
    assert "client certificate" not in text and "alert 20" in text, text
    text = why(OSError(-0x7180), Watch(cert_requested=True))
    assert "client certificate" not in text and "own checks" in text, text
    for alert in (40, 42, 116):
        assert "requires a client certificate" in why(OSError(-30592),
                                                      Watch(cert_requested=True, alert=alert))


class AxtlsTls:
    """The tls module as ESP8266 firmware has it (axTLS): CERT_NONE only, no CA loading, no
    verify callback."""
    CERT_NONE = 0
    PROTOCOL_TLS_CLIENT = 0

    class SSLContext:
        def __init__(self, protocol):
            self.verify_mode = 0

        def load_cert_chain(self, cert, key):
            pass

        def wrap_socket(self, sock, server_hostname=None):
            raise OSError(5)


def test_ca_mode_on_axtls_says_to_pin():
    import sys
    saved = sys.modules.get("tls")
    sys.modules["tls"] = AxtlsTls
    sys.modules.pop("node.tls", None)
    sys.modules.pop("node.tlsmake", None)
    try:
        import node.tls as axtls_tls
        with open("ca.der", "wb") as f:
            f.write(b"0")
        for mode in ("ca", "ca+pin"):
            err = raises(ValueError, axtls_tls.make_context, {"mode": mode, "pins": [PIN]}, ".")
            assert "axTLS" in str(err) and "\"pin\"" in str(err), str(err)
        ctx = axtls_tls.make_context({"mode": "pin", "pins": [PIN]}, ".")
        eq(ctx.mode, "pin", "pin mode needs nothing axTLS lacks")
    finally:
        sys.modules["tls"] = saved
        sys.modules.pop("node.tls", None)
        sys.modules.pop("node.tlsmake", None)
