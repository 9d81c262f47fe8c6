"""What a user gives `provision` (names, hosts, ports, Wi-Fi, pins), checked before anything is
written, each refusal naming the value, where it came from and what to do."""

import base64
import binascii
import ipaddress
import re

from ..errors import UserError
from ..pki.x509 import KEY_PIN

# No '.': RabbitMQ's MQTT plugin turns a topic's '/' into '.', so "node/cmd/#" would also match
# the topics of a device named "node.cmd", and one device could read another's commands.
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
PLAIN_PORT = 1883          # MQTT's plain-text port; TLS is 8883 by convention


def check_device_id(device_id: str):
    # fullmatch: a name with a trailing newline is not the same name.
    if not isinstance(device_id, str) or not _DEVICE_ID.fullmatch(device_id):
        raise UserError(f"device name {device_id!r} cannot be used: 1 to 64 letters, digits, '_' "
                        "or '-', starting with a letter or digit (it becomes the MQTT user, "
                        "client id, topic prefix and a folder name; no '.', which RabbitMQ's MQTT "
                        "plugin cannot tell from a topic's '/')")


def check_host(host: str, where: str):
    """A host name or an IP address, as a device connects to it (no scheme, no port)."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not name or not all(_HOST_LABEL.fullmatch(p) for p in name.split(".")):
        raise UserError(f"{host!r} ({where}) is not a host name or an IP address: give the name "
                        "alone, e.g. broker.lan or 192.168.1.10 (no mqtts://, no :port)")


def host_and_port(text: str, default_port: int, where: str) -> tuple:
    """HOST or HOST:PORT (an IPv6 address in brackets: [::1]:8883), checked."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    check_host(host, where)
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{text!r} ({where}): the port after ':' must be a number 1-65535")
    return host, int(port)


def check_tls_port(port: int, where: str, allowed: bool):
    if port == PLAIN_PORT and not allowed:
        raise UserError(f"{where} is {PLAIN_PORT}, MQTT's plain-text port, and the node speaks only "
                        "TLS (8883 by convention): give the broker's TLS port (--port 8883), or "
                        f"--tls-on-plain-port if its TLS listener really is on {PLAIN_PORT}")


def wifi(ssid: str | None, given: str | None, stored: dict, open_network: bool, board: str) -> dict:
    """The Wi-Fi section of a bundle. `given` is WIFI_PASSWORD (None when not set). An empty
    WIFI_PASSWORD never erases a stored password; an open network is written only when asked."""
    ssid = ssid or stored.get("ssid")
    if not ssid:
        raise UserError(f"an {board} board joins a Wi-Fi network: give --wifi-ssid NAME and put "
                        "its password in WIFI_PASSWORD (environment or .env)")
    if len(ssid.encode()) > 32:
        raise UserError(f"Wi-Fi name {ssid!r} is longer than 32 bytes: check --wifi-ssid")
    if open_network:
        if given:
            raise UserError("--open-wifi and WIFI_PASSWORD disagree: unset WIFI_PASSWORD for an "
                            "open network, or drop --open-wifi")
        return {"ssid": ssid, "password": ""}
    same_network = stored.get("ssid") == ssid
    password = given or (stored.get("password") if same_network else None)
    if password is None or (password == "" and not same_network):
        raise UserError(f"no password for the Wi-Fi network {ssid}: put it in WIFI_PASSWORD "
                        "(environment or .env), or pass --open-wifi for a network without one")
    # An open network stays open only when the bundle says so already.
    if password and not (8 <= len(password) <= 63 or re.fullmatch(r"[0-9a-fA-F]{64}", password)):
        raise UserError("WIFI_PASSWORD must have 8 to 63 characters (WPA2), or 64 hex digits: fix "
                        "it in the environment or .env")
    return {"ssid": ssid, "password": password}


def normalise_pin(pin: str) -> str:
    """A pin as tls.pins holds it: a certificate's SHA-256 as 64 lower-case hex digits (colons
    dropped), or a key pin "sha256//" + the standard base64 of 32 bytes, padded."""
    pin = pin.strip()
    if pin.startswith(KEY_PIN):
        return _key_pin(pin)
    hexpin = pin.replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", hexpin):
        raise UserError(f"--pin {pin!r} is not a SHA-256 fingerprint: give 64 hex digits, or a "
                        "key pin sha256//BASE64 (`certs show` prints both)")
    return hexpin


def _key_pin(pin: str) -> str:
    text = pin[len(KEY_PIN):]
    text += "=" * (-len(text) % 4)          # curl writes the padding; accept it left out
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        digest = None
    if digest is None or len(digest) != 32:
        got = "not base64" if digest is None else f"{len(digest)} bytes, not 32"
        raise UserError(f"--pin {pin!r} is not a key pin ({got}): give sha256// and the standard "
                        "base64 (A-Z a-z 0-9 + /, 44 characters with the '=') of the SHA-256 of "
                        "the broker's public key, as `certs show FILE` or curl --pinnedpubkey "
                        "prints it")
    return KEY_PIN + base64.b64encode(digest).decode()


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
