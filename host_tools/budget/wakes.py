"""A wake as phases with times, priced by the model in firmware/sim/radiomodel.py (loaded by
path: the unix board prices its simulated radio by the same figures).

The wakes: the usual one (Wi-Fi from what the last wake kept, the broker's address kept, one
reading), the first (a scan, DHCP, a DNS lookup, the reading numbers reserved in flash), one
after an outage (the lease past its half: DHCP; the address looked up again after the failed
connects; BUFFERED readings flushed from flash) and umqtt.robust's (connect(ssid, password)
every wake: a scan, DHCP, and on an ESP8266 the station config saved to flash again; a DNS
lookup; stop-and-wait publishes)."""

import importlib.util
from dataclasses import dataclass, field

from ..repo import FIRMWARE

_spec = importlib.util.spec_from_file_location("_radiomodel", FIRMWARE / "sim" / "radiomodel.py")
model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model)

# Round trips from opening the socket to the last PUBACK, as `make bench` measures them on the
# wire (README, "Figures"): TCP 1 + TLS 2 + MQTT; this node pipelines CONNECT and PUBLISH.
RTTS_ONE = 4                # one reading; umqtt.robust: 5
RTTS_FLUSH = 5              # BUFFERED + 1 readings, window 8; umqtt.robust: 14
RTTS_UMQTT = 5
BUFFERED = 10
# Flash per reading buffered then acknowledged (`make bench`, "flash per reading, buffered
# then acknowledged, default"): bytes programmed and 4 KB sectors erased.
FLASH_B_PER_READING = 231
ERASES_PER_READING = 0.114
LEASE_S = 3600              # wifi.lease_s's default
RESOLVE_EVERY_S = 10800     # node.netpath: an address older than this is looked up again


@dataclass
class Wake:
    name: str
    readings: int
    ms: dict = field(default_factory=dict)      # phase -> milliseconds

    def total_ms(self):
        return sum(self.ms.values())

    def mj(self, awake_ma):
        return self.total_ms() / 1000 * awake_ma * model.VOLTS

    def mj_per_reading(self, awake_ma):
        return self.mj(awake_ma) / self.readings


def _flash_ms(nbytes, erases):
    return -(-nbytes // 256) * model.PAGE_MS + erases * model.ERASE_MS


def _wake(name, b, rtt, readings, assoc, dhcp, dns, mqtt_rtts, flash_ms):
    return Wake(name, readings, {
        "boot": b["boot_ms"], "association": assoc, "DHCP": b["dhcp_ms"] if dhcp else 0,
        "DNS": rtt if dns else 0, "TCP+TLS": 3 * rtt, "MQTT": (mqtt_rtts - 3) * rtt,
        "flash writes": flash_ms})


def wakes(board, rtt_ms=model.RTT_MS, params=None):
    """The four wakes of a board, as phases in milliseconds."""
    b = dict(model.BOARDS[board], **(params or {}))
    flushed = BUFFERED + 1
    config_save = _flash_ms(256, 1) if board == "esp8266" else 0
    return {
        "usual": _wake("usual", b, rtt_ms, 1, b["fast_ms"], False, False, RTTS_ONE, 0),
        "first": _wake("first", b, rtt_ms, 1, b["scan_ms"], True, True, RTTS_ONE,
                       _flash_ms(256, 0) + config_save),
        "after an outage": _wake("after an outage", b, rtt_ms, flushed, b["fast_ms"], True, True,
                                 RTTS_FLUSH,
                                 _flash_ms(BUFFERED * FLASH_B_PER_READING, 0)
                                 + BUFFERED * ERASES_PER_READING * model.ERASE_MS),
        "umqtt.robust": _wake("umqtt.robust", b, rtt_ms, 1, b["scan_ms"], True, True,
                              RTTS_UMQTT, config_save),
    }


def average_ma(board, interval_s, kind="usual", rtt_ms=model.RTT_MS, params=None,
               lease_s=LEASE_S):
    """The mean current over a reading interval, sleep included: this node's usual wake plus
    the DHCP renewal every half lease and the DNS lookup every RESOLVE_EVERY_S; or every wake
    as umqtt.robust's (kind "umqtt.robust")."""
    b = dict(model.BOARDS[board], **(params or {}))
    w = wakes(board, rtt_ms, params)[kind]
    awake_ms = w.total_ms()
    if kind == "usual":
        awake_ms += min(1.0, interval_s / (lease_s / 2)) * b["dhcp_ms"]
        awake_ms += min(1.0, interval_s / RESOLVE_EVERY_S) * rtt_ms
    awake_s = awake_ms / 1000
    charge_mas = awake_s * b["awake_ma"] + max(0.0, interval_s - awake_s) * b["sleep_ua"] / 1000
    return charge_mas / interval_s


def battery_days(capacity_mah, mean_ma):
    return capacity_mah / mean_ma / 24
