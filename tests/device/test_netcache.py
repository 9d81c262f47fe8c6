# node.netcache: the packed record after the state in RTC memory.
from mptest import eq
from node import netcache
from node.state import State

BSSID = b"\x02\x00\x00\x00\x00\x07"
LEASE = ("10.0.0.23", "255.255.255.0", "10.0.0.1", "10.0.0.1")


def _filled():
    body = netcache.load(b"")
    netcache.learned(body, "lab", BSSID, 6, LEASE, 1000)
    netcache.resolved(body, "broker.lan", 8883, "192.168.1.10", 1000)
    return body


def test_it_survives_rtc_memory_after_the_state_and_leaves_the_state_readable():
    st = State()
    st.cycles = 7
    image = netcache.rtc_image(st.encode(), _filled())
    assert len(image) <= 492, len(image)      # the ESP8266's RTC user memory
    eq(State.decode(image).cycles, 7, "state")
    body = netcache.load(image)
    eq(netcache.ap(body, "lab"), (BSSID, 6), "ap")
    eq(netcache.ipconfig(body, "lab", 1060, 3600), LEASE, "lease")
    eq(netcache.broker(body, "broker.lan", 8883, 1060, 10800), "192.168.1.10", "broker")


def test_a_damaged_or_missing_record_is_empty():
    image = bytearray(netcache.rtc_image(State().encode(), _filled()))
    image[-1] ^= 1
    eq(netcache.ap(netcache.load(bytes(image)), "lab"), None, "crc")
    eq(netcache.ap(netcache.load(State().encode()), "lab"), None, "state alone")


def test_what_it_keeps_is_only_for_its_network_broker_and_time():
    body = _filled()
    eq(netcache.ap(body, "other"), None, "another SSID")
    eq(netcache.ipconfig(body, "lab", 1000 + 1800, 3600), None, "second half of the lease")
    eq(netcache.ipconfig(body, "lab", 999, 3600), None, "a clock before the lease")
    eq(netcache.broker(body, "broker.lan", 1883, 1060, 10800), None, "another port")
    eq(netcache.broker(body, "broker.lan", 8883, 1000 + 10800, 10800), None, "too old")
    netcache.learned(body, "other", BSSID, 11)
    eq(netcache.ipconfig(body, "other", 1060, 3600), None, "no lease kept for the new SSID")
    eq(netcache.broker(body, "broker.lan", 8883, 1060, 10800), "192.168.1.10", "broker kept")
