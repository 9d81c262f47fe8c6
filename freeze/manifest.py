# A MicroPython image for a board with the node frozen in: its bytecode and constants then stay
# in flash and only its objects take heap, which an ESP8266 needs (its whole heap is 38 KB).
#   make -C ports/esp8266 BOARD=ESP8266_GENERIC FROZEN_MANIFEST=/path/to/freeze/manifest.py
# (ports/esp32 likewise). main.py and the device bundle stay on the board's filesystem.
include("$(PORT_DIR)/boards/manifest.py")
include("../firmware/manifest.py")
