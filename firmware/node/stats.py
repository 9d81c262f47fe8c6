# What the node counted since its last cold boot, published on <topic_prefix>/stats every
# node.stats_every_s and on cmd/stats. Imported only by a wake that publishes them. (The
# status topic, retained, says "online", "sleeping" with next_wake, or the last will
# "offline"; node.app writes those.)
# The document is written as text: a dict for json.dumps would take a large block of RAM
# while the TLS connection holds its buffers.
_DOC = ('{"t": %d, "tls": "%s", "mtls": %s, "qos": %d, "taken": %d, "carried": %d, '
        '"delivered": %d, "dropped": %d, "buffered": %d, "reconnects": %d, "failures": %d, '
        '"resent": %d, "refused": %d, "oversized": %d, "commands": "%s", '
        '"delivery_pct": %.1f, "free_heap": %d, "uptime_s": %d, "awake_ms": %d, "cycles": %d}')


def document(st, cfg, buffered, free_heap, t):
    """Counters since the last cold boot. They add up: carried + taken == delivered +
    buffered + dropped, where carried is what the flash held at the cold boot."""
    tls = cfg["tls"]
    taken = st.taken + st.carried
    # the command subscription: what to fix when the broker refused it
    commands = ("refused by the broker's ACL" if st.sub_retry_at
                else "subscribed" if st.subscribed else "not yet")
    return _DOC % (
        t, tls["mode"], "true" if tls["cert"] and tls["key"] else "false", cfg["mqtt"]["qos"],
        st.taken, st.carried, st.delivered, st.dropped, buffered, st.reconnects, st.failures,
        st.resent, st.refused, st.oversized, commands,
        100 * st.delivered / taken if taken else 100.0, free_heap, st.up_s, st.awake_ms,
        st.cycles)
