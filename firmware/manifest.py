# The node as a MicroPython package, for freezing and for mip: freeze/manifest.py includes it
# in a board image, emu/ in the board emulators. Every module under node/ goes; the unix board
# simulator (sim/) is outside the package and never part of a board's firmware.
metadata(version="0.2.0", description="Battery MQTT-over-TLS sensor node for ESP8266/ESP32")

package("node")
