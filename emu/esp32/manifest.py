# The ESP32 board emulator: the node is not frozen here; it is loaded as .mpy from the board's
# file system, as `make flash` deploys it to an ESP32. Frozen: what the unix port freezes (ssl
# among it), the unix board simulator (it stands in for the board's frozen adapter and C
# drivers), and umqtt as the ESP32 images freeze it (the reference for `make bench`).
include("$(PORT_DIR)/variants/manifest.py")
module("simboard.py", base_path="../../firmware/sim")
module("simchip.py", base_path="../../firmware/sim")
module("simflash.py", base_path="../../firmware/sim")
module("simradio.py", base_path="../../firmware/sim")
module("radiomodel.py", base_path="../../firmware/sim")
require("umqtt.simple")
require("umqtt.robust")
module("wake_probe.py", base_path="../../bench/device")
module("umqtt_wake.py", base_path="../../bench/device")
