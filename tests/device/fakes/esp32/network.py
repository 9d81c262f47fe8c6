# Fake `network` of MicroPython's esp32 port, as MicroPython 1.29 has it (ports/esp32:
# network_wlan.c, modnetwork.h, modnetwork_globals.h). The station's status() is derived as the
# port derives it from ESP-IDF's events:
# - the reason of the last disconnect is kept until the station gets an IP, also across
#   active(False) and a new connect(): right after connect(), status() still gives the last
#   attempt's failure;
# - the driver retries for ever (config(reconnects=...) is not modelled), and status() says
#   STAT_CONNECTING while it does, after any reason but those it names: a wrong key that the
#   AP answers with WPA2's handshake timeout (15, the usual) or 204 never shows as
#   STAT_WRONG_PASSWORD, which only 202 and 205 give.
# config(channel=...) sets the station's channel, refused while it connects, as
# esp_wifi_set_channel() is.
import espnetwork
from espnetwork import configure, log, wake  # noqa: F401
from mpargs import at_most, integer

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
# ESP-IDF's disconnect reasons (wifi_err_reason_t), which status() passes through.
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202          # WIFI_REASON_AUTH_FAIL
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203            # WIFI_REASON_ASSOC_FAIL, never shown while retrying
STAT_HANDSHAKE_TIMEOUT = 204       # never shown while retrying either
STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY = 210
STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD = 211
STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD = 212
_ASSOC_LEAVE = 8                   # disconnect(), or a connected station stopped
_CONNECTION_FAIL = 205             # shown as STAT_WRONG_PASSWORD
_NO_AP = (STAT_NO_AP_FOUND, STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY,
          STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD, STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD)

_sta = {}                          # the driver: one station per chip, as in the port


def _boot(waking):
    _sta.update(started=False, requested=False, connected=False, reason=0, left=0,
                ssid="", key="", bssid=None)
    espnetwork.settings["pm"] = 1          # ESP-IDF's default power save: WIFI_PS_MIN_MODEM


espnetwork.on_boot(_boot)


def _disconnected(reason):
    # The port's WIFI_EVENT_STA_DISCONNECTED handler: keep the reason, and try again while a
    # connection is asked for and the station runs.
    _sta.update(connected=False, reason=reason)
    if _sta["requested"] and _sta["started"]:
        _sta["left"] = espnetwork.air["steps"]


class WLAN(espnetwork.WLAN):
    PM_NONE = 0            # WIFI_PS_NONE
    PM_PERFORMANCE = 1     # WIFI_PS_MIN_MODEM
    PM_POWERSAVE = 2       # WIFI_PS_MAX_MODEM
    KEYS = ("mac", "ssid", "essid", "hidden", "security", "authmode", "key", "password",
            "channel", "bandwidth", "hostname", "dhcp_hostname", "max_clients", "reconnects",
            "txpower", "protocol", "pm")

    def active(self, *args):
        self.station()
        at_most(args, 1)
        if args:
            # Started, the station waits for connect(); stopped, it ends any attempt.
            on = bool(args[0])
            _sta.update(started=on, left=0)
            if not on and _sta["connected"]:
                _disconnected(_ASSOC_LEAVE)
            log.append(("active", on))
        return _sta["started"]

    def connect(self, *args, bssid=None):
        ssid, key = self.connect_args(args, bssid)
        if args or bssid is not None:     # the port replaces the whole station config
            _sta.update(ssid=ssid or "", key=key or "", bssid=bssid)
        if not _sta["started"]:
            raise OSError("Wifi Not Started")
        _sta.update(requested=True, left=espnetwork.air["steps"])

    def disconnect(self):
        self.station()
        log.append(("disconnect",))
        _sta.update(requested=False, left=0)
        if _sta["connected"]:
            _disconnected(_ASSOC_LEAVE)

    def attempting(self):
        return _sta["started"] and _sta["left"] > 0

    def step(self):
        # An attempt in progress (left > 0) moves on by one step.
        if not (_sta["started"] and _sta["left"]):
            return
        _sta["left"] -= 1
        if _sta["left"]:
            return
        end, ap = espnetwork.outcome(_sta["ssid"], _sta["key"], _sta["bssid"])
        if end == "ip":
            _sta.update(connected=True, reason=0)          # IP_EVENT_STA_GOT_IP clears the reason
            espnetwork.joined(ap)
        else:
            _disconnected(STAT_NO_AP_FOUND if end == "no ap" else espnetwork.air["wrong_key"])

    def linked(self):
        return _sta["connected"]

    def link(self):
        reason = _sta["reason"]
        if _sta["connected"]:
            return STAT_GOT_IP
        if reason in _NO_AP:
            return reason
        if reason in (STAT_WRONG_PASSWORD, _CONNECTION_FAIL):
            return STAT_WRONG_PASSWORD
        if reason == _ASSOC_LEAVE:
            return STAT_IDLE
        if _sta["requested"]:
            return STAT_CONNECTING
        return reason or STAT_IDLE

    def put(self, key, value):
        if key == "channel":
            if self.attempting():
                raise OSError("Wi-Fi Internal State Error")     # esp_wifi_set_channel()
            espnetwork.station["channel"] = integer(value)
            return
        super().put(key, integer(value) if key == "pm" else value)
