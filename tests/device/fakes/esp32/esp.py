# Fake `esp` of MicroPython's esp32 port (ports/esp32/modesp.c, MicroPython 1.29): flash access
# and log levels only. It has no sleep_type() and no deepsleep() (the ESP8266's): code that
# calls them on an ESP32 fails here as on the board, with AttributeError.
LOG_NONE = 0
LOG_ERROR = 1
LOG_WARNING = 2
LOG_INFO = 3
LOG_DEBUG = 4
LOG_VERBOSE = 5
