"""A whole wake of the node (firmware/main.py) against the hostile server, on the unix board and
on the ESP8266 emulator: a server that sends its handshake one byte per second does not hold
the node awake. The wake gives up at the handshake deadline, keeps its reading, and deep-sleeps
on its backoff (try 1: 1 to 1.5 s); nothing it sends carries the password."""

import json
import re

import pytest

from host_tools import provision
from host_tools.simnode import SimNode

import emu

from rig import SECRET, no_application_data, story, well_behaved

FAILED = re.compile(r"node: delivery failed \((.*)\); try (\d+)")
HANDSHAKE_S = 4
SLACK = 6.0             # seconds a wake takes around its handshake (start, Wi-Fi, sleep)
FIRST_BACKOFF_MS = (1000, 1500)


def bundle(tmp_path, server, board, pinned, ca_der):
    ca = tmp_path / "ca.der"
    ca.write_bytes(ca_der)
    out = provision.write_bundle(tmp_path / "bundle", "node-1", host=server.host,
                                 port=server.port, ca_der=ca, user="node-1",
                                 password=SECRET.decode(), tls_mode="pin", pins=[pinned.pin],
                                 server_hostname="localhost", board=board,
                                 node={"interval_s": 60, "stats_every_s": 0},
                                 wifi={"ssid": "lab", "password": "secret"})
    cfg = json.loads((out / "config.json").read_text())
    cfg["tls"]["handshake_s"] = HANDSHAKE_S
    (out / "config.json").write_text(json.dumps(cfg))
    return out


@pytest.mark.parametrize("board", ["unix", "esp8266"])
def test_a_trickling_server_is_cut_at_the_deadline_and_the_node_sleeps_on_its_backoff(
        board, request, hostile, certificates, tmp_path):
    folder = bundle(tmp_path, hostile, board, certificates.pinned, certificates.ca)
    if board == "unix":
        node = SimNode(folder, tmp_path / "sim")
    else:
        node = emu.EmuNode(request.getfixturevalue("esp8266_board"), folder, tmp_path / "sim",
                           heapsize=28672)
    hostile.plan = well_behaved(certificates, delivery="trickle")
    mark = hostile.mark()
    wake = node.wake(timeout=HANDSHAKE_S + SLACK + 20)
    sessions = hostile.since(mark, settle=5)
    told = f"wake ({wake.outcome}, {wake.seconds:.1f} s):\n{wake.output}\n" + story(
        wake.outcome, sessions)
    found = FAILED.search(wake.output)
    assert wake.outcome == "slept" and found, told
    assert "handshake" in found.group(1) and found.group(2) == "1", told
    assert FIRST_BACKOFF_MS[0] <= wake.sleep_ms <= FIRST_BACKOFF_MS[1], told
    assert wake.seconds <= HANDSHAKE_S + SLACK, told
    assert no_application_data(sessions), told
