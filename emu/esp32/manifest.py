include("$(PORT_DIR)/variants/manifest.py")
require("umqtt.robust")
