# The simulator board: the node on the unix port of MicroPython.
# The device bundle (config.json, CA, keys) lives in $NODE_DIR, or the current directory.
import os

NAME = "unix"


def bundle_dir():
    return os.getenv("NODE_DIR") or "."


def wifi_connect(cfg, timeout_ms):
    # The host's network is always up for the simulator.
    return True
