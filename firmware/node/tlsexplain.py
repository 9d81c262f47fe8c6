# Why a TLS handshake with the broker failed, in words that name the cause and the fix.
# Imported only when a handshake has failed (node.tls), so its text takes no RAM otherwise.
#
# What it has to go on: the TLS library's error; on axTLS the node.tlspin watch that read the
# handshake; on mbedtls the leaf certificate's first bytes and fingerprint from the verify
# callback. When mbedtls' error alone does not tell (an alert from the broker, bytes that
# are not TLS, a connection closed), it connects once more and reads the broker's side of a handshake through a
# watch that sends nothing but the ClientHello's answers: no CONNECT, no password.
from micropython import const

from node.tls import REPROVISION, TLSError

_FATAL_ALERT = const(-0x7780)    # mbedtls: a fatal alert from the peer
_CONN_EOF = const(-0x7280)       # mbedtls: the peer closed the connection
_BAD_RECORD = const(-0x7200)     # mbedtls: an invalid TLS record
_X509_FATAL = const(-0x3000)     # mbedtls: our verify callback said no


def _code(exc):
    a = getattr(exc, "args", None)
    return a[0] if a and isinstance(a[0], int) else None


def _closed(code):
    # EOF, reset or broken pipe while the handshake was under way
    return code in (32, 104, 103, 128, 9, 107, _CONN_EOF)


def _look_again(ctx, name):
    # mbedtls gave no reason: connect again and watch the broker's side of the handshake.
    if ctx.redial is None:
        return None
    redial, ctx.redial = ctx.redial, None       # once: the client sets it at each connect
    from node.tlspin import Watch
    try:
        w = Watch(redial(), ())
    except OSError:
        return None
    w.verified = False          # whatever happens, no application data leaves
    try:
        ctx._ctx.wrap_socket(w, server_hostname=name).close()
    except (ValueError, OSError):
        pass
    w.close()
    return w


def explain(ctx, exc, watch, name):
    """The error to raise for a failed handshake (exc None: it ended without the pinned
    certificate in sight): a TLSError naming the cause and the fix, or an OSError (worth
    another try) when the connection just broke."""
    from node import tlspin
    if exc is None:
        if watch is not None and watch.tls13:
            why = ("it negotiated TLS 1.3, which encrypts the certificate, so pin mode cannot "
                   "see it: let the broker's TLS listener accept TLS 1.2 (Mosquitto: "
                   "tls_version tlsv1.2), or use tls.mode \"ca\" on a board that can")
        else:
            why = ("it did not show its certificate before encrypting (TLS 1.3 or session "
                   "resumption), so pin mode cannot check it: let the broker accept a full "
                   "TLS 1.2 handshake (Mosquitto: tls_version tlsv1.2)")
        return TLSError("TLS: broker %s: %s" % (name, why))
    if isinstance(exc, ValueError):
        return TLSError("TLS: broker %s: %s" % (name, _certificate(str(exc), ctx, name)))
    code = _code(exc)
    if code == _X509_FATAL and ctx.fingerprint is not None:
        return TLSError("TLS: broker %s: %s" % (name, _wrong_pin(_hex(ctx.fingerprint), ctx.pins)))
    # The broker said no (an alert, bytes that are not TLS, or it closed the connection, which
    # is all a client may see of a refusal that beat its own last write), and mbedtls does not
    # say why: look again, once. A second handshake that goes through was a network fault.
    again = watch is None and (code == _FATAL_ALERT or code == _BAD_RECORD or _closed(code))
    if again:
        watch = _look_again(ctx, name)
        if watch is not None and watch.done:
            return OSError(code, "TLS: the handshake with broker %s broke off (%s), and a second "
                           "one went through: a network fault" % (name, exc))
    why = None
    if watch is None:
        if _closed(code):
            return OSError(code, "TLS: broker %s closed the connection during the handshake: "
                           "if this port is a plain MQTT listener (1883), use the broker's TLS "
                           "port (8883); else see the broker's log" % name)
    elif watch.refused == tlspin.PIN_MISMATCH:
        why = _wrong_pin(watch.fingerprint, ctx.pins)
    elif watch.refused == tlspin.NOT_TLS:
        why = ("it answered with bytes that are not TLS: this port is probably a plain MQTT "
               "listener (1883); use the broker's TLS port (8883)")
    elif watch.refused == tlspin.NO_CLEAR_CERT:
        return explain(ctx, None, watch, name)
    elif watch.refused == tlspin.BAD_CERT_MSG:
        why = "its Certificate message was malformed: refused"
    elif watch.alert == 70:
        why = ("it refused this client's TLS version (alert protocol_version): this client "
               "speaks TLS 1.2; let the broker's listener accept it (Mosquitto: tls_version "
               "tlsv1.2)")
    elif watch.cert_requested and (watch.alert is not None or _closed(code) or again):
        # (a second look fails where the first did, but may end before the alert is read)
        if ctx.client_cert:
            why = ("it rejected this device's client certificate (alert %s): check the "
                   "certificate is signed by the CA the broker trusts (its cafile), is not "
                   "expired, and matches tls.key" % watch.alert)
        else:
            why = ("it requires a client certificate (mutual TLS) and this device has none: "
                   "give the device one in tls.cert and tls.key (`host_tools provision` with "
                   "a client certificate)")
    elif watch.alert == 40:
        why = ("it found no cipher suite in common (alert handshake_failure): an ESP8266 "
               "needs an RSA broker certificate and TLS 1.2")
    elif watch.alert is not None:
        why = "it aborted the handshake with TLS alert %d" % watch.alert
    elif watch.received == 0 and _closed(code):
        # An OSError, so a reconnect tries again: a broker that is just starting does this too.
        return OSError(code, "TLS: broker %s closed the connection without a TLS answer: this "
                       "port is probably a plain MQTT listener (1883), use the broker's TLS "
                       "port (8883); else see the broker's log for why its TLS listener refused"
                       % name)
    if why is None:
        return exc
    return TLSError("TLS: broker %s: %s" % (name, why))


def _wrong_pin(fingerprint, pins):
    import binascii
    expected = ", ".join(binascii.hexlify(p).decode() for p in pins or ())
    return ("its certificate's SHA-256 fingerprint is %s, which is none of tls.pins [%s] "
            "(wrong pin): if the broker certificate was renewed, %s to pin the new one; "
            "otherwise something else answers at this address" % (fingerprint, expected,
                                                                    REPROVISION))


def _certificate(text, ctx, name):
    # mbedtls' verification said no: its text names the flags.
    why = []
    if "not correctly signed" in text or "trusted CA" in text:
        if ctx.leaf and _names_itself(ctx.leaf):
            why.append("its certificate is self-signed (it names itself as its issuer), so no "
                       "CA vouches for it: give the broker a certificate signed by the CA in "
                       "tls.ca (`host_tools certs broker`), or pin this one (tls.mode \"pin\")")
        else:
            why.append("its certificate is not signed by the CA in tls.ca (untrusted CA): give "
                       "the device the CA that signed the broker's certificate (`host_tools "
                       "provision` writes it), or check the device reaches the right broker")
    if "has expired" in text:
        why.append("its certificate has expired (by this device's clock): renew the broker "
                   "certificate (`host_tools certs broker`), and check the device clock is "
                   "right (NTP)")
    if "in the future" in text:
        why.append("its certificate is not valid yet (by this device's clock): the device clock "
                   "is probably wrong, set it with NTP before connecting; else the certificate "
                   "was issued with a start date in the future")
    if "CN" in text and "match" in text:
        why.append("its certificate does not carry the name %r (wrong hostname): connect with a "
                   "name the certificate carries, set tls.server_hostname to it, or issue the "
                   "broker a certificate for this name" % name)
    return "; ".join(why) or "its certificate was refused (%s)" % text.strip()


def _hex(b):
    if b is None:
        return None
    import binascii
    return binascii.hexlify(b).decode()


def _tlv(der, i):
    # DER element at i: (offset of its content, offset past its end)
    n = der[i + 1]
    if n < 0x80:
        return i + 2, i + 2 + n
    k = n & 0x7F
    if k > 3:
        raise IndexError("not a certificate")     # garbage: no name is that long
    v = 0
    for j in range(i + 2, i + 2 + k):
        v = (v << 8) | der[j]
    return i + 2 + k, i + 2 + k + v


def _names_itself(der):
    """True when the certificate's issuer and subject are the same name (from its first
    bytes: Certificate, TBSCertificate, [0] version, serial, signature, issuer, validity,
    subject); None when they are not within `der`."""
    try:
        i = _tlv(der, _tlv(der, 0)[0])[0]   # into Certificate, into TBSCertificate
        if der[i] == 0xA0:
            i = _tlv(der, i)[1]             # version
        i = _tlv(der, _tlv(der, i)[1])[1]   # serial, signature algorithm
        issuer = _tlv(der, i)[1]
        subject = _tlv(der, _tlv(der, issuer)[1])
        if subject[1] > len(der):
            return None
        return der[i:issuer] == der[_tlv(der, issuer)[1]:subject[1]]
    except IndexError:
        return None
