# What the ESP8266's SDK keeps in flash (its operating mode and station config, each save a
# flash write) and how the adapter spares it: after the first wake, a wake calls neither
# connect() nor active(), so it writes no flash; a saved config for another SSID is replaced
# once. On the fakes of the port (tests/device/fakes/esp8266).
import os
import sys

PORTS = "esp8266"
_FAKES = os.getenv("DEVICE_TEST_DIR") + "/fakes"
sys.path[:0] = [_FAKES + "/esp8266", _FAKES]

import network  # noqa: E402
from espboard import LEASE_S, T0, WIFI, adapter, calls, first_wake, wake  # noqa: E402
from espnetwork import AP  # noqa: E402
from mptest import eq  # noqa: E402

board = adapter("esp8266")
NEAR = AP("lab", "secret", b"\x02\x00\x00\x00\x00\x02", 1, -50)


def test_only_the_first_wake_writes_flash():
    cache = first_wake(board, [NEAR])
    assert network.flash["writes"] >= 1     # the first wake saved the mode and the config
    for minute in range(1, 4):
        wake()                              # the SDK is joining its saved config
        eq(board.wifi_up(WIFI, 5000, cache, T0 + 60 * minute, LEASE_S), "fast", "path")
        eq(calls("connect") + calls("active"), [], "connect() and active() calls")
        eq(network.flash["writes"], 0, "flash writes in a usual wake")


def test_a_saved_config_for_another_ssid_is_replaced_once():
    cache = first_wake(board, [NEAR])
    network.flash["config"] = ("old-net", "pw", None)
    wake()
    board.wifi_up(WIFI, 5000, cache, T0 + 60, LEASE_S)
    eq(calls("connect"), [("connect", "lab", NEAR.bssid)], "connect with the kept BSSID")
    eq(network.flash["config"], ("lab", "secret", NEAR.bssid), "saved config")
    wake()
    board.wifi_up(WIFI, 5000, cache, T0 + 120, LEASE_S)
    eq(network.flash["writes"], 0, "flash writes the wake after")
