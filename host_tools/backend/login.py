"""A back end's MQTT login: the MQTT_* settings (environment, .env or --env-file), or the file
`broker user NAME` wrote (--login NAME), made into a paho client over TLS.

Each back end (fleet, collect, a `sim` watching its node) should have a login of its own: the
broker binds a login's client id to its name, so two programs on one login take over each
other's connection.
"""

import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho

from .. import env
from ..errors import UserError


@dataclass
class Login:
    host: str
    port: int
    username: str
    password: str
    tls: bool = True
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False
    client_id: str | None = None
    source: str = ""

    def describe(self):
        return (f"{self.username} at {self.host}:{self.port}"
                + (" over TLS" if self.tls else " in plain text") + f" ({self.source})")


def resolve(ctx, name: str | None = None) -> Login:
    """--login NAME: build/users/NAME.env alone; otherwise the MQTT_* settings."""
    if name:
        path = Path(ctx.users_dir) / f"{name}.env"
        if not path.is_file():
            raise UserError(f"no login {name}: {path} does not exist; make it with `python -m "
                            f"host_tools broker user {name}`")
        settings, source = env.load(environ={}, dotenv=path, required_dotenv=True), str(path)
    else:
        settings, source = ctx.settings(), "the MQTT_* settings"
    if not settings.username or not settings.password:
        raise UserError("no MQTT login for this back end: make one with `python -m host_tools "
                        "broker user NAME` and pass --login NAME (or set MQTT_USERNAME and "
                        "MQTT_PASSWORD, or --env-file FILE)")
    if not settings.host:
        raise UserError(f"no broker host in {source}: set MQTT_BROKER_HOST")
    return Login(settings.host, settings.effective_port(), settings.username, settings.password,
                 settings.tls, settings.ca_certs, settings.certfile, settings.keyfile,
                 settings.tls_insecure, settings.client_id, source)


def client(login: Login, *, clean_session=True, manual_ack=False) -> paho.Client:
    """A paho client for the login (not connected). Its client id is the login's: the broker
    host_tools configures binds it to the user name anyway."""
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=login.client_id or login.username,
                    clean_session=clean_session, manual_ack=manual_ack)
    c.username_pw_set(login.username, login.password)
    if login.tls:
        try:
            c.tls_set(ca_certs=login.ca_certs, certfile=login.certfile, keyfile=login.keyfile,
                      cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        except (OSError, ssl.SSLError) as exc:
            raise UserError(f"cannot load the TLS files of {login.source} ({exc}): check "
                            "MQTT_CA_CERTS, MQTT_CERTFILE and MQTT_KEYFILE") from None
        if login.insecure:
            c.tls_insecure_set(True)
    c.reconnect_delay_set(min_delay=1, max_delay=120)
    return c


def connect(c: paho.Client, login: Login):
    """Start connecting (paho's network thread reconnects after a loss); a refusal at once is
    a UserError that says what to check."""
    try:
        c.connect(login.host, login.port, keepalive=60)
    except ssl.SSLCertVerificationError as exc:
        raise UserError(f"the broker at {login.host}:{login.port} is not trusted "
                        f"({exc.verify_message}): check MQTT_CA_CERTS (`python -m host_tools "
                        "check` says more)") from None
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"cannot reach the broker at {login.host}:{login.port} ({exc}): is it "
                        "running? (`python -m host_tools check` says more)") from None


def start(c: paho.Client, login: Login, ready, refused, timeout=10.0):
    """Connect, run paho's network thread, and wait until `ready` (an Event the caller's
    callbacks set once subscribed). A UserError when the broker does not answer in time or
    refused (refused(): why, or None)."""
    connect(c, login)
    c.loop_start()
    if not ready.wait(timeout):
        stop(c)
        raise UserError(f"no answer from the broker at {login.host}:{login.port} within "
                        f"{timeout:g} s: check `python -m host_tools check`")
    why = refused()
    if why:
        stop(c)
        raise UserError(f"the broker refused {login.username}: {why}")


def stop(c: paho.Client):
    c.disconnect()
    c.loop_stop()
