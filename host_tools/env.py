"""The MQTT_* settings of the usual Mosquitto TLS guides (and WIFI_SSID/WIFI_PASSWORD), from the
environment or `.env`.

Names and the aliases those guides use (the first name of each row is the one we print):

    MQTT_BROKER_HOST  MQTT_HOST          MQTT_CA_CERTS   MQTT_CA_CERT
    MQTT_BROKER_PORT  MQTT_PORT          MQTT_CERTFILE   MQTT_CLIENT_CERT
    MQTT_USE_TLS                         MQTT_KEYFILE    MQTT_CLIENT_KEY
    MQTT_TLS_INSECURE                    MQTT_USERNAME   MQTT_USER
    MQTT_PASSWORD     MQTT_CLIENT_ID

The process environment wins over the .env file (as python-dotenv does). A name that looks
like a misspelt setting (MQTT_BROKR_HOST, mqtt_host) gets a warning naming the intended one.
"""

import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError

SETTINGS = {
    "MQTT_BROKER_HOST": ("host", ("MQTT_HOST",)),
    "MQTT_BROKER_PORT": ("port", ("MQTT_PORT",)),
    "MQTT_USE_TLS": ("use_tls", ()),
    "MQTT_TLS_INSECURE": ("tls_insecure", ()),
    "MQTT_CA_CERTS": ("ca_certs", ("MQTT_CA_CERT",)),
    "MQTT_CERTFILE": ("certfile", ("MQTT_CLIENT_CERT",)),
    "MQTT_KEYFILE": ("keyfile", ("MQTT_CLIENT_KEY",)),
    "MQTT_USERNAME": ("username", ("MQTT_USER",)),
    "MQTT_PASSWORD": ("password", ()),
    "MQTT_CLIENT_ID": ("client_id", ()),
    # host_tools' own: the network `provision` writes into a board's bundle.
    "WIFI_SSID": ("wifi_ssid", ()),
    "WIFI_PASSWORD": ("wifi_password", ()),
}
ALL_NAMES = [n for canon, (_, aliases) in SETTINGS.items() for n in (canon,) + aliases]
SECRET = ("MQTT_PASSWORD", "WIFI_PASSWORD")
PREFIXES = ("MQTT_", "WIFI_")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass
class Settings:
    host: str | None = None
    port: int | None = None
    use_tls: bool | None = None       # None: not given (TLS unless the port is 1883)
    tls_insecure: bool = False
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    origin: dict = field(default_factory=dict)   # attribute -> "NAME (where)"
    warnings: list = field(default_factory=list)

    @property
    def tls(self) -> bool:
        if self.use_tls is not None:
            return self.use_tls
        return self.port != 1883

    def effective_port(self) -> int:
        return self.port or (8883 if self.tls else 1883)


def parse_dotenv(text: str, where: str = ".env") -> dict:
    """KEY=VALUE lines; `export ` prefix, quotes and trailing ` # comments` as shells write them."""
    values = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            raise UserError(f"{where} line {lineno} is not NAME=value: {raw.strip()[:40]!r}: fix or remove it")
        value = value.strip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            end = value.find(quote, 1)
            if end < 0:
                raise UserError(f"{where} line {lineno}: {name} has no closing {quote}: close the quote")
            value = value[1:end]
        else:
            # Guides write `MQTT_TLS_INSECURE=true  # Required for self-signed certs`.
            hash_at = value.find(" #")
            if hash_at >= 0:
                value = value[:hash_at].rstrip()
        values[name] = value
    return values


def suggest(name: str):
    """The setting a misspelt MQTT_ name probably meant, or None."""
    upper = name.upper()
    if upper in ALL_NAMES:
        return upper
    close = difflib.get_close_matches(upper, ALL_NAMES, n=1, cutoff=0.75)
    return close[0] if close else None


def _typo_warnings(names, where):
    out = []
    for name in names:
        if name in ALL_NAMES or not name.upper().startswith(PREFIXES):
            continue
        meant = suggest(name)
        if meant:
            out.append(f"{name} ({where}) is not a setting host_tools reads: did you mean {meant}?")
    return out


def _parse_value(attr, name, value, where):
    if attr == "port":
        try:
            port = int(value)
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            raise UserError(f"{name}={value!r} ({where}) is not a port: give a number from 1 to 65535")
        return port
    if attr in ("use_tls", "tls_insecure"):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise UserError(f"{name}={value!r} ({where}) is not true or false: write true or false")
    if attr == "wifi_password":
        return value          # empty: an open network
    return value or None


def load(environ=None, dotenv: Path | None = Path(".env"), required_dotenv=False) -> Settings:
    """Read the settings; `dotenv=None` skips the file, a missing default .env is fine."""
    environ = os.environ if environ is None else environ
    file_values = {}
    dotenv_where = str(dotenv) if dotenv else None
    if dotenv is not None:
        path = Path(dotenv)
        if path.is_file():
            file_values = parse_dotenv(path.read_text(errors="replace"), str(path))
        elif required_dotenv:
            raise UserError(f"{path} does not exist: give the path of your .env file")
    settings = Settings()
    settings.warnings += _typo_warnings(file_values, dotenv_where)
    settings.warnings += _typo_warnings(environ, "environment")
    # File first, then the environment on top; within one source two names of the same
    # setting must agree.
    for source, where in ((file_values, dotenv_where), (environ, "environment")):
        for canon, (attr, aliases) in SETTINGS.items():
            given = [(n, source[n]) for n in (canon,) + aliases if n in source]
            if not given:
                continue
            if len({v for _, v in given}) > 1:
                listed = " and ".join(f"{n}={v!r}" if n not in SECRET else n for n, v in given)
                raise UserError(f"{listed} ({where}) disagree: set only {canon}")
            name, value = given[0]
            setattr(settings, attr, _parse_value(attr, name, value, where))
            settings.origin[attr] = f"{name} ({where})"
    return settings


def warn(settings: Settings, stream=None):
    for text in settings.warnings:
        print(f"host_tools: warning: {text}", file=stream or sys.stderr)


def describe(settings: Settings) -> list:
    """Lines for `host_tools env`: each setting, where it came from; secrets never shown."""
    lines = []
    for canon, (attr, _) in SETTINGS.items():
        value = getattr(settings, attr)
        if value is None:
            shown = "(not set)"
        elif canon in SECRET:
            shown = "(set, hidden)"
        else:
            shown = str(value)
        origin = settings.origin.get(attr)
        lines.append(f"{canon:18} {shown}" + (f"   from {origin}" if origin else ""))
    lines.append(f"{'=> connect to':18} {settings.host or '(no host)'}:{settings.effective_port()} "
                 f"{'over TLS' if settings.tls else 'in plain text'}"
                 + (" without verifying the broker (MQTT_TLS_INSECURE)" if settings.tls and settings.tls_insecure else ""))
    return lines


def command(ctx, args):
    """`env`: each setting and where it came from."""
    for line in describe(ctx.settings()):
        print(line, flush=True)
    return 0
