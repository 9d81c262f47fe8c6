"""Reading numbers and packet ids across their wraps, at the node level: whole wakes of the
firmware against a real Mosquitto, readings 65534 to 65536 taken in one wake that also crosses
a block of numbers reserved in flash. Every expected value is written out here, not computed
by the formula the code uses."""

import re

TIMEOUT = 1
# Three readings a wake; the state in RTC memory says the next number is 65534 and the block
# of numbers reserved in flash ends at 65535: reading 65535 reserves the next block.
NODE = {"interval_s": 1, "stay_connected_below_s": 0, "readings_per_wake": 3}


def publishes(log, dup):
    """Packet ids of the readings the broker received, with DUP (1) or without (0)."""
    return [int(m) for m in re.findall(
        r"Received PUBLISH from node-1 \(d%d, q1, r0, m(\d+), 'nodes/node-1/readings'" % dup, log)]


def test_readings_65534_to_65536_wrap_their_packet_ids_and_cross_a_numbering_block(broker_factory, node_sim):
    b = broker_factory(extra=["log_type debug"])
    sim = node_sim(broker=b, proxy=True, node_opts=NODE, mqtt_opts={"timeout": TIMEOUT})
    sim.wake()
    assert sim.taken() == [1, 2, 3]
    assert sim.flash()["numbers"] == "1025"             # numbers 1 to 1024 reserved
    sim.edit_rtc(next_n=65534, n_limit=65535)

    # The broker gets them, the node hears no PUBACK: they wait in RTC memory.
    mark = len(b.log_text())
    sim.proxy.pass_records = 1                          # CONNACK only
    w = sim.wake()
    sim.proxy.pass_records = None
    assert "delivery failed" in w.output, w.output
    assert sim.taken(sim.node.wakes[-1:]) == [65534, 65535, 65536]
    assert publishes(b.log_text()[mark:], 0) == [65535, 1, 2]
    held = sim.flash()
    assert held["rtc"] == [65534, 65535, 65536], held
    assert held["numbers"] == "66559", held             # the next block: 65535 to 66558

    # After deep sleep they go again, same ids, DUP set; the wake's own readings follow.
    mark = len(b.log_text())
    w = sim.wake()
    assert "delivery failed" not in w.output, w.output
    assert sim.taken(sim.node.wakes[-1:]) == [65537, 65538, 65539]
    log = b.log_text()[mark:]
    assert publishes(log, 1) == [65535, 1, 2]
    assert publishes(log, 0) == [3, 4, 5]
    assert sim.wait_seqs([65534, 65535, 65536, 65537, 65538, 65539])
    assert sorted(set(sim.seqs())) == [1, 2, 3, 65534, 65535, 65536, 65537, 65538, 65539]

    # A power loss: numbering resumes at the ceiling flash kept, skipping the rest of the block.
    sim.node.power_loss()
    mark = len(b.log_text())
    w = sim.wake()
    assert "cold boot" in w.output, w.output
    assert sim.taken(sim.node.wakes[-1:]) == [66559, 66560, 66561]
    assert publishes(b.log_text()[mark:], 0) == [1025, 1026, 1027]
    assert sim.flash()["numbers"] == "67583"
