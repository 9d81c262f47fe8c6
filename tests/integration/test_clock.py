"""node.sntp and node.clock under MicroPython against a real UDP NTP server on loopback."""

import socket
import struct
import threading
import time

import pytest

from host_tools import unixport

NTP_TO_UNIX = 2208988800
SERVER_TIME = 1790000000.25  # 2026-09-21


class NtpServer:
    """Answers each request once; `mode` picks a good reply or a broken one."""

    def __init__(self, mode="good"):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            data, addr = self.sock.recvfrom(512)
        except OSError:
            return
        self.requests += 1
        secs = int(SERVER_TIME) + NTP_TO_UNIX
        frac = int((SERVER_TIME % 1) * 2 ** 32)
        reply = bytearray(48)
        reply[0] = 0x24  # version 4, mode 4 (server)
        reply[1] = 0 if self.mode == "kiss" else 2
        reply[24:32] = bytes(8) if self.mode == "spoof" else data[40:48]
        struct.pack_into("!II", reply, 40, secs, frac)
        if self.mode == "short":
            reply = reply[:20]
        self.sock.sendto(bytes(reply), addr)

    def close(self):
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def ntp(request):
    server = NtpServer(getattr(request, "param", "good"))
    yield server
    server.close()


SCRIPT = """
from node import clock, sntp

class Board:
    def __init__(self, t):
        self.t = t
        self.set = None
    def unix_time(self):
        return self.t
    def set_time(self, t):
        self.set = t

b = Board({start})
try:
    print("result", clock.ensure(b, "127.0.0.1", {port}, 2), b.set)
except OSError as e:
    print("error", e)
"""


def run_ensure(port, start):
    proc = unixport.run(["-c", SCRIPT.format(port=port, start=start)], timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def test_implausible_clock_is_set_from_ntp(ntp):
    out = run_ensure(ntp.port, 0)
    assert out == f"result synced {int(SERVER_TIME)}", out
    assert ntp.requests == 1


def test_plausible_clock_does_not_ask_ntp(ntp):
    out = run_ensure(ntp.port, int(time.time()))
    assert out == "result ok None", out
    assert ntp.requests == 0


@pytest.mark.parametrize("ntp, expect", [
    ("kiss", "kiss-of-death"),
    ("spoof", "does not answer our request"),
    ("short", "too short"),
], indirect=["ntp"])
def test_bad_replies_are_refused_with_the_reason(ntp, expect):
    out = run_ensure(ntp.port, 0)
    assert out.startswith("error clock not set and NTP") and expect in out, out


def test_no_ntp_server_times_out_with_advice():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:
        quiet.bind(("127.0.0.1", 0))  # receives, never answers
        started = time.monotonic()
        out = run_ensure(quiet.getsockname()[1], 0)
    assert "node.ntp_host" in out and out.startswith("error"), out
    assert time.monotonic() - started < 20
