# The node as a MicroPython package, for freezing and for mip: freeze/manifest.py includes it
# in a board image, emu/ in the board emulators; `mpremote mip install` reads package.json beside
# it. package.json is the one list of the node's modules (this manifest freezes what it lists);
# the unix board simulator (sim/) is outside the package and never part of a board's firmware.
# node/manifest.py (and node/package.json) are the MQTT client with TLS alone.
import json

with open("package.json") as f:     # the manifest's folder is the current one while it runs
    _PACKAGE = json.load(f)
metadata(version=_PACKAGE["version"], description=_PACKAGE["description"])

package("node", files=[target[len("node/"):] for target, _ in _PACKAGE["urls"]])
