# The node's MQTT 3.1.1 client with TLS as a package of its own, for a frozen build of your own:
#   include("<this repository>/firmware/node/manifest.py")
# or add_library("mqtt-node", "<this repository>/firmware") and require("node",
# library="mqtt-node"). node.mqtt.robust is a drop-in for umqtt.robust; node.tls makes the TLS
# context (CA, or a pin of the broker's certificate or of its public key, ESP8266 too).
# package.json beside it is the same package for `mpremote mip install` and the one list of its
# modules.
import json

with open("package.json") as f:     # the manifest's folder is the current one while it runs
    _PACKAGE = json.load(f)
metadata(version=_PACKAGE["version"], description=_PACKAGE["description"])

package("node", files=[target[len("node/"):] for target, _ in _PACKAGE["urls"]], base_path="..")
