# What the node counted since its last cold boot, published on <topic_prefix>/stats every
# node.stats_every_s and on cmd/stats. Imported only by a wake that publishes them. (The
# status topic, retained, says "online", "sleeping" with next_wake, or the last will
# "offline"; node.app writes those.)
import json


def document(st, cfg, buffered, free_heap, t):
    """Counters since the last cold boot. They add up: carried + taken == delivered +
    buffered + dropped, where carried is what the flash held at the cold boot."""
    tls = cfg["tls"]
    taken = st.taken + st.carried
    return json.dumps({
        "t": t,
        "tls": tls["mode"],
        "mtls": bool(tls["cert"] and tls["key"]),
        "qos": cfg["mqtt"]["qos"],
        "taken": st.taken,
        "carried": st.carried,
        "delivered": st.delivered,
        "dropped": st.dropped,
        "buffered": buffered,
        "reconnects": st.reconnects,
        "failures": st.failures,
        "resent": st.resent,
        "refused": st.refused,
        "oversized": st.oversized,
        # the command subscription: what to fix when the broker refused it
        "commands": ("refused by the broker's ACL" if st.sub_retry_at
                     else "subscribed" if st.subscribed else "not yet"),
        "delivery_pct": round(100 * st.delivered / taken, 1) if taken else 100.0,
        "free_heap": free_heap,
        "uptime_s": st.up_s,
        "awake_ms": st.awake_ms,
        "cycles": st.cycles,
    })
