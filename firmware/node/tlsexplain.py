# Why a TLS handshake with the broker failed, in words that name the cause and the fix.
# Imported only when a handshake has failed (node.tls), so its text takes no RAM otherwise.
#
# What it has to go on: the TLS library's error, and a node.tlsguard that read the broker's
# side of the handshake (its refusal, the alert it saw, whether it asked for a client
# certificate): in pin mode on axTLS the guard of the handshake
# itself; on mbedtls the leaf's first bytes and fingerprints from the verify callback, and
# when those do not tell, a second look through a guard.
import time
from micropython import const

from node.tls import KEY_PIN, REPROVISION, TLSError

_FATAL_ALERT = const(-0x7780)    # mbedtls: a fatal alert from the peer
_CONN_EOF = const(-0x7280)       # mbedtls: the peer closed the connection
_BAD_RECORD = const(-0x7200)     # mbedtls: an invalid TLS record
# mbedtls's words for a handshake it could not read (a message it did not expect, one it could
# not decode, input over its limits): a guard reads it again to name what was wrong.
_UNREADABLE = (-0x7700, -0x7300, -0x7100)
_BAD_VERSION = const(-0x6E80)    # mbedtls: the server chose a version it does not speak
_X509_FATAL = const(-0x3000)     # mbedtls: our verify callback said no
_ETIMEDOUT = const(110)
# The TLS library's own checks failed: a record's MAC, the handshake's signature, the Finished
# message (mbedtls: INVALID_MAC, RSA and ECP VERIFY_FAILED, PK_SIG_LEN_MISMATCH; axTLS:
# INVALID_HMAC, FINISHED_INVALID). Whoever answers does not hold the certificate's key.
_IMPOSTOR = (-0x7180, -0x4380, -0x4280, -0x4E00, -0x3900, -262, -271)
# What a broker that asked for a client certificate answers when it refuses it:
# handshake_failure, bad/unsupported/revoked/expired/unknown certificate, unknown_ca,
# certificate_required.
_CLIENT_CERT_ALERTS = (40, 42, 43, 44, 45, 46, 48, 116)

# The guard's refusals, in words (node.tlsguard names them).
_REFUSALS = {
    "not-tls": "it answered with bytes that are not TLS: this port is probably a plain MQTT "
               "listener (1883); use the broker's TLS port (8883)",
    "bad-cert-msg": "its Certificate message is malformed (lengths that do not add up, or a "
                    "truncated certificate): refused before the TLS library read it",
    "bad-hello": "its ServerHello is malformed: refused",
    "renegotiation": "it asked to renegotiate the TLS session, which this device refuses (a "
                     "renegotiation could change the certificate after it was checked): turn "
                     "renegotiation off on the broker",
}


def _code(exc):
    a = getattr(exc, "args", None)
    return a[0] if a and isinstance(a[0], int) else None


def _closed(code):
    # EOF, reset or broken pipe while the handshake was under way
    return code in (32, 104, 103, 128, 9, 107, -32, -104, _CONN_EOF)


def _refusal(ctx, watch):
    why = watch.refused
    if why in _REFUSALS:
        return _REFUSALS[why]
    n = watch.detail
    if why == "pin":
        return _wrong_pin(_hex(watch.fingerprint), ctx.pins, ctx.key_pins, watch.key_fingerprint)
    if why == "chain":
        return ("it sends a chain of %d or more certificates, and this device takes at most "
                "tls.max_certs (%d): on an ESP8266 a chain is only RAM spent (axTLS checks "
                "nothing), so let the broker send its own certificate alone (Mosquitto: a "
                "certfile without the chain), or raise tls.max_certs" % (n, ctx.max_certs))
    if why == "big-cert":
        return ("it sends a certificate of %d bytes, over tls.max_cert_bytes (%d): refused "
                "before the TLS library read it" % (n, ctx.max_cert_bytes))
    if why == "huge":
        return "it sent a handshake message of %d bytes, over what this device takes: refused" % n
    if why == "old-tls":
        return ("it chose %s, and this device speaks TLS 1.2 only: let the broker's listener "
                "use TLS 1.2 (Mosquitto: tls_version tlsv1.2)"
                % ("SSL 3.0" if n < 0x0301 else "TLS 1.%d" % (n - 0x0301)))
    return None


def _look_again(ctx, name):
    # mbedtls gave no reason: connect again and read the broker's side of a handshake through
    # a guard; the connection is closed after the handshake (no CONNECT, no password).
    if ctx.redial is None:
        return None
    redial, ctx.redial = ctx.redial, None       # once: the client sets it at each connect
    from node.tlsguard import Guard
    try:
        g = Guard(redial(), max_certs=16, max_cert_bytes=16384, deadline=time.ticks_add(
            time.ticks_ms(), ctx.handshake_ms), timeout=ctx.timeout)
    except OSError:
        return None
    try:                        # the handshake alone: nothing is written after it
        ctx._ctx.wrap_socket(g, server_hostname=name).close()
    except (ValueError, OSError):
        pass
    g.close()
    return g


def explain(ctx, exc, watch, name):
    """The error to raise for a failed handshake (exc None: it ended without the pinned
    certificate in sight): a TLSError naming the cause and the fix, or an OSError (worth
    another try) when the connection just broke or took too long."""
    if exc is None:
        return TLSError("TLS: broker %s: it did not show its certificate before encrypting "
                        "(TLS 1.3 or session resumption), so pin mode cannot check it: let the "
                        "broker accept a full TLS 1.2 handshake (Mosquitto: tls_version "
                        "tlsv1.2), or use tls.mode \"ca\" on a board that can" % name)
    if watch.asked:
        # mbedtls' stream, sealed after the handshake (node.tlsstream.Deadline.seal)
        return TLSError("TLS: broker %s: after its handshake it sent what the TLS library "
                        "answered with an alert: %s; or a record it could not read"
                        % (name, _REFUSALS["renegotiation"]))
    if watch.timed_out:
        return OSError(_ETIMEDOUT, "TLS: broker %s: the handshake took longer than "
                       "tls.handshake_s (%d s) and was cut: a slow or stalled network, or "
                       "something that holds the connection open on purpose"
                       % (name, ctx.handshake_ms // 1000))
    if isinstance(exc, ValueError):
        return TLSError("TLS: broker %s: %s" % (name, _certificate(str(exc), ctx, name)))
    code = _code(exc)
    if code == _X509_FATAL and ctx.fingerprint is not None:
        return TLSError("TLS: broker %s: %s" % (name, _wrong_pin(
            _hex(ctx.fingerprint), ctx.pins, ctx.key_pins, ctx.key_fingerprint)))
    # mbedtls adds a low-level module's code (bignum, ...) to a high-level one: the RSA
    # check of a signature by another key can end as RSA_PUBLIC_FAILED + MPI_BAD_INPUT_DATA.
    if code in _IMPOSTOR or (code is not None and code < -0x1000
                             and -((-code) & 0xFF80) in _IMPOSTOR):
        return TLSError("TLS: broker %s: it failed the TLS library's own checks (%s: a "
                        "record's MAC, the handshake's signature or its Finished message): "
                        "whatever answers at this address does not hold the key of the "
                        "certificate it shows, or the path corrupts data" % (name, exc))
    if -0x2680 <= code <= -0x2180:
        # MBEDTLS_ERR_X509_INVALID_FORMAT .. SIG_MISMATCH: mbedtls could not parse it
        return TLSError("TLS: broker %s: its Certificate message does not parse as X.509 "
                        "certificates (%s): something other than a TLS broker answers, or the "
                        "path corrupts data" % (name, exc))
    if code == _BAD_VERSION:
        return TLSError("TLS: broker %s: it chose a TLS version below 1.2, and this device "
                        "speaks TLS 1.2 only: let the broker's listener use TLS 1.2 "
                        "(Mosquitto: tls_version tlsv1.2)" % name)
    looked = not hasattr(watch, "refused")
    if looked:
        # mbedtls does not say why the broker said no (an alert, bytes that are not TLS, a
        # closed connection: all a client may see of a refusal that beat its own last write):
        # look again, once. A second handshake that goes through was a network fault.
        if not (code == _FATAL_ALERT or code == _BAD_RECORD or code in _UNREADABLE
                or _closed(code)):
            return exc
        watch = _look_again(ctx, name)
        if watch is None:
            return OSError(code, "TLS: broker %s closed the connection during the handshake: "
                           "if this port is a plain MQTT listener (1883), use the broker's TLS "
                           "port (8883); else see the broker's log" % name) if _closed(code) else exc
        if watch.done and not watch.refused:
            return OSError(code, "TLS: the handshake with broker %s broke off (%s), and a "
                           "second one went through: a network fault" % (name, exc))
    why = None
    if watch.refused:
        if watch.refused == "no-cert":
            return explain(ctx, None, watch, name)
        why = _refusal(ctx, watch)
    elif watch.alert == 70:
        why = ("it refused this client's TLS version (alert protocol_version): this client "
               "speaks TLS 1.2; let the broker's listener accept it (Mosquitto: tls_version "
               "tlsv1.2)")
    elif watch.cert_requested and (watch.alert in _CLIENT_CERT_ALERTS or (
            watch.alert is None and (_closed(code) or looked))):
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
    elif _closed(code):
        # An OSError, so the next wake tries again: a broker that is starting does this too.
        if watch.received == 0:
            return OSError(code, "TLS: broker %s closed the connection without a TLS answer: "
                           "this port is probably a plain MQTT listener (1883), use the "
                           "broker's TLS port (8883); else see the broker's log for why its "
                           "TLS listener refused" % name)
        return OSError(code, "TLS: broker %s closed the connection during the handshake: see "
                       "the broker's log" % name)
    if why is None:
        return exc
    return TLSError("TLS: broker %s: %s" % (name, why))


def _wrong_pin(fingerprint, pins, key_pins, key_fingerprint=None):
    import binascii
    expected = [binascii.hexlify(p).decode() for p in pins or ()]
    expected += [KEY_PIN + binascii.b2a_base64(p).decode().strip() for p in key_pins or ()]
    key = ""
    if key_fingerprint is not None:
        key = " (its public key's: %s%s)" % (KEY_PIN, binascii.b2a_base64(key_fingerprint)
                                              .decode().strip())
    return ("its certificate's SHA-256 fingerprint is %s%s, which is none of tls.pins [%s] "
            "(wrong pin): if the broker certificate was renewed, %s to pin the new one; "
            "otherwise something else answers at this address"
            % (fingerprint, key, ", ".join(expected), REPROVISION))


def _certificate(text, ctx, name):
    # mbedtls' verification said no: its text names the flags.
    why = []
    if "not correctly signed" in text or "trusted CA" in text:
        from node.x509 import names_itself
        if ctx.leaf and names_itself(ctx.leaf):
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
