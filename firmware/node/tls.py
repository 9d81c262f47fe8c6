# TLS for the MQTT client, made from the "tls" section of the device config.
#
#   from node.tls import make_context
#   ctx = make_context(cfg["tls"], base_dir)     # once; reused for every connection
#   MQTTClient(..., ssl=ctx)                     # calls ctx.wrap_socket(sock, server_hostname=...)
#
# The section: {"mode": "ca" | "pin" | "ca+pin" | "insecure", "ca": "ca.der",
#               "pins": [hex SHA-256 of the broker certificate, ...],
#               "cert": "client.der" or None, "key": "client.key.der" or None,
#               "server_hostname": None or the name the broker certificate carries}
#   ca        the broker's chain, dates and name are checked against the CA (mbedtls: ESP32,
#             unix); axTLS (ESP8266) cannot do this and make_context says so
#   pin       the broker's leaf certificate must hash to one of the pins (keep two during a
#             rotation); works on every port, ESP8266 included (node.tlswatch)
#   ca+pin    both
#   insecure  nothing is checked: only when asked for, with a warning on every connect
# cert/key    a client certificate and key in DER (mutual TLS): RSA keys as PKCS#1,
#             EC keys as SEC1 (axTLS loads RSA only).
# Files are relative to base_dir. Bad config raises ValueError naming the key.
#
# The broker is authenticated inside wrap_socket, before the MQTT client writes a byte of
# CONNECT (which carries the password). A refusal raises TLSError (a ValueError) whose message
# names the cause and the fix; network faults stay OSError (a connection closed before any
# TLS answer too: a broker that is just starting does that, so reconnect() tries again).
# Every connection runs through a node.tlswatch.TLSWatch (pinning, diagnosis, read-ahead);
# the context's last_watch is the one under the socket it wrapped last (node.mqtt asks it
# for bytes read ahead, which a poll of the socket does not see).
import binascii
import ssl

from node.tlswatch import BAD_CERT_MSG, NO_CLEAR_CERT, NOT_TLS, PIN_MISMATCH, TLSWatch

MODES = ("ca", "pin", "ca+pin", "insecure")
INSECURE_WARNING = ("WARNING: tls.mode is \"insecure\": the broker is NOT authenticated, anyone "
                    "on the path can read the MQTT password; use \"ca\" or \"pin\"")
_REPROVISION = "provision the device again (`host_tools provision`)"


class TLSError(ValueError):
    """The broker could not be authenticated, or did not speak TLS; the message says why."""


def _read(base_dir, name, key):
    try:
        with open(base_dir + "/" + name, "rb") as f:
            return f.read()
    except OSError:
        raise ValueError("tls.%s: no file %s in %s: %s" % (key, name, base_dir, _REPROVISION))


def parse_pins(pins):
    """Hex fingerprints ('ab12...' or 'AB:12:...') -> list of 32-byte digests."""
    out = []
    for i, pin in enumerate(pins or ()):
        text = str(pin).replace(":", "").replace(" ", "").lower()
        try:
            digest = binascii.unhexlify(text)
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ValueError("tls.pins[%d] %r is not a SHA-256 fingerprint (64 hex digits): %s"
                             % (i, pin, _REPROVISION))
        out.append(digest)
    return out


def make_context(tls_cfg, base_dir):
    mode = tls_cfg.get("mode", "ca")
    if mode not in MODES:
        raise ValueError("tls.mode %r: use one of %s" % (mode, ", ".join(MODES)))
    pins = parse_pins(tls_cfg.get("pins")) if "pin" in mode else None
    if pins is not None and not pins:
        raise ValueError("tls.mode %r needs the broker's fingerprint in tls.pins: %s"
                         % (mode, _REPROVISION))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if mode.startswith("ca"):
        cadata = _read(base_dir, tls_cfg.get("ca") or "ca.der", "ca")
        try:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=cadata)
        except (AttributeError, NotImplementedError):
            raise ValueError("tls.mode %r needs a TLS library that verifies certificates; "
                             "this port's (axTLS, ESP8266) cannot: use tls.mode \"pin\"" % mode)
        except (ValueError, OSError):
            raise ValueError("tls.ca: %s is not a certificate in DER: %s"
                             % (tls_cfg.get("ca"), _REPROVISION))
    else:
        ctx.verify_mode = ssl.CERT_NONE
    cert, key = tls_cfg.get("cert"), tls_cfg.get("key")
    if bool(cert) != bool(key):
        raise ValueError("tls.cert and tls.key go together (mutual TLS): set both or neither")
    if cert:
        try:
            ctx.load_cert_chain(_read(base_dir, cert, "cert"), _read(base_dir, key, "key"))
        except (ValueError, OSError) as e:
            if "no file" in str(e):
                raise
            raise ValueError("tls.cert/tls.key: %s/%s are not a certificate and its key in DER "
                             "(%s): %s" % (cert, key, e, _REPROVISION))
    return Context(ctx, mode, pins, tls_cfg.get("server_hostname"), bool(cert))


class Context:
    """wrap_socket(sock, server_hostname=...) that authenticates the broker or raises TLSError."""

    def __init__(self, ctx, mode, pins, server_hostname=None, client_cert=False):
        self.last_watch = None      # the TLSWatch under the socket wrapped last (node.mqtt
        self._ctx = ctx             # asks it for bytes read ahead, invisible to a poll)
        self.mode = mode
        self._pins = pins
        self.server_hostname = server_hostname
        self._client_cert = client_cert

    def wrap_socket(self, sock, server_hostname=None):
        name = self.server_hostname or server_hostname
        if self.mode == "insecure":
            print(INSECURE_WARNING)
        watch = TLSWatch(sock, self._pins)
        try:
            tsock = self._ctx.wrap_socket(watch, server_hostname=name)
        except (ValueError, OSError) as e:
            watch.close()
            err = explain(e, watch, name, self._pins, self._client_cert)
            if err is e:
                raise
            raise err
        self.last_watch = watch
        if not watch.verified:
            # The handshake ended without the pinned certificate in sight: fail closed.
            tsock.close()
            watch.refused = watch.refused or NO_CLEAR_CERT
            raise explain(OSError(111), watch, name, self._pins, self._client_cert)
        return tsock


def explain(exc, watch, name, pins=None, client_cert=False):
    """The TLSError for a failed handshake, or exc itself when it is a plain network fault."""
    text = str(exc)
    why = []
    if isinstance(exc, ValueError):
        if ("not correctly signed" in text or "trusted CA" in text) and getattr(watch, "self_signed", None):
            why.append("its certificate is self-signed (it names itself as its issuer), so no CA "
                       "vouches for it: give the broker a certificate signed by the CA in tls.ca "
                       "(`host_tools certs broker`), or pin this one (tls.mode \"pin\")")
        elif "not correctly signed" in text or "trusted CA" in text:
            why.append("its certificate is not signed by the CA in tls.ca (untrusted CA): give the "
                       "device the CA that signed the broker's certificate (`host_tools "
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
        if not why:
            why.append("its certificate was refused (%s)" % text.strip())
    elif watch.refused == PIN_MISMATCH:
        expected = ", ".join(_hex(p) for p in pins or ())
        why.append("its certificate's SHA-256 fingerprint is %s, which is none of tls.pins [%s] "
                   "(wrong pin): if the broker certificate was renewed, %s to pin the new one; "
                   "otherwise something else answers at this address"
                   % (watch.fingerprint, expected, _REPROVISION))
    elif watch.refused == NOT_TLS:
        why.append("it answered with bytes that are not TLS: this port is probably a plain MQTT "
                   "listener (1883); use the broker's TLS port (8883)")
    elif watch.refused == NO_CLEAR_CERT:
        if watch.tls13:
            why.append("it negotiated TLS 1.3, which encrypts the certificate, so pin mode cannot "
                       "see it: let the broker's TLS listener accept TLS 1.2 (Mosquitto: "
                       "tls_version tlsv1.2), or use tls.mode \"ca\" on a board that can")
        else:
            why.append("it did not show its certificate before encrypting (TLS 1.3 or session "
                       "resumption), so pin mode cannot check it: let the broker accept a full "
                       "TLS 1.2 handshake (Mosquitto: tls_version tlsv1.2)")
    elif watch.refused == BAD_CERT_MSG:
        why.append("its Certificate message was malformed: refused")
    elif watch.alert == 70:
        why.append("it refused this client's TLS version (alert protocol_version): this client "
                   "speaks TLS 1.2; let the broker's listener accept it (Mosquitto: tls_version "
                   "tlsv1.2)")
    elif watch.cert_requested and (watch.alert is not None or _closed(exc)):
        if client_cert:
            why.append("it rejected this device's client certificate (alert %s): check the "
                       "certificate is signed by the CA the broker trusts (its cafile), is not "
                       "expired, and matches tls.key" % watch.alert)
        else:
            why.append("it requires a client certificate (mutual TLS) and this device has none: "
                       "give the device one in tls.cert and tls.key (`host_tools provision` with "
                       "a client certificate)")
    elif watch.alert == 40:
        why.append("it found no cipher suite in common (alert handshake_failure): an ESP8266 "
                   "needs an RSA broker certificate and TLS 1.2")
    elif watch.alert is not None:
        why.append("it aborted the handshake with TLS alert %d" % watch.alert)
    elif watch.received == 0 and _closed(exc):
        # An OSError, so reconnect() tries again: a broker that is just starting does this too.
        return OSError(exc.args[0], "TLS: broker %s closed the connection without a TLS answer: "
                       "this port is probably a plain MQTT listener (1883), use the broker's TLS "
                       "port (8883); else see the broker's log for why its TLS listener refused"
                       % name)
    if not why:
        return exc
    return TLSError("TLS: broker %s: %s" % (name, "; ".join(why)))


def _closed(exc):
    # EOF, reset or broken pipe while the handshake was under way
    if not isinstance(exc, OSError) or not exc.args:
        return False
    code = exc.args[0]
    return code in (32, 104, 103, 128, 9, 107) or (isinstance(code, int) and code < -1000)


def _hex(b):
    return binascii.hexlify(b).decode()
