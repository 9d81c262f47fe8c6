# The TLS context for the config's "tls" section (node.tls.make_context): files read, pins
# parsed, the TLS library's context set for the mode. Imported only to make it, and unloaded
# after: the wake keeps the context, not this code.
try:
    import tls
except ImportError:         # MicroPython before 1.23
    import ssl as tls

from node.tls import KEY_PIN, REPROVISION, Context


def _read(base_dir, name, key):
    try:
        with open(base_dir + "/" + name, "rb") as f:
            return f.read()
    except OSError:
        raise ValueError("tls.%s: no file %s in %s: %s" % (key, name, base_dir, REPROVISION))


def parse_pins(pins):
    """Pins -> (certificate digests, public key digests), 32-byte SHA-256 each: a certificate
    pin is hex ('ab12...' or 'AB:12:...'), a key pin "sha256//" + base64."""
    import binascii
    certs, keys = [], []
    for i, pin in enumerate(pins or ()):
        text = str(pin)
        try:
            if text.startswith(KEY_PIN):
                digest = binascii.a2b_base64(text[len(KEY_PIN):])
            else:
                digest = binascii.unhexlify(text.replace(":", "").replace(" ", "").lower())
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise ValueError("tls.pins[%d] %r is neither a certificate's SHA-256 fingerprint (64 "
                             "hex digits) nor a key pin (sha256// and 44 base64 characters): %s"
                             % (i, pin, REPROVISION))
        (keys if text.startswith(KEY_PIN) else certs).append(digest)
    return certs, keys


def build(tls_cfg, base_dir):
    """node.tls.make_context's work."""
    mode = tls_cfg.get("mode", "ca")
    if mode not in ("ca", "pin", "ca+pin", "insecure"):
        raise ValueError("tls.mode %r: use one of ca, pin, ca+pin, insecure" % mode)
    pins = parse_pins(tls_cfg.get("pins")) if "pin" in mode else None
    if pins is not None and not (pins[0] or pins[1]):
        raise ValueError("tls.mode %r needs the broker's fingerprint in tls.pins: %s"
                         % (mode, REPROVISION))
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    # mbedtls has a verify callback, axTLS verifies nothing and has none.
    callback = hasattr(ctx, "verify_callback")
    if mode.startswith("ca"):
        cadata = _read(base_dir, tls_cfg.get("ca") or "ca.der", "ca")
        try:
            ctx.verify_mode = tls.CERT_REQUIRED
            try:
                ctx.load_verify_locations(cadata)
            except TypeError:           # the ssl module's wrapper (before 1.23) names it
                ctx.load_verify_locations(cadata=cadata)
        except (AttributeError, NotImplementedError):
            raise ValueError("tls.mode %r needs a TLS library that verifies certificates; "
                             "this port's (axTLS, ESP8266) cannot: use tls.mode \"pin\"" % mode)
        except (ValueError, OSError):
            raise ValueError("tls.ca: %s is not a certificate in DER: %s"
                             % (tls_cfg.get("ca"), REPROVISION))
    elif pins is not None and callback:
        # Verify, but let the callback decide: no CA is needed to check a pin.
        ctx.verify_mode = tls.CERT_OPTIONAL
    else:
        ctx.verify_mode = tls.CERT_NONE
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
                             "(%s): %s" % (cert, key, e, REPROVISION))
    ctx = Context(ctx, mode, pins, tls_cfg.get("server_hostname"), bool(cert), callback)
    ctx.handshake_ms = (tls_cfg.get("handshake_s") or 15) * 1000
    ctx.max_certs = tls_cfg.get("max_certs") or (4 if callback else 1)
    ctx.max_cert_bytes = tls_cfg.get("max_cert_bytes") or 4096
    return ctx
