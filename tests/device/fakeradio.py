# A fake `network` module for the association paths of the ESP adapters, one per port, as
# MicroPython 1.29's ports/esp8266/network_wlan.c and ports/esp32/network_wlan.c +
# network_common.c define WLAN: connect(ssid, key, *, bssid) with a 6-byte bssid (ValueError
# otherwise), scan() tuples (ssid, bssid, channel, RSSI, security, hidden), ifconfig() and
# ifconfig((ip, mask, gw, dns)), ipconfig(dhcp4=True), config("ssid"/"channel"),
# config(channel=...) (ESP32: the station's scan start), status() with the port's STAT_
# values. Anything else is missing, so that an adapter calling it fails.
#
#   net = fakeradio.install("esp8266")          # sys.modules["network"]
#   net.air = Air(aps=[AP("lab", "secret", b"\x02\0\0\0\0\x01", 6)])
#   net.boot()            # a deep-sleep wake: the ESP8266 SDK joins its saved config
#   net.log               # what the adapter called; net.flash_writes (ESP8266's config saves)
import sys


class AP:
    def __init__(self, ssid, key, bssid, channel, rssi=-60):
        self.ssid, self.key, self.bssid, self.channel, self.rssi = ssid, key, bssid, channel, rssi


class Air:
    """The access points in range and the DHCP server behind them."""

    def __init__(self, aps, lease=("10.0.0.23", "255.255.255.0", "10.0.0.1", "10.0.0.1")):
        self.aps = aps
        self.lease = lease


def _is_ip(text):
    parts = text.split(".") if isinstance(text, str) else ()
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


class _Port:
    STA_IF = 0
    AP_IF = 1

    def __init__(self, port):
        self.port = port
        self.air = Air([])
        self.log = []
        self.flash_writes = 0
        self.saved = None           # ESP8266: the station config the SDK keeps in flash
        self.polls = 2
        self.sta = None
        if port == "esp8266":
            (self.STAT_IDLE, self.STAT_CONNECTING, self.STAT_WRONG_PASSWORD,
             self.STAT_NO_AP_FOUND, self.STAT_CONNECT_FAIL, self.STAT_GOT_IP) = range(6)
        else:
            self.STAT_IDLE, self.STAT_CONNECTING, self.STAT_GOT_IP = 1000, 1001, 1010
            self.STAT_NO_AP_FOUND, self.STAT_WRONG_PASSWORD, self.STAT_CONNECT_FAIL = 201, 202, 203
        net = self

        class WLAN:
            IF_STA = 0
            IF_AP = 1
            PM_NONE = 0
            PM_POWERSAVE = 2

            def __new__(cls, interface_id=0):
                if interface_id != 0:
                    raise ValueError("only the station interface is modelled")
                if net.sta is None:
                    net.sta = object.__new__(cls)
                    net.sta._init()
                return net.sta

            def __init__(self, interface_id=0):
                pass

            def _init(self):
                self._active = False
                self._status = net.STAT_IDLE
                self._left = 0
                self._target = None
                self._channel = 1
                self._scan_start = 0
                self._static = None
                self._dhcp = True
                self._ip = ("0.0.0.0",) * 4

            # --- documented methods ---

            def active(self, is_active=None):
                if is_active is None:
                    return self._active
                net.log.append(("active", bool(is_active)))
                if net.port == "esp8266":
                    net.flash_writes += 1       # wifi_set_opmode saves the mode
                self._active = bool(is_active)
                if not self._active:
                    self._status = net.STAT_IDLE

            def connect(self, ssid=None, key=None, *, bssid=None):
                if not self._active:
                    raise OSError("Wi-Fi not active")
                if bssid is not None and len(bssid) != 6:
                    raise ValueError()
                net.log.append(("connect", ssid, bssid))
                if net.port == "esp8266":
                    if ssid is not None or key is not None or bssid is not None:
                        net.saved = (ssid, key, bssid)
                        net.flash_writes += 1   # wifi_station_set_config
                    self._start(*net.saved)
                else:
                    self._start(ssid, key, bssid)
                    self._scan_start = 0        # the config connect() writes has channel 0

            def disconnect(self):
                net.log.append(("disconnect",))
                self._status = net.STAT_IDLE
                self._target = None

            def status(self, param=None):
                if param is not None:
                    raise ValueError("not modelled: status(%r)" % (param,))
                return self._status

            def isconnected(self):
                if self._status == net.STAT_CONNECTING:
                    self._left -= 1
                    if self._left <= 0:
                        self._status = net.STAT_GOT_IP
                        self._channel = self._target.channel
                        if self._dhcp:
                            self._ip = net.air.lease
                return self._status == net.STAT_GOT_IP

            def scan(self):
                if not self._active:
                    raise OSError("Wi-Fi not active")
                if self._status == net.STAT_CONNECTING:
                    raise OSError("scan while connecting")
                net.log.append(("scan",))
                return [(a.ssid.encode(), a.bssid, a.channel, a.rssi, 3, False)
                        for a in net.air.aps]

            def config(self, *args, **kw):
                if args:
                    if len(args) != 1 or kw:
                        raise TypeError("can query only one param")
                    if args[0] == "ssid":
                        if net.port == "esp8266":
                            return net.saved[0] if net.saved else ""
                        return self._target.ssid if self._target else ""
                    if args[0] == "channel":
                        return self._channel
                    raise ValueError("unknown config param")
                for k, v in kw.items():
                    if k == "channel":
                        if self._status == net.STAT_CONNECTING:
                            # esp_wifi_set_channel() is refused while the station connects
                            raise OSError("Wi-Fi internal state error")
                        net.log.append(("config", "channel", v))
                        self._scan_start = v
                        self._channel = v
                    elif k == "pm":
                        net.log.append(("config", "pm", v))
                    else:
                        raise ValueError("not modelled: config(%s=...)" % k)

            def ifconfig(self, cfg=None):
                if cfg is None:
                    return self._ip
                if len(cfg) != 4 or not all(_is_ip(a) for a in cfg):
                    raise ValueError("ifconfig needs (ip, mask, gateway, dns)")
                net.log.append(("ifconfig", tuple(cfg)))
                self._static = tuple(cfg)
                self._ip = self._static
                self._dhcp = False

            def ipconfig(self, *args, **kw):
                if args or list(kw) != ["dhcp4"]:
                    raise ValueError("not modelled: ipconfig(%r, %r)" % (args, kw))
                net.log.append(("ipconfig", "dhcp4", kw["dhcp4"]))
                self._dhcp = bool(kw["dhcp4"])
                if self._dhcp:
                    self._static = None

            # --- the radio ---

            def _start(self, ssid, key, bssid):
                ap = None
                for a in net.air.aps:
                    if a.ssid == ssid and (bssid is None or a.bssid == bssid):
                        ap = a if ap is None or a.rssi > ap.rssi else ap
                self._target = ap
                if ap is None:
                    self._status = net.STAT_NO_AP_FOUND
                elif ap.key != key:
                    self._status = net.STAT_WRONG_PASSWORD
                else:
                    self._status = net.STAT_CONNECTING
                    self._left = net.polls

        self.WLAN = WLAN

    def boot(self):
        """A wake from deep sleep: the radio's state is gone; an ESP8266 SDK that saved a
        station config (and the station mode) starts joining it before Python runs."""
        self.sta = None
        del self.log[:]
        self.flash_writes = 0
        wlan = self.WLAN(0)
        if self.port == "esp8266" and self.saved:
            wlan._active = True
            wlan._start(*self.saved)
        return wlan


def install(port):
    net = _Port(port)
    sys.modules["network"] = net
    return net
