# What the ESP board adapter tests share (test_board_esp, test_board_wifi_cache,
# test_board_esp8266_flash): the adapter of a port on that port's fakes (tests/device/fakes;
# a test puts fakes/<port> and fakes on sys.path before importing this), a board started or
# woken in a given air, the calls the adapter made to the radio, and the Wi-Fi settings and
# times of the fast-wake tests.
import sys

import espnetwork

WIFI = {"ssid": "lab", "password": "secret", "static": None}
LEASE_S = 3600
T0 = 1767225600                 # 2026-01-01 00:00:00 UTC


def adapter(port):
    """node.board.<port>, on the fakes of that port."""
    __import__("node.board." + port)
    return sys.modules["node.board." + port]


def start(**air):
    """A board that just started, in this air (espnetwork.configure's arguments); the adapter
    starts over too."""
    import node.board.espcommon as common
    espnetwork.configure(**air)
    common._wlan = None


def wake():
    """Deep sleep and a wake: the radio starts over (what the port keeps in flash stays), and
    so does the adapter."""
    import node.board.espcommon as common
    espnetwork.wake()
    common._wlan = None


def first_wake(board, aps):
    """A board's first wake among these access points: nothing kept; the cache it filled."""
    from mptest import eq
    start(aps=aps)
    cache = bytearray(40)
    eq(board.wifi_up(WIFI, 5000, cache, T0, LEASE_S), "scan", "path")
    return cache


def calls(name):
    """The adapter's calls of that name to the radio, as the fake logged them."""
    return [c for c in espnetwork.log if c[0] == name]
