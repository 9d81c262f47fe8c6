# What the fakes of the esp32 and esp8266 ports' `network` share (each port's station driver is
# in fakes/<port>/network.py): the air, which a test sets with configure(); `log`, what the
# code under test did to the radio; WLAN's argument checks, config(), scan(), ifconfig() and
# ipconfig(dhcp4=...) as MicroPython 1.29's network_wlan.c and network_common.c have them.
# Time passes in driver steps: each status() or isconnected() lets the fake driver take one
# step, as the real one runs meanwhile, so an attempt to join takes `steps` polls and a test
# never sleeps. wake() is a deep-sleep wake: the driver starts again, what the port keeps in
# flash (the ESP8266's station config) stays.
# Only the station interface is modelled; the access point's methods raise NotImplementedError.
from mpargs import at_most, fixed, integer

LEASE = ("10.0.0.23", "255.255.255.0", "10.0.0.1", "10.0.0.1")   # what DHCP hands out
air = {}
log = []
settings = {}      # what config() set, by key
station = {}       # the IP side of the station: ip (its ifconfig), dhcp (on), channel
_boots = []        # each port's driver reset: boot(wake)


class AP:
    """An access point in range: SSID, key, BSSID (6 bytes), channel, RSSI."""

    def __init__(self, ssid, key, bssid=b"\x02\x00\x00\x00\x00\x01", channel=1, rssi=-60):
        self.ssid, self.key, self.bssid, self.channel, self.rssi = ssid, key, bssid, channel, rssi


def configure(ap=None, steps=2, wrong_key=15, aps=None, lease=LEASE):
    """A board that just started, in this air: the access point in range as (ssid, key) (or
    several, as AP objects in aps), or none; how many steps an attempt to join takes; the
    ESP-IDF reason an ESP32 hears when its key is wrong (15, WPA2's handshake timing out, is
    the usual; some APs give 202 or 204); what DHCP hands out."""
    air.update(aps=list(aps) if aps is not None else ([AP(*ap)] if ap else []), steps=steps,
               wrong_key=wrong_key, lease=lease)
    _restart(False)


def wake():
    """A deep-sleep wake in the same air: the radio's state is gone, except what the port
    keeps in flash; an ESP8266 whose SDK saved a station config starts joining it at boot."""
    _restart(True)


def _restart(waking):
    del log[:]
    settings.clear()
    station.update(ip=("0.0.0.0",) * 4, dhcp=True, channel=1)
    for boot in _boots:
        boot(waking)


def on_boot(reset):
    _boots.append(reset)
    reset(False)


def outcome(ssid, key, bssid=None):
    """How an attempt to join ends, and with which access point: ("ip", ap), ("no ap", None)
    or ("wrong key", ap). The strongest of the SSID (of that BSSID, when one is given)."""
    best = None
    for ap in air["aps"]:
        if ap.ssid == ssid and (bssid is None or ap.bssid == bssid):
            if best is None or ap.rssi > best.rssi:
                best = ap
    if best is None:
        return "no ap", None
    return ("ip" if (key or "") == (best.key or "") else "wrong key"), best


def joined(ap):
    """The driver got an IP address through ap: its channel, and DHCP's lease unless a static
    configuration is set."""
    station["channel"] = ap.channel
    if station["dhcp"]:
        station["ip"] = air["lease"]


def _is_ip(text):
    parts = text.split(".") if isinstance(text, str) else ()
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


class WLAN:
    # Each port's subclass is its station driver: step() moves an attempt on, linked() says
    # whether the station has an IP address, link() is what status() returns.
    IF_STA = 0
    IF_AP = 1
    KEYS = ()              # what the port's config() knows

    def __init__(self, *args):
        at_most(args, 1)
        self.iface = integer(args[0]) if args else self.IF_STA
        if self.iface not in (self.IF_STA, self.IF_AP):
            raise ValueError("invalid WLAN interface identifier")

    def station(self):
        if self.iface != self.IF_STA:
            raise NotImplementedError("the fake models the station interface only")

    def connect_args(self, args, bssid):
        # connect(ssid, key, *, bssid): the port names neither ssid nor key, so they go by
        # position only (connect(ssid=...) is a TypeError on the board); a bssid is 6 bytes.
        self.station()
        at_most(args, 2)
        if bssid is not None and len(bssid) != 6:
            raise ValueError("bssid must be 6 bytes")
        args = tuple(args) + (None, None)
        log.append(("connect", args[0]) + ((bytes(bssid),) if bssid is not None else ()))
        return args[:2]

    def scan(self):
        # (ssid, bssid, channel, RSSI, security, hidden) per access point in range.
        self.station()
        if not self.active() or self.attempting():
            raise OSError("the station is off, or joining")     # the ports refuse both
        log.append(("scan",))
        return [(ap.ssid.encode(), ap.bssid, ap.channel, ap.rssi, 3, False) for ap in air["aps"]]

    def ifconfig(self, *args):
        self.station()
        at_most(args, 1)
        if not args:
            return station["ip"]
        cfg = fixed(args[0], 4)
        if not all(_is_ip(a) for a in cfg):
            raise ValueError("invalid arguments")
        log.append(("ifconfig", tuple(cfg)))
        station.update(ip=tuple(cfg), dhcp=False)

    def ipconfig(self, *args, **kw):
        # Only ipconfig(dhcp4=...) is modelled.
        self.station()
        if args or list(kw) != ["dhcp4"]:
            raise NotImplementedError("ipconfig%r %r is not modelled" % (args, kw))
        log.append(("ipconfig", "dhcp4", bool(kw["dhcp4"])))
        station["dhcp"] = bool(kw["dhcp4"])

    def isconnected(self):
        self.station()
        self.step()
        return self.linked()

    def status(self, *args):
        self.station()
        at_most(args, 1)
        if args:
            raise NotImplementedError("status(param) is not modelled")
        self.step()
        return self.link()

    def config(self, *args, **kw):
        if args and kw:
            raise TypeError("either pos or kw args are allowed")
        if len(args) > 1:
            raise TypeError("can query only one param")
        for key in args or kw:
            if key not in self.KEYS:
                raise ValueError("unknown config param")
        if args:
            return self.get(args[0])
        for key in kw:
            self.put(key, kw[key])
        log.append(("config", kw))

    def get(self, key):
        if key == "channel":
            return station["channel"]
        return settings.get(key)

    def put(self, key, value):
        settings[key] = value


configure()
