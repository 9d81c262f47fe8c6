"""What the hostile server does on a connection: a Plan, set by a test before its client
connects. Every field has the well-behaved default, so a plan names only what it breaks."""

from dataclasses import dataclass

from .wire import TLS12

# Where a HelloRequest goes (None: nowhere).
HELLO_REQUEST_PLACES = (
    "clear, first",                 # its own record, before ServerHello
    "clear, amid the flight",       # its own record, between ServerHello and Certificate
    "clear, in the flight's record",  # in the record that carries ServerHelloDone, after it
    "clear, after the flight",      # its own record, right after the flight, in the same write
    "clear, before Finished",       # its own record once the client's Finished is in, before
                                    # the server's ChangeCipherSpec
    "encrypted, with Finished",     # in the same encrypted record as the server's Finished
    "encrypted, after Finished",    # its own encrypted record right after Finished, one write
    "encrypted, after CONNECT",     # its own encrypted record in answer to the first
                                    # application data, CONNACK right behind it
)
LAYOUTS = ("record per message", "one record")
DELIVERIES = ("whole", "byte by byte", "trickle")


@dataclass
class Plan:
    chain: tuple = ()               # DER certificates, leaf first: a well-formed Certificate
    key: object = None              # the leaf's private key; None: an impostor, which cannot
                                    # decrypt the premaster secret (nor sign)
    certificate: bytes | None = None  # the whole Certificate message as sent, instead of chain's
    version: int = TLS12            # the version ServerHello chooses (and the records carry)
    key_exchange: str = "rsa"       # or "ecdhe_rsa": a signed ServerKeyExchange
    signing_key: object = None      # signs ServerKeyExchange; None: key
    request_client_cert: bool = False
    refuse_client_cert: bool = False  # the client's Certificate gets a fatal alert: empty,
                                    # handshake_failure; any other (axTLS sends a built-in
                                    # one), unknown_ca: a broker that requires one of its CA's
    hello_request: str | None = None
    layout: str = "record per message"
    record_size: int = 1 << 14      # the largest record the server sends (plaintext bytes)
    delivery: str = "whole"
    trickle_interval: float = 1.0   # seconds between two bytes when trickling
    byte_interval: float = 0.001    # seconds between two bytes, byte by byte
    renegotiation_chain: tuple = () # what a second handshake presents (it needs its key)
    renegotiation_key: object = None
    answer_connect: bool = True     # CONNACK (accepted) to a CONNECT

    def __post_init__(self):
        if self.hello_request not in (None,) + HELLO_REQUEST_PLACES:
            raise ValueError(f"hello_request {self.hello_request!r}: one of {HELLO_REQUEST_PLACES}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r}: one of {LAYOUTS}")
        if self.delivery not in DELIVERIES:
            raise ValueError(f"delivery {self.delivery!r}: one of {DELIVERIES}")
