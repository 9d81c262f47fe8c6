# The wire under an MQTT connection: a TCP socket with a timeout and TCP_NODELAY, and knowing
# when something can be read without waiting. No MQTT here (node.mqtt.packets reads and
# builds packets, node.mqtt.client keeps the session).
import select
import socket
from micropython import const

_IPPROTO_TCP = const(6)
_TCP_NODELAY = const(1)
_E_RESOLVE = const(24)
_E_TCP = const(25)


def open_tcp(host, port, timeout):
    """A connected TCP socket with a timeout and TCP_NODELAY (the client's socket_factory)."""
    from node.mqtt.packets import why
    try:
        addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    except OSError as e:
        raise OSError(e.args[0], why(_E_RESOLVE, host))
    s = socket.socket()
    try:
        s.settimeout(timeout)
        try:
            s.setsockopt(getattr(socket, "IPPROTO_TCP", _IPPROTO_TCP),
                         getattr(socket, "TCP_NODELAY", _TCP_NODELAY), 1)
        except (OSError, AttributeError):
            pass  # a port without it still works, only slower
        s.connect(addr)
    except OSError as e:
        s.close()
        raise OSError(e.args[0], why(_E_TCP, host, port))
    return s


def handing_out(sock, addr):
    """A socket_factory for a socket connected beforehand: hands it out once, then connects to
    addr (the same broker) for whoever dials again."""
    box = [sock]

    def factory(host, port, timeout):
        return box.pop() if box else open_tcp(addr, port, timeout)
    return factory


def poller(*socks):
    """A select.poll watching socks for something to read. Over TLS give both sockets: the
    TLS one knows about bytes it decrypted and did not hand out yet, the TCP one about bytes
    that arrived (asking it alone is cheaper on the unix port, for draining acks)."""
    p = select.poll()
    for s in socks:
        p.register(s, select.POLLIN)
    return p


def ready(p, ms):
    """Something can be read from p's sockets within ms."""
    for _ in p.ipoll(ms if ms > 0 else 0):
        return True
    return False
