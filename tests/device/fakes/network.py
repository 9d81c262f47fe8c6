# Fake `network` following MicroPython's documented network.WLAN API (ESP ports). An access
# point is configured with configure(); connecting takes `polls` calls of isconnected().
STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = 2
STAT_NO_AP_FOUND = 3
STAT_CONNECT_FAIL = 4
STAT_GOT_IP = 5

_ap = None             # (ssid, password) of the access point in range, or None
_polls = 2
log = []


def configure(ap=None, polls=2):
    global _ap, _polls
    _ap = ap
    _polls = polls
    del log[:]


class WLAN:
    IF_STA = STA_IF
    IF_AP = AP_IF
    PM_NONE = 0
    PM_PERFORMANCE = 1
    PM_POWERSAVE = 2

    def __init__(self, interface_id=STA_IF):
        self._active = False
        self._status = STAT_IDLE
        self._left = 0
        self._config = {}

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        log.append(("active", self._active))
        if not self._active:
            self._status = STAT_IDLE

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("WLAN not active")
        log.append(("connect", ssid))
        if _ap is None or _ap[0] != ssid:
            self._status = STAT_NO_AP_FOUND
        elif _ap[1] != key:
            self._status = STAT_WRONG_PASSWORD
        else:
            self._status = STAT_CONNECTING
            self._left = _polls

    def disconnect(self):
        self._status = STAT_IDLE

    def status(self, param=None):
        return self._status

    def isconnected(self):
        if self._status == STAT_CONNECTING:
            self._left -= 1
            if self._left <= 0:
                self._status = STAT_GOT_IP
        return self._status == STAT_GOT_IP

    def config(self, *args, **kw):
        if args:
            return self._config.get(args[0])
        self._config.update(kw)
        log.append(("config", kw))
