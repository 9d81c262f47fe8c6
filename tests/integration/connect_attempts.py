# Run under MicroPython (the unix port), not pytest: the node's own connect (node.connect:
# TLS context, handshake, CONNECT) attempted once per line read from stdin, in one process,
# so that a test can cut the connection at a thousand places without starting a wake for
# each (a Node connects once, as a wake does: a new one for each attempt). Prints one JSON
# line per attempt: {"ok": bool, "error": the exception's type, "message": its text, "ms":
# how long the attempt took}. The device bundle is $NODE_DIR, the board's files $NODE_SIM
# (firmware/sim/simboard.py).
import json
import sys
import time

from node import board as boards
from node import config
from node.app import Node
from node.connect import connect

board = boards.load()
while sys.stdin.readline():
    t0 = time.ticks_ms()
    node = Node(board, config.load(board.bundle_dir()))
    keepalive = node.cfg["mqtt"]["keepalive"]
    try:
        connect(node, lambda: [], keepalive)
        node.client.disconnect()
        out = {"ok": True, "error": None, "message": ""}
    except Exception as e:      # what the wake would catch (node.app: failed())
        out = {"ok": False, "error": type(e).__name__, "message": str(e)}
    out["ms"] = time.ticks_diff(time.ticks_ms(), t0)
    print(json.dumps(out))
