# RAM each module takes once imported, for `make bench`: micropython module_ram.py MOD [MOD ...]
# imports them in order and prints one JSON line {module: bytes}. Run on the esp8266 emulator
# (the node frozen, its code in flash): what is left is the modules' objects (their globals,
# function and class objects, mutable data).
import gc
import json
import sys

out = {}
gc.collect()
base = gc.mem_alloc()
for name in sys.argv[1:]:
    __import__(name)
    gc.collect()
    now = gc.mem_alloc()
    out[name] = now - base
    base = now
print(json.dumps(out))
