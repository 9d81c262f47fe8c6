# Runs one device test inside MicroPython: device_runner.py <module> <function>.
# An uncaught exception prints MicroPython's traceback and exits non-zero; the
# marker line is printed only when the test function returned.
import sys

_mod = __import__(sys.argv[1])
getattr(_mod, sys.argv[2])()
print("DEVICE-TEST-PASSED")
