# Fake `esp` (ESP8266): the documented sleep_type() and its constants.
SLEEP_NONE = 0
SLEEP_LIGHT = 1
SLEEP_MODEM = 2
_sleep_type = SLEEP_NONE


def sleep_type(t=None):
    global _sleep_type
    if t is None:
        return _sleep_type
    _sleep_type = t
