# TLS contexts for the MQTT client, made from the "tls" section of the device config.
# First slice: "ca" mode (embedded CA in DER, chain, dates and hostname checked).
import ssl


def _read(base_dir, name):
    with open(base_dir + "/" + name, "rb") as f:
        return f.read()


class _Context:
    """wrap_socket(sock, server_hostname=...) with an optional fixed name to check."""

    def __init__(self, ctx, server_hostname=None):
        self._ctx = ctx
        self._hostname = server_hostname

    def wrap_socket(self, sock, server_hostname=None):
        return self._ctx.wrap_socket(sock, server_hostname=self._hostname or server_hostname)


def make_context(tls_cfg, base_dir):
    mode = tls_cfg.get("mode", "ca")
    if mode != "ca":
        raise ValueError("tls.mode %r is not supported yet: use \"ca\"" % mode)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=_read(base_dir, tls_cfg.get("ca") or "ca.der"))
    return _Context(ctx, tls_cfg.get("server_hostname"))
