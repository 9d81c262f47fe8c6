# What the fakes of the esp32 and esp8266 ports' `network` share (each port's station driver is
# in fakes/<port>/network.py): the air, which a test sets with configure(); `log`, what the
# code under test did to the radio; WLAN's argument checks and config(). Time passes in driver
# steps: each status() or isconnected() lets the fake driver take one step, as the real one
# runs meanwhile, so an attempt to join takes `steps` polls and a test never sleeps.
# Only the station interface is modelled; the access point's methods raise NotImplementedError.
from mpargs import at_most, integer

air = {}
log = []
settings = {}      # what config() set, by key
_boots = []        # each port's driver reset


def configure(ap=None, steps=2, wrong_key=15):
    """A board that just started, in this air: the access point in range as (ssid, key), or
    None; how many steps an attempt to join takes; the ESP-IDF reason an ESP32 hears when its
    key is wrong (15, WPA2's handshake timing out, is the usual; some APs give 202 or 204)."""
    air.update(ap=ap, steps=steps, wrong_key=wrong_key)
    del log[:]
    settings.clear()
    for boot in _boots:
        boot()


def on_boot(reset):
    _boots.append(reset)
    reset()


def outcome(ssid, key):
    """How an attempt to join ends: "ip", "no ap" or "wrong key"."""
    ap = air["ap"]
    if ap is None or ap[0] != ssid:
        return "no ap"
    return "ip" if (key or "") == (ap[1] or "") else "wrong key"


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

    def connect_args(self, args):
        # connect(ssid, key, *, bssid): the port names neither ssid nor key, so they go by
        # position only (connect(ssid=...) is a TypeError on the board).
        self.station()
        at_most(args, 2)
        args = tuple(args) + (None, None)
        log.append(("connect", args[0]))
        return args[:2]

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
        return settings.get(key)

    def put(self, key, value):
        settings[key] = value


configure()
