"""Mosquitto's configuration as host_tools writes it.

The same settings serve the broker host (a snippet for Mosquitto's conf.d, beside the
distribution's own mosquitto.conf, which keeps the pid file, persistence and logging) and a
broker run on this machine (`broker run`, the demo, the tests), which adds those.
"""

import getpass
from dataclasses import dataclass, field
from pathlib import Path

# The largest packet a client may send, in bytes: what a node accepts itself (its
# mqtt.max_packet), so no back end can queue a command the node would refuse unread.
MAX_PACKET_SIZE = 4096


@dataclass
class BrokerConfig:
    tls_port: int = 8883
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    crlfile: Path | None = None            # client certificates revoked (mutual TLS)
    password_file: Path | None = None
    acl_file: Path | None = None
    persistence_dir: Path | None = None    # None: the host's own settings
    plain_port: int | None = None          # dev only: bound to loopback
    bind_address: str | None = None        # None: every interface
    require_certificate: bool = False
    tls_version: str = "tlsv1.2"           # the minimum accepted
    bind_client_ids: bool = False          # a login's client id is its user name
    max_packet_size: int | None = None
    user: str | None = None                # who Mosquitto runs as once started as root;
                                           # None: whoever runs this (a local run)
    log_file: Path | None = None           # None: the host's own settings; "stdout": there
    websockets_port: int | None = None     # MQTT over WebSockets, with the same TLS (browsers)
    autosave_interval: int = 60            # seconds between saves of the session store
    header: str = "mosquitto.conf written by host_tools"
    extra: list = field(default_factory=list)

    def render(self) -> str:
        lines = [f"# {line}" for line in self.header.splitlines()] + [
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {self.password_file}",
        ]
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        # A local run as root would drop to `mosquitto`, which cannot read keys kept 0600 here.
        lines += [f"user {self.user or getpass.getuser()}", "set_tcp_nodelay true",
                  "connection_messages true"]
        if self.max_packet_size:
            lines.append(f"max_packet_size {self.max_packet_size}")
        if self.log_file:
            lines += ["log_type error", "log_type warning", "log_type notice", "log_type information",
                      "log_timestamp_format %H:%M:%S",
                      "log_dest stdout" if self.log_file == "stdout" else f"log_dest file {self.log_file}"]
        if self.persistence_dir:
            lines += ["persistence true", f"persistence_location {self.persistence_dir}/",
                      f"autosave_interval {self.autosave_interval}"]
        lines += self.extra
        if self.plain_port:
            lines += ["", f"listener {self.plain_port} 127.0.0.1", "protocol mqtt"] + self._binding()
        at = f" {self.bind_address}" if self.bind_address else ""
        lines += ["", f"listener {self.tls_port}{at}", "protocol mqtt"] + self._binding() + self._tls()
        if self.websockets_port:
            lines += ["", f"listener {self.websockets_port}{at}", "protocol websockets"] + \
                self._binding() + self._tls()
        return "\n".join(lines) + "\n"

    def _tls(self):
        out = []
        if self.require_certificate:
            # Only to check client certificates: given a cafile, OpenSSL also sends the CA with
            # the broker's own certificate, which a device never needs (it holds the CA, or
            # pins the leaf) and an ESP8266 would parse in RAM it does not have.
            out.append(f"cafile {self.cafile}")
        out += [
            f"certfile {self.certfile}", f"keyfile {self.keyfile}",
            f"tls_version {self.tls_version}",
            f"require_certificate {'true' if self.require_certificate else 'false'}",
        ]
        if self.crlfile and self.require_certificate:
            out.append(f"crlfile {self.crlfile}")
        return out

    def _binding(self):
        # A listener setting (Mosquitto ignores it at the top of the file); a login can then
        # neither take another client's id nor end another device's session.
        return ["use_username_as_clientid true"] if self.bind_client_ids else []
