# The one place that decides which board adapter runs: by sys.platform.
import sys


def load():
    if sys.platform == "esp32":
        from node.board import esp32 as board
    elif sys.platform == "esp8266":
        from node.board import esp8266 as board
    else:
        # The unix board simulator (firmware/sim/): tests, the demo and the emulators only.
        import simboard as board
    return board
