# How a wake gets its connection to the broker (node.app loads this for connect() and lets it
# go once connected, so its code takes no room during the flush): Wi-Fi and the route to the
# broker (node.netpath), the clock (NTP when it was never set), TCP, TLS with the broker
# authenticated, then the MQTT client and CONNECT with the first window of readings in the
# same flight. What only a connection needs (Wi-Fi and TLS settings, the broker list, the
# TLS context and its module) goes as soon as it is used, its RAM to the handshake and the
# flush. On axTLS (ESP8266), which takes its memory from the same heap, the MQTT client's code
# loads only once the TLS handshake is done; on mbedtls (ESP32), whose memory is elsewhere,
# before it, while the heap is whole.
import gc
import time

from node.app import _unload


def connect(node, first, keepalive):
    """The node (node.app's Node) connected: node.client logged in, with first() (the first
    window of readings, taken once the TLS handshake is done) in CONNECT's flight. Once per
    Node: a wake makes one connection."""
    mq = node.cfg["mqtt"]
    board = node.board
    # The wake's time online ends at a deadline (node.online_s), kept by the TLS stream on
    # every read and write of the connection; a node that stays connected has none.
    until = time.ticks_add(time.ticks_ms(), node.opt["online_s"] * 1000)
    brokers, name = _pick_broker(node)
    st = node.state
    # Connected before anything else, so that the way there takes no RAM during the
    # TLS handshake.
    way = route(node)
    try:
        raw, addr = way.dial(mq["host"], mq["port"], mq["timeout"])
    except OSError:
        st.broker = (st.broker + 1) % brokers     # unreachable: the next one next time
        raise
    node.stale = way = None
    _unload("netpath")
    _unload("netcache")
    try:
        node.ensure_clock()
        from node.tls import make_context
        ctx = make_context(node.cfg["tls"], board.bundle_dir())
    except BaseException:
        raw.close()
        raise
    # Stats keep the TLS mode and whether a client certificate is set.
    tls = node.cfg["tls"]
    node.cfg["wifi"] = None
    node.cfg["tls"] = {"mode": tls["mode"], "cert": tls["cert"], "key": tls["key"]}
    tls = None                         # (the whole section's RAM goes to the handshake)
    if ctx and not ctx.axtls:
        # mbedtls takes its memory outside this heap: the client's code loads now, while the
        # heap is whole (on axTLS only once the handshake is done, below).
        from node.mqtt.client import MQTTClient  # noqa: F401
    if ctx:
        ctx.until = None if node.interval < node.opt["stay_connected_below_s"] else until
        if name:
            ctx.server_hostname = name
    # Whether the broker's session holds the command subscription is known only from a
    # CONNACK: a connection that breaks before it may have left a new session without it.
    known = st.subscribed
    st.subscribed = 0
    node.release_ring()
    gc.collect()                       # the handshake needs large blocks: free the garbage
    gc.threshold(-1)
    conn = None
    try:
        conn = _tls(raw, addr, mq, ctx)
        ctx = make_context = None
        _unload("tls")
        _unload("tlshandshake")
        # The first window is read before the client's code is loaded: the ring buffer
        # opens in the heap the handshake left, and the client's code and objects took
        # none of the RAM the TLS library needed for it.
        records = first()
        from node.mqtt.client import MQTTClient
        c = node.client = MQTTClient(mq["client_id"], mq["host"], mq["port"], mq["user"],
                                     mq["password"], keepalive,
                                     timeout=mq["timeout"], window=mq["window"],
                                     max_packet=mq["max_packet"], early=mq["early"],
                                     keep=False)
        c.set_callback(node._on_message)
        c.defer_acks = True                # a command is acknowledged once it has run
        c.on_ack = node.ledger.acked.add
        c.on_sent = node.ledger.sent
        c.on_oversized = node._on_oversized
        c.set_last_will(node.t_status, '{"state": "offline"}', retain=True, qos=1)
        # QoS 1: the first window goes in CONNECT's flight, one message made at a time.
        node._queued = len(records) if mq["qos"] else 0
        present = c.connect(mq["clean_session"], (lambda: (node._message(r) for r in records))
                            if mq["qos"] else None, conn)
    except BaseException:
        # This broker did not answer, or its certificate did not check (then CONNECT and
        # its password never went out): the next connection tries the next one.
        st.broker = (st.broker + 1) % brokers
        for s in conn or (raw,):
            s.close()                  # (the client closes what it took; twice is harmless)
        raise
    if st.attempt:
        st.reconnects += 1             # the broker is back after failed attempts
    if present and known:
        st.subscribed = 1
    c.publish(node.t_status, node.status("online"), retain=True)


def _tls(raw, addr, mq, ctx):
    """TLS over raw, the TCP connection to the broker (at addr), with the broker
    authenticated: (raw, the socket to speak MQTT on), for the MQTT client's connect()."""
    if not ctx:
        return raw, raw
    from node.mqtt.link import open_tcp
    port, timeout = mq["port"], mq["timeout"]
    ctx.redial = lambda: open_tcp(addr, port, timeout)     # to look at a refusal again
    ctx.timeout = timeout                                   # the socket's, kept
    try:
        sock = ctx.wrap_socket(raw, server_hostname=mq["host"])
    except BaseException:
        raw.close()
        raise
    ctx.close()
    return raw, sock


def _pick_broker(node):
    """mqtt.host/port (and the name the TLS context checks) become the broker of
    mqtt.hosts to try, the one that answered last; the list goes, so that its RAM goes to
    the handshake. Returns how many there are and the name its certificate must carry
    (None: the TLS context's own)."""
    mq = node.cfg["mqtt"]
    hosts = mq["hosts"]
    if not hosts:
        return 1, None
    st = node.state
    n = len(hosts)
    st.broker %= n
    mq["host"], mq["port"], name = hosts[st.broker]
    mq["hosts"] = None
    node.log("node: broker %d of %d, %s:%d" % (st.broker + 1, n, mq["host"], mq["port"]))
    return n, name


def route(node):
    """Wi-Fi up (node.netpath: from what the last wake kept); the route to the broker."""
    from node.netpath import Route
    way = Route(node.board, node.netcache, node.cfg["wifi"], node.opt, node.stale)
    way.up()
    return way
