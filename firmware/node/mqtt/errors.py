# What went wrong, in words that say what to do: the texts of the MQTT client's errors.
# Imported only when an error is raised (node.mqtt.why), so that a board loading the
# client as .mpy keeps none of this text in RAM while all goes well.
#
# A module names a text by its index, as a private constant (`_E_CONNACK = const(19)`):
# free of RAM and folded into the bytecode. tests/host/test_mqtt_errors.py checks that every
# such constant matches the index of its name here.

TEXT = (
    # 0 SSL
    "ssl takes a context with wrap_socket (node.tls.make_context), not True",
    # 1 TIMEOUT
    "timeout must be a number of seconds > 0: nothing may block forever",
    # 2 WINDOW
    "window %r must be 0 (wait for each PUBACK) to 64",
    # 3 WILL_QOS
    "last will QoS %r must be 0, 1 or 2",
    # 4 QOS0_ID
    "packet id and DUP are for QoS 1 only",
    # 5 PUB_QOS
    "QoS %r: this client publishes with QoS 0 or 1",
    # 6 SUB_QOS
    "QoS %r: this client subscribes with QoS 0 or 1",
    # 7 PID
    "packet id %r must be 1..65535",
    # 8 PID_BUSY
    "packet id %d is in flight already: ids must not be reused until acknowledged",
    # 9 NO_CB
    "set_callback() before subscribe(): messages need somewhere to go",
    # 10 KEEPALIVE
    "keepalive %r must be 0..65535 seconds",
    # 11 PW_USER
    "MQTT 3.1.1 sends a password only with a user name: set the user too",
    # 12 TOO_LONG
    "%s of %d bytes is too long for MQTT (65535 at most)",
    # 13 TOPIC
    "topic %r: publish to a plain topic name (not empty, no wildcard, no NUL)",
    # 14 PACKET
    "MQTT packet of %d bytes is over the protocol's limit",
    # 15 FULL
    "in-flight window full (%d messages): connect() to send them",
    # 16 SUBACK
    "subscription to %r refused (SUBACK 0x80): the broker's ACL does not let this " "user read it",
    # 17 NOT_CONN
    "not connected: call connect() first",
    # 18 CONNACK
    "no CONNACK within %s s: the broker does not answer",
    # 19 PUBACK
    "no PUBACK within %s s: the broker stopped answering",
    # 20 PUBACK_W
    "no PUBACK within %s s with the window full",
    # 21 SUBACK_T
    "no answer to SUBSCRIBE/UNSUBSCRIBE within %s s",
    # 22 PINGRESP
    "no PINGRESP within %s s: the broker stopped answering",
    # 23 CLOSED
    "the broker closed the connection",
    # 24 RESOLVE
    "cannot resolve broker host %r: check mqtt.host and DNS",
    # 25 TCP
    "no TCP connection to %s:%d: is the broker running there, and is the port right?",
    # 26 TRUNCATED
    "connection closed in the middle of a packet (truncated)",
    # 27 LEN5
    "malformed remaining length: more than 4 bytes",
    # 28 PUB_QOS2
    "PUBLISH with QoS %d: this client subscribes with QoS 0 or 1",
    # 29 SHORT
    "PUBLISH of %d bytes is too short",
    # 30 PAST
    "PUBLISH topic length %d runs past the end of its packet (%d bytes)",
    # 31 PID0
    "PUBLISH with QoS 1 and packet id 0",
    # 32 BIG
    "incoming packet of %d bytes is over max_packet (%d): refused",
    # 33 TYPE
    "unexpected packet type 0x%02x",
    # 34 LENGTH
    "packet type 0x%02x with %d bytes, not %d",
    # 35 FLAGS
    "CONNACK flags 0x%02x",
    # 36 SUBCODE
    "SUBACK return code 0x%02x",
    # 37 UNKNOWN
    "PUBACK for packet id %d, which is not in flight",
    # 38 EARLY
    "packet type 0x%02x before CONNACK",
    # 39 CONNACK2
    "a second CONNACK",
    # 40 UNASKED
    "%s for packet id %d, which was not asked for",
    # 41 REFUSED: CONNACK return codes 1 to 5 (MQTT 3.1.1, 3.2.2.3), then any other
    "the broker refused the protocol version: it must accept MQTT 3.1.1 (level 4)",
    "the broker rejected the client id: use a non-empty id of letters and digits, unique per "
    "device (mqtt.client_id)",
    "the broker is unavailable (server unavailable): try again later",
    "bad username or password: check mqtt.user and mqtt.password against the broker's "
    "password file",
    "not authorized: wrong username/password, or the broker's ACL/config refuses this client "
    "(Mosquitto answers a wrong password with this code): check mqtt.user/mqtt.password, the "
    "broker's password file and its ACL",
    # 46 REFUSED_OTHER
    "unknown CONNACK return code %d",
)
