# Freeze the node into a MicroPython firmware image (its bytecode then runs from flash and
# takes no heap), which an ESP8266 needs: loaded as .mpy files the modules alone take more
# RAM than its ~30 KB of free heap (see the README's Figures). Build the port with:
#   make -C ports/esp8266 BOARD=ESP8266_GENERIC FROZEN_MANIFEST=/path/to/freeze/manifest.py
# (ports/esp32 likewise). main.py and the device bundle stay on the board's filesystem.
include("$(PORT_DIR)/boards/manifest.py")

package(
    "node",
    files=[
        "__init__.py", "app.py", "backoff.py", "clock.py", "commands.py", "config.py", "crc.py",
        "mqtt.py", "mqttcodec.py", "mqttlink.py", "numbering.py", "reading.py", "ringbuf.py",
        "selftest.py", "sensors.py", "sntp.py", "state.py", "status.py", "tls.py", "tlswatch.py",
        # The ESP board adapters; the unix simulator (unix.py, simflash.py) stays out.
        "board/__init__.py", "board/espcommon.py", "board/esp32.py", "board/esp8266.py",
    ],
    base_path="../firmware",
)
