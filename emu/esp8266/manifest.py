# The ESP8266 board emulator freezes what a board image freezes (the node, through the same
# firmware/manifest.py as freeze/manifest.py), on top of what the unix port freezes (ssl among
# it). The unix board simulator is frozen too: it stands in for a board's frozen adapter and C
# drivers, which take no heap for their code either.
include("$(PORT_DIR)/variants/manifest.py")
include("../../firmware/manifest.py")
module("simboard.py", base_path="../../firmware/sim")
module("simchip.py", base_path="../../firmware/sim")
module("simflash.py", base_path="../../firmware/sim")
module("simradio.py", base_path="../../firmware/sim")
module("radiomodel.py", base_path="../../firmware/sim")
# umqtt.robust as the ESP32 images freeze it: the reference for `make bench`.
require("umqtt.simple")
require("umqtt.robust")
module("wake_probe.py", base_path="../../bench/device")
module("umqtt_wake.py", base_path="../../bench/device")
