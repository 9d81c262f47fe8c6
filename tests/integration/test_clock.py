"""node.sntp and node.clock under MicroPython against a real UDP NTP server on loopback."""

import socket
import time

import pytest

from host_tools import unixport
from ntpserver import SERVER_TIME, NtpServer

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
