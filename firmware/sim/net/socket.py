# The unix board's network while a power cut is armed (sim/powercut.py): the host's sockets,
# each send a write point. host_tools.simnode puts this folder on the path only then; a file
# may stand in for MicroPython's built-in socket module, which it reaches by clearing
# sys.path for the import.
#
# A socket is an io.IOBase, so that the TLS layer and select.poll use it as a stream: its
# write() and readinto() report errors as -errno, as the stream protocol expects (the TLS
# layer raises them as the OSError they are), and ioctl() hands poll the host socket's file
# descriptor. The node speaks TLS only: nothing calls write() on a plain socket here.
import io
import select
import sys

_path = sys.path[:]
sys.path[:] = []
try:
    from socket import *  # noqa: F401,F403 (the built-in's constants and getaddrinfo)
    import socket as _host
finally:
    sys.path[:] = _path

from powercut import point

_POLL, _CLOSE, _FILENO = 3, 4, 10      # MicroPython's stream ioctl requests
_EINVAL = 22


class socket(io.IOBase):
    def __init__(self, *args):
        self._s = _host.socket(*args)

    # what the node calls (node.mqtt.link, node.sntp)
    def settimeout(self, t):
        self._s.settimeout(t)

    def setsockopt(self, *args):
        self._s.setsockopt(*args)

    def connect(self, addr):
        self._s.connect(addr)

    def sendto(self, data, addr):
        point("n")
        return self._s.sendto(data, addr)

    def recv(self, n):
        return self._s.recv(n)

    def fileno(self):
        return self._s.fileno()

    def close(self):
        self._s.close()

    # the stream protocol (the TLS layer, select.poll)
    def write(self, buf):
        point("n")
        try:
            return self._s.write(buf)
        except OSError as e:
            return -e.errno

    def readinto(self, buf):
        try:
            return self._s.readinto(buf)      # None: nothing yet (EAGAIN)
        except OSError as e:
            return -e.errno

    def ioctl(self, request, arg):
        if request == _FILENO:
            return self._s.fileno()
        if request == _POLL:
            p = select.poll()
            p.register(self._s, arg)
            for _, events in p.poll(0):
                return events
            return 0
        if request == _CLOSE:
            self._s.close()
            return 0
        return -_EINVAL
