# SUBSCRIBE and UNSUBSCRIBE for node.mqtt.client (its subscribe() and unsubscribe() call in
# here): a program that never subscribes keeps none of this in RAM.
from micropython import const

from node.mqtt import MQTTException, packets, why

_E_SUB_QOS = const(6)
_E_NO_CB = const(9)
_E_SUBACK = const(16)
_E_SUBACK_T = const(21)


def request(c, topic, qos=None):
    """SUBSCRIBE topic with qos (0 or 1) and return the granted QoS; qos None: UNSUBSCRIBE.
    Waits for the answer (bounded by the client's timeout)."""
    if qos is not None:
        if c.cb is None:
            raise ValueError(why(_E_NO_CB))
        if qos not in (0, 1):
            raise ValueError(why(_E_SUB_QOS, qos))
    c._need()
    pid = c._take_pid(None)
    c._wait_pid = pid
    c._reply = None
    try:
        c._send(packets.with_id(0xA2 if qos is None else 0x82, pid, topic, qos))
        deadline = c._after(c.timeout)
        while c._reply is None:
            c._next(deadline, _E_SUBACK_T)
    finally:
        c._wait_pid = 0
    if c._reply == 0x80:
        raise MQTTException(0x80, why(_E_SUBACK, topic))
    return c._reply
