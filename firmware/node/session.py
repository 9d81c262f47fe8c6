# What a wake does with its connection once the readings are delivered (node.app loads this
# after the flush, when the ring buffer's RAM is back): the command subscription, the commands
# the broker queued while the node slept, stats, Home Assistant discovery; and the loop of a
# node that stays connected. A module of its own: none of its code takes room while the TLS
# handshake and the flush need it (on an ESP32 the node's code lives in the heap).
from node.app import COMMANDS, VERSION, _unload
from node.mqtt import MQTTException


def subscribe(node):
    """The command subscription, once the readings are delivered (so that a broker that
    refuses it, or hangs up on it, holds none back); after a refusal, asked again on a slow
    schedule (1 h, doubling to a day), not every wake. False: the broker hung up on it."""
    st = node.state
    now = node.board.unix_time()
    if st.subscribed or now < st.sub_retry_at:
        return True
    try:
        node.client.subscribe(node.cmd_prefix + "#", qos=1)
    except (MQTTException, OSError) as e:
        # SUBACK 0x80; or a broker that closes the connection instead (RabbitMQ), which a
        # connection that just broke looks like once: a refusal the second time in a row.
        hung_up = isinstance(e, OSError)
        st.sub_refusals = min(st.sub_refusals + 1, 255)
        if hung_up and st.sub_refusals < 2:
            node.log("node: the connection closed on the command subscription (%s): asked "
                     "again next wake" % e)
            return False
        st.sub_retry_at = now + min(86400, 3600 << min(st.sub_refusals - 1 - hung_up, 5))
        node.log("node: the broker refused the command subscription %s# (%s): commands "
                 "will not arrive until its ACL lets this device read them; asked again "
                 "in %d s" % (node.cmd_prefix, e, st.sub_retry_at - now))
        return not hung_up          # False: the connection is gone
    st.subscribed = 1
    st.sub_refusals = st.sub_retry_at = 0
    return True


def drain_commands(node):
    """Take the commands the broker queued while the node slept (they all arrive before the
    answer to a PINGREQ sent after CONNECT), answer each, then acknowledge them."""
    c = node.client
    round_trip(node)
    if node._commands:
        from node import commands
        reply = node.cfg["mqtt"]["topic_prefix"] + "/reply"
        st = node.state
        while node._commands:
            # One at a time, each answered: none can stop the next, or the wake.
            name, msg = node._commands.pop(0)
            ok, answer = commands.handle(node, name, msg)
            if not ok:
                st.refused = min(st.refused + 1, 65535)
            node.log("node: command %s -> %s" % (name, answer))
            c.publish(reply, answer)
        _unload("commands")
    node._room = COMMANDS
    if c.ack_held():
        node._acked = True          # the wake ends with disconnect(linger=True)


def round_trip(node):
    # Until PINGRESP, or the timeout between two packets, or 32 packets.
    c = node.client
    c.ping()
    for _ in range(32):
        if c.wait_msg(node.cfg["mqtt"]["timeout"]) is None:
            break


def publish_stats(node, now):
    st = node.state
    every = node.opt["stats_every_s"]
    if not (node.stats_due or (every and now - st.stats_t >= every)):
        return
    from node import stats
    doc = stats.document(st, node.cfg, node.ledger.waiting(), node.board.free_heap(), now)
    _unload("stats")
    node.client.publish(node.cfg["mqtt"]["topic_prefix"] + "/stats", doc, True)
    st.stats_t = now
    node.stats_due = False


def discovery(node):
    # Home Assistant discovery, when what it announces changed: the key of what was announced
    # is kept in flash (node.discovery says more).
    from node.crc import crc32
    key = "0"
    if node.cfg["mqtt"]["discovery"]:
        key = "%d" % crc32(repr((VERSION, node.cfg["device_id"], node.interval, node.topic,
                                 node.sensor.FIELDS)).encode())
    try:
        with open(node.data_dir + "/discovery") as f:
            if f.readline().strip() == key:
                return
    except OSError:
        if key == "0":
            return
    from node import discovery
    discovery.announce(node, key)
    _unload("discovery")


def stay_connected(node):
    """Readings every interval over one connection; returns (to deep sleep) when it breaks."""
    st, c, board = node.state, node.client, node.board
    while True:
        node.save()
        left = (st.read_at - board.unix_time()) * 1000
        while left > 0:
            c.check_msg()               # commands, PINGRESP; PINGREQ when due
            node._feed()
            if node._commands:
                drain_commands(node)
            board.idle(min(left, max(100, c.keepalive * 250)))
            left = (st.read_at - board.unix_time()) * 1000
        new = node.take_readings(board.unix_time())
        node.ledger.take(new)
        node.save()
        flags = node.send(new)
        node.ledger.settle()
        if not all(flags):
            raise OSError("the broker did not acknowledge a reading in time")
        publish_stats(node, board.unix_time())
