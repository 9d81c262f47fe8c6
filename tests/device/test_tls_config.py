# node.tls: the "tls" config section checked once, with errors that name the key and the fix;
# and the messages for each way a handshake is refused (node.tlsexplain), under MicroPython.
from mptest import eq, raises
from node import tls, tlsexplain
from node import tlspin as tlswatch
from node.tls import TLSError, make_context

PIN = "27b0b6115ec609f77f590fa0db074ebdbc9da026431fd5ce5c21f144f25797f1"


def test_pins_are_parsed_in_both_spellings():
    colons = ":".join(PIN[i:i + 2] for i in range(0, 64, 2)).upper()
    a, b = tls.parse_pins([PIN, colons])
    eq(a, b, "hex and colon-separated upper case are the same pin")
    eq(len(a), 32, "a SHA-256 digest")
    for bad in ("abc", PIN[:-2], PIN + "00", "zz" * 32):
        err = raises(ValueError, tls.parse_pins, [PIN, bad])
        assert "tls.pins[1]" in str(err) and "64 hex digits" in str(err), str(err)


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
        self.fingerprint = None
        self.tls13 = False
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
        self.client_cert = client_cert
        self.fingerprint = fingerprint
        self.leaf = leaf
        self.redial = None


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
        (OSError(111), Watch(refused=tlswatch.PIN_MISMATCH, fingerprint="ab" * 32),
         ("wrong pin", "ab" * 32, PIN, "tls.pins")),
        (OSError(111), Watch(refused=tlswatch.NOT_TLS), ("not TLS", "8883")),
        (OSError(111), Watch(refused=tlswatch.NO_CLEAR_CERT, tls13=True),
         ("TLS 1.3", "tls_version tlsv1.2")),
        (OSError(-30592), Watch(alert=70), ("protocol_version", "TLS 1.2")),
        (OSError(32), Watch(cert_requested=True), ("requires a client certificate", "tls.cert")),
        (OSError(-30592), Watch(cert_requested=True, alert=48), ("rejected this device's client",)),
        (OSError(-30592), Watch(alert=40), ("no cipher suite in common", "RSA")),
    )
    for exc, watch, words in cases:
        text = why(exc, watch, [tls.parse_pins([PIN])[0]],
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
    e = OSError(104)
    assert explain(e, Watch(received=50), "b") is e, "a reset mid-handshake stays OSError"
    assert isinstance(TLSError("x"), ValueError), "TLSError is a ValueError, as mbedtls' own"


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
