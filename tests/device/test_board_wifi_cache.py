# The ESP adapters' association from what the last wake kept (node.netcache), against a fake
# network module per port that follows MicroPython 1.29's WLAN (tests/device/fakeradio.py):
# the calls made on each path, their arguments, and the ESP8266's flash writes.
import os
import sys

_FAKES = os.getenv("DEVICE_TEST_DIR") + "/fakes"
sys.path.insert(0, _FAKES)

import fakeradio  # noqa: E402
from mptest import eq  # noqa: E402

WIFI = {"ssid": "lab", "password": "secret", "static": None}
LEASE_S = 3600
T0 = 1767225600
OLD = fakeradio.AP("lab", "secret", b"\x02\x00\x00\x00\x00\x01", 6, -70)
NEAR = fakeradio.AP("lab", "secret", b"\x02\x00\x00\x00\x00\x02", 1, -50)
MOVED = fakeradio.AP("lab", "secret", b"\x02\x00\x00\x00\x00\x09", 11, -55)


def _board(port, aps):
    # The port's own machine and esp (tests/device/fakes/<port>); the radio from fakeradio.
    for other in ("esp32", "esp8266"):
        if _FAKES + "/" + other in sys.path:
            sys.path.remove(_FAKES + "/" + other)
    sys.path.insert(0, _FAKES + "/" + port)
    for name in ("machine", "esp", "node.board.espcommon", "node.board.esp32",
                 "node.board.esp8266"):
        sys.modules.pop(name, None)
    net = fakeradio.install(port)
    net.air = fakeradio.Air(aps)
    if port == "esp32":
        from node.board import esp32 as board
    else:
        from node.board import esp8266 as board
    return net, board


def _first_wake(port, aps):
    """A board's first wake: nothing kept; returns (net, board, the cache it filled)."""
    net, board = _board(port, aps)
    cache = bytearray(40)
    eq(board.wifi_up(WIFI, 5000, cache, T0, LEASE_S), "scan", "path")
    return net, board, cache


def _wake(net):
    """Deep sleep and a wake: the radio starts over, and so does the adapter."""
    import node.board.espcommon as common
    common._wlan = None
    return net.boot()


def _calls(net, name):
    return [c for c in net.log if c[0] == name]


def test_first_wake_scans_joins_the_strongest_ap_by_bssid_and_keeps_it():
    from node import netcache
    for port in ("esp32", "esp8266"):
        net, board, cache = _first_wake(port, [OLD, NEAR])
        eq(_calls(net, "scan"), [("scan",)], port)
        # connect(ssid, key, bssid=<6 bytes>) to the strongest of the SSID
        eq(_calls(net, "connect"), [("connect", "lab", NEAR.bssid)], port)
        eq(netcache.ap(cache, "lab"), (NEAR.bssid, 1), port)
        eq(netcache.ipconfig(cache, "lab", T0 + 60, LEASE_S), net.air.lease, port)
        # nothing kept for another network
        eq(netcache.ap(cache, "other"), None, port)


def test_esp32_usual_wake_joins_the_kept_ap_on_its_channel_with_the_kept_ifconfig():
    net, board, cache = _first_wake("esp32", [NEAR])
    _wake(net)
    eq(board.wifi_up(WIFI, 5000, cache, T0 + 300, LEASE_S), "fast", "path")
    # The IP configuration as one 4-tuple, the channel before connect() (it is refused while
    # the station connects), connect() restricted to the BSSID kept; no scan, no DHCP.
    eq(net.log, [("active", True), ("ifconfig", net.air.lease), ("config", "channel", 1),
                 ("connect", "lab", NEAR.bssid)], "calls")


def test_esp8266_usual_wake_calls_no_connect_and_writes_no_flash():
    net, board, cache = _first_wake("esp8266", [NEAR])
    assert net.flash_writes >= 1        # the first wake saved the station config, once
    for minute in range(1, 4):
        _wake(net)                       # the SDK is joining its saved config (with the BSSID)
        eq(board.wifi_up(WIFI, 5000, cache, T0 + 60 * minute, LEASE_S), "fast", "path")
        eq(_calls(net, "connect"), [], "connect() calls")
        eq(_calls(net, "active"), [], "active() calls")
        eq(net.flash_writes, 0, "flash writes in a usual wake")
        eq(_calls(net, "ifconfig"), [("ifconfig", net.air.lease)], "static configuration")


def test_esp8266_connects_once_when_the_saved_config_is_for_another_ssid():
    net, board, cache = _first_wake("esp8266", [NEAR])
    net.saved = ("old-net", "pw", None)
    _wake(net)
    board.wifi_up(WIFI, 5000, cache, T0 + 60, LEASE_S)
    eq(_calls(net, "connect"), [("connect", "lab", NEAR.bssid)], "connect with the kept BSSID")
    eq(net.saved, ("lab", "secret", NEAR.bssid), "saved config")
    _wake(net)
    board.wifi_up(WIFI, 5000, cache, T0 + 120, LEASE_S)
    eq(net.flash_writes, 0, "flash writes the wake after")


def test_an_ap_that_moved_falls_back_to_a_scan_and_dhcp_in_the_same_wake():
    from node import netcache
    for port in ("esp32", "esp8266"):
        net, board, cache = _first_wake(port, [NEAR])
        net.air.aps = [MOVED]           # another access point (BSSID) on another channel
        _wake(net)
        eq(board.wifi_up(WIFI, 5000, cache, T0 + 60, LEASE_S), "scan", port)
        names = [c[0] for c in net.log]
        # the kept configuration was tried, then DHCP again, a scan, the new BSSID
        assert names.index("ifconfig") < names.index("ipconfig") < names.index("scan"), net.log
        eq(_calls(net, "connect")[-1], ("connect", "lab", MOVED.bssid), port)
        eq(netcache.ap(cache, "lab"), (MOVED.bssid, 11), port)
        _wake(net)
        eq(board.wifi_up(WIFI, 5000, cache, T0 + 120, LEASE_S), "fast", port + " recovered")


def test_a_lease_in_its_second_half_is_renewed_by_dhcp():
    from node import netcache
    for port in ("esp32", "esp8266"):
        net, board, cache = _first_wake(port, [NEAR])
        _wake(net)
        later = T0 + LEASE_S // 2
        eq(board.wifi_up(WIFI, 5000, cache, later, LEASE_S), "fast", port)
        eq(_calls(net, "ifconfig"), [], port + ": no static configuration")
        eq(_calls(net, "scan"), [], port + ": the AP is kept")
        # renewed: young again
        eq(netcache.ipconfig(cache, "lab", later + 60, LEASE_S), net.air.lease, port)


def test_a_fixed_static_ip_from_the_config_is_set_on_every_path_and_dhcp_never_runs():
    fixed = ["192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1"]
    wifi = dict(WIFI, static=fixed)
    for port in ("esp32", "esp8266"):
        net, board = _board(port, [NEAR])
        cache = bytearray(40)
        board.wifi_up(wifi, 5000, cache, T0, LEASE_S)
        _wake(net)
        board.wifi_up(wifi, 5000, cache, T0 + 60, LEASE_S)
        eq(_calls(net, "ifconfig"), [("ifconfig", tuple(fixed))], port)
        eq(_calls(net, "ipconfig"), [], port)
        eq(net.sta.ifconfig(), tuple(fixed), port)


def test_fresh_forgets_what_was_kept_and_scans():
    for port in ("esp32", "esp8266"):
        net, board, cache = _first_wake(port, [NEAR])
        _wake(net)
        board.wifi_up(WIFI, 5000, cache, T0 + 60, LEASE_S)
        eq(board.wifi_up(WIFI, 5000, cache, T0 + 61, LEASE_S, True), "scan", port)
        assert ("disconnect",) in net.log and ("ipconfig", "dhcp4", True) in net.log, net.log
