"""A hostile TLS 1.2 server of the project's own, for testing the node's TLS client against
what no TLS library sends: Certificate messages of any shape, TLS 1.0/1.1 chosen by the
server, HelloRequests in any record arrangement, a server that trickles, impostors that hold
the pinned certificate but not its key. The cryptography (RSA, ECDHE, AES-CBC, HMAC) comes
from `cryptography`; the protocol is written here from RFC 5246.

    wire      records and handshake messages
    keys      PRF, master secret, key block, Finished; the cipher suites spoken
    protect   CBC + HMAC record protection
    plan      what the server does on a connection (Plan)
    channel   one connection's record layer and delivery (whole, byte by byte, trickled)
    session   the server's side of a connection: handshakes, renegotiation, CONNACK
    log       what the client did (SessionLog)
    server    HostileServer: listener, a thread per connection
    certmsg   Certificate messages: a reference check and the mutations the fuzz sends
    client    the node's TLS client under MicroPython (unix port or ESP8266 emulator)
"""

from .log import SessionLog  # noqa: F401
from .plan import HELLO_REQUEST_PLACES, Plan  # noqa: F401
from .server import HostileServer  # noqa: F401
