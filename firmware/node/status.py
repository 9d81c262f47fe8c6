# The node's own messages beside its readings, under <topic_prefix>/:
#   status   retained: {"state": "online"}, {"state": "sleeping", "next_wake": t} before a deep
#            sleep, and the last will {"state": "offline"}, which the broker publishes only when
#            the node vanished without a DISCONNECT
#   stats    what the node counted since its last cold boot (see stats())
#   reply    the answer to each command received on cmd/<name>
import json


def online(t):
    return json.dumps({"state": "online", "t": t})


def sleeping(t, next_wake):
    return json.dumps({"state": "sleeping", "t": t, "next_wake": next_wake})


OFFLINE = '{"state": "offline"}'


def stats(st, cfg, buffered, free_heap, t):
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
        "delivery_pct": round(100 * st.delivered / taken, 1) if taken else 100.0,
        "free_heap": free_heap,
        "uptime_s": st.up_s,
        "awake_ms": st.awake_ms,
        "cycles": st.cycles,
    })
