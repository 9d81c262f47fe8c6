# Fake `network` of MicroPython's esp8266 port, as MicroPython 1.29 has it (ports/esp8266:
# network_wlan.c, modnetwork_globals.h). status() is the Non-OS SDK's station status, 255 while
# the station is off; connect() makes it STAT_CONNECTING, and the attempt ends in STAT_GOT_IP,
# STAT_WRONG_PASSWORD or STAT_NO_AP_FOUND, where it stays (the SDK's retries in the
# background are not modelled). config(pm=...) is the SDK's sleep type, as esp.sleep_type().
# What the SDK keeps in flash: active() sets the operating mode with wifi_set_opmode() and
# connect(ssid, key, bssid=...) the station config with wifi_station_set_config(), each a
# flash write (`flash["writes"]`, counted per wake); connect() without arguments joins the
# saved config. At boot (espnetwork.wake()) the SDK starts joining the saved config by itself
# when the saved mode has the station on.
import esp
import espnetwork
from espnetwork import configure, log, wake  # noqa: F401
from mpargs import at_most, integer

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = 2
STAT_NO_AP_FOUND = 3
STAT_CONNECT_FAIL = 4
STAT_GOT_IP = 5
_OFF = 255

_ENDS = {"ip": STAT_GOT_IP, "no ap": STAT_NO_AP_FOUND, "wrong key": STAT_WRONG_PASSWORD}
_sta = {}
flash = {}          # the SDK's flash: mode (station on), the station config, writes this wake


def _boot(waking):
    if not waking:
        flash.update(on=False, config=None)
    flash["writes"] = 0
    _sta.update(on=False, status=STAT_IDLE, left=0)
    esp.sdk["sleep_type"] = esp.SLEEP_MODEM
    if waking and flash["on"]:
        _sta["on"] = True
        if flash["config"]:
            _join()


def _join():
    _sta.update(status=STAT_CONNECTING, left=espnetwork.air["steps"])


espnetwork.on_boot(_boot)


class WLAN(espnetwork.WLAN):
    PM_NONE = 0            # NONE_SLEEP_T
    PM_PERFORMANCE = 2     # MODEM_SLEEP_T
    PM_POWERSAVE = 1       # LIGHT_SLEEP_T
    KEYS = ("mac", "ssid", "essid", "hidden", "security", "authmode", "key", "password",
            "channel", "hostname", "dhcp_hostname", "protocol", "txpower", "pm")

    def active(self, *args):
        self.station()
        at_most(args, 1)
        if not args:
            return _sta["on"]
        _sta["on"] = flash["on"] = integer(args[0]) != 0
        flash["writes"] += 1       # wifi_set_opmode() saves the mode
        if not _sta["on"]:
            _sta["status"] = STAT_IDLE
        log.append(("active", _sta["on"]))

    def connect(self, *args, bssid=None):
        ssid, key = self.connect_args(args, bssid)
        if args or bssid is not None:
            # The port replaces the whole station config, and the SDK saves it.
            flash["config"] = (ssid or "", key or "", bssid)
            flash["writes"] += 1
        if not _sta["on"]:         # wifi_station_connect() fails with the station off
            raise OSError("Cannot connect to AP")
        _join()

    def disconnect(self):
        self.station()
        log.append(("disconnect",))
        _sta["status"] = STAT_IDLE

    def attempting(self):
        return _sta["on"] and _sta["status"] == STAT_CONNECTING

    def step(self):
        if self.attempting():
            _sta["left"] -= 1
            if _sta["left"] <= 0:
                end, ap = espnetwork.outcome(*(flash["config"] or ("", "", None)))
                _sta["status"] = _ENDS[end]
                if end == "ip":
                    espnetwork.joined(ap)

    def linked(self):
        return _sta["on"] and _sta["status"] == STAT_GOT_IP

    def link(self):
        return _sta["status"] if _sta["on"] else _OFF

    def get(self, key):
        if key == "pm":
            return esp.sleep_type()
        if key in ("ssid", "essid"):
            return flash["config"][0] if flash["config"] else ""
        return super().get(key)

    def put(self, key, value):
        if key == "pm":
            esp.sleep_type(integer(value))
        else:
            super().put(key, value)
