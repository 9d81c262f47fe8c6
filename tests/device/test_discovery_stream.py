# A Home Assistant discovery config goes out piece by piece (node.discovery._publish): the
# PUBLISH on the wire is the one node.mqtt.packets builds for the whole payload, and a heap
# that runs out halfway still leaves a whole packet on the wire (the payload completed by
# spaces), so that the connection stays sound.
from mptest import eq, raises
from node import discovery
from node.mqtt import packets

TOPIC = "homeassistant/sensor/node-1/temp_c/config"
PIECES = ['{"name": ', '"Temperature"', ', "unit_of_meas": "\u00b0C"', ', "x": "'
          + "y" * 300 + '"}']


class Wire:
    """The client as _publish uses it: what it writes, write by write."""

    def __init__(self):
        self.writes = []

    def _send(self, data):
        self.writes.append(bytes(data))


def pieces(fail_at=None):
    # fail_at: the piece that finds no room (a MemoryError), on the second pass only
    calls = [0]

    def parts():
        calls[0] += 1
        for i, p in enumerate(PIECES):
            if calls[0] == 2 and i == fail_at:
                raise MemoryError("memory allocation failed")
            yield p
    return parts


def test_pieces_make_the_packet_of_the_whole_payload():
    wire = Wire()
    discovery._publish(wire, TOPIC, pieces())
    eq(b"".join(wire.writes), bytes(packets.publish(packets.check_topic(TOPIC),
                                                     "".join(PIECES), 0, True)), "the packet")
    # a header, then the payload in writes of at most 128 bytes, never one of its size
    assert len(wire.writes) > 3 and max(len(w) for w in wire.writes[1:]) <= 128, wire.writes


def test_no_room_halfway_leaves_a_whole_packet_of_spaces_after_what_went():
    for fail_at in (1, 3):
        wire = Wire()
        raises(MemoryError, discovery._publish, wire, TOPIC, pieces(fail_at))
        whole = bytes(packets.publish(packets.check_topic(TOPIC), "".join(PIECES), 0, True))
        sent = b"".join(wire.writes)
        eq(len(sent), len(whole), "the packet's length, fail_at %d" % fail_at)
        head = len(whole) - len("".join(PIECES).encode())
        eq(sent[:head], whole[:head], "the header")
        body = sent[head:]
        cut = len("".join(PIECES[:fail_at]).encode())
        eq(body[:cut], whole[head:head + cut], "what was there before the heap ran out")
        eq(body[cut:], b" " * (len(body) - cut), "then spaces")


def test_no_room_while_counting_sends_nothing():
    def parts():
        raise MemoryError("memory allocation failed")
        yield
    wire = Wire()
    raises(MemoryError, discovery._publish, wire, TOPIC, parts)
    eq(wire.writes, [], "nothing on the wire")
