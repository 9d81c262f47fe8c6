# The ESP adapters' association from what the last wake kept (node.netcache), on the fakes of
# each port's machine, network and esp (tests/device/fakes/<port>, MicroPython 1.29's WLAN):
# the calls made on each path, their arguments, and the ESP8266's flash writes.
import os
import sys

PORTS = "esp32 esp8266"
PORT = os.getenv("DEVICE_PORT")
_FAKES = os.getenv("DEVICE_TEST_DIR") + "/fakes"
sys.path[:0] = [_FAKES + "/" + PORT, _FAKES]

import espnetwork  # noqa: E402
import network  # noqa: E402
from espboard import LEASE_S, T0, WIFI, adapter, calls, first_wake, start, wake  # noqa: E402
from espnetwork import AP  # noqa: E402
from mptest import eq  # noqa: E402
from node import netcache  # noqa: E402

board = adapter(PORT)
OLD = AP("lab", "secret", b"\x02\x00\x00\x00\x00\x01", 6, -70)
NEAR = AP("lab", "secret", b"\x02\x00\x00\x00\x00\x02", 1, -50)
MOVED = AP("lab", "secret", b"\x02\x00\x00\x00\x00\x09", 11, -55)


def test_first_wake_scans_joins_the_strongest_ap_by_bssid_and_keeps_it():
    cache = first_wake(board, [OLD, NEAR])
    eq(calls("scan"), [("scan",)], "scans")
    # connect(ssid, key, bssid=<6 bytes>) to the strongest of the SSID
    eq(calls("connect"), [("connect", "lab", NEAR.bssid)], "connect")
    eq(netcache.ap(cache, "lab"), (NEAR.bssid, 1), "kept")
    eq(netcache.ipconfig(cache, "lab", T0 + 60, LEASE_S), espnetwork.LEASE, "lease kept")
    # nothing kept for another network
    eq(netcache.ap(cache, "other"), None, "another network")


def test_the_usual_wake_joins_the_kept_ap_with_the_kept_ifconfig():
    cache = first_wake(board, [NEAR])
    wake()
    eq(board.wifi_up(WIFI, 5000, cache, T0 + 300, LEASE_S), "fast", "path")
    if PORT == "esp32":
        # The IP configuration as one 4-tuple, the channel before connect() (it is refused
        # while the station connects), connect() restricted to the BSSID kept; no scan, no
        # DHCP.
        eq(espnetwork.log, [("active", True), ("ifconfig", espnetwork.LEASE),
                            ("config", {"channel": 1}), ("connect", "lab", NEAR.bssid)], "calls")
    else:
        # The SDK is already joining its saved config (with the BSSID): only the IP
        # configuration is set, no connect() and no active(), so no flash write.
        eq(espnetwork.log, [("ifconfig", espnetwork.LEASE)], "calls")
        eq(network.flash["writes"], 0, "flash writes")
    assert network.WLAN(network.STA_IF).isconnected()


def test_each_usual_wake_joins_from_what_was_kept():
    cache = first_wake(board, [NEAR])
    for minute in range(1, 4):
        wake()
        eq(board.wifi_up(WIFI, 5000, cache, T0 + 60 * minute, LEASE_S), "fast", "path")
        # The ESP8266's SDK joins its saved config by itself; an ESP32 keeps its station
        # config in RAM only, so each wake asks for the kept BSSID again.
        eq(calls("connect"), [] if PORT == "esp8266" else [("connect", "lab", NEAR.bssid)],
           "connect() calls")
        eq(calls("scan"), [], "scans")


def test_an_ap_that_moved_falls_back_to_a_scan_and_dhcp_in_the_same_wake():
    cache = first_wake(board, [NEAR])
    espnetwork.air["aps"] = [MOVED]     # another access point (BSSID) on another channel
    wake()
    eq(board.wifi_up(WIFI, 5000, cache, T0 + 60, LEASE_S), "scan", "path")
    names = [c[0] for c in espnetwork.log]
    # the kept configuration was tried, then DHCP again, a scan, the new BSSID
    assert names.index("ifconfig") < names.index("ipconfig") < names.index("scan"), espnetwork.log
    eq(calls("connect")[-1], ("connect", "lab", MOVED.bssid), "connect")
    eq(netcache.ap(cache, "lab"), (MOVED.bssid, 11), "kept")
    wake()
    eq(board.wifi_up(WIFI, 5000, cache, T0 + 120, LEASE_S), "fast", "recovered")


def test_a_lease_in_its_second_half_is_renewed_by_dhcp():
    cache = first_wake(board, [NEAR])
    wake()
    later = T0 + LEASE_S // 2
    eq(board.wifi_up(WIFI, 5000, cache, later, LEASE_S), "fast", "path")
    eq(calls("ifconfig"), [], "no static configuration")
    eq(calls("scan"), [], "the AP is kept")
    # renewed: young again
    eq(netcache.ipconfig(cache, "lab", later + 60, LEASE_S), espnetwork.LEASE, "renewed")


def test_a_fixed_static_ip_from_the_config_is_set_on_every_path_and_dhcp_never_runs():
    fixed = ["192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1"]
    wifi = dict(WIFI, static=fixed)
    start(aps=[NEAR])
    cache = bytearray(40)
    board.wifi_up(wifi, 5000, cache, T0, LEASE_S)
    wake()
    board.wifi_up(wifi, 5000, cache, T0 + 60, LEASE_S)
    eq(calls("ifconfig"), [("ifconfig", tuple(fixed))], "static")
    eq(calls("ipconfig"), [], "no DHCP")
    eq(network.WLAN(network.STA_IF).ifconfig(), tuple(fixed), "configuration")


def test_fresh_forgets_what_was_kept_and_scans():
    cache = first_wake(board, [NEAR])
    wake()
    board.wifi_up(WIFI, 5000, cache, T0 + 60, LEASE_S)
    eq(board.wifi_up(WIFI, 5000, cache, T0 + 61, LEASE_S, True), "scan", "path")
    assert ("disconnect",) in espnetwork.log and ("ipconfig", "dhcp4", True) in espnetwork.log, \
        espnetwork.log
