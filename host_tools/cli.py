"""`python -m host_tools <command>` (or `mqtt-node <command>`): the host tools.

  certs ca|broker|device|show   the CA, the broker's certificate (and its rotation), device
                                certificates for mutual TLS, and what is in certs/
  broker config|install|run|user  Mosquitto's files for the broker host (--compose: under
                                Docker Compose), put there; Mosquitto here in the foreground;
                                a back end's login
  provision DEVICE --board B    a device's bundle (config, CA, pins, keys) and its broker login
  revoke DEVICE                 its login, ACL block and client certificate withdrawn
  build                         firmware/ compiled to .mpy for an ESP32's MicroPython
  image --board B               MicroPython built with the node frozen in (an ESP8266 needs it)
  flash --port P                the image (esptool), then main.py, the build and a bundle (mpremote)
  repl / dev / smoke --port P   mpremote's REPL / firmware/ run from here / the board's self test
  check                         connect like a device and say what is wrong, case by case
  env                           the MQTT_* settings read from the environment and .env
  budget --board B --interval S --battery-mah C   time awake, energy and battery life
  demo                          everything on this machine, with the unix port as the board
  sim DEVICE                    a provisioned device's bundle run on the unix port against its
                                broker, wake after wake: try a deployment before flashing
  fleet [--once] [--json]       every node on the broker in one table, refreshed in place;
                                nodes that missed their wake stand out
  collect                       every reading stored once in SQLite, as a back end's login;
                                --since/--device/--csv read them back

Generated material stays in git-ignored folders: certs/ (keys 0600) and build/ (broker/,
devices/<id>/, firmware/, image/). Secrets are never printed.

The commands are the table COMMANDS: each names where its body lives (a wing of host_tools)
and how its arguments are read.
"""

import argparse
import importlib
import sys
from pathlib import Path

from .context import Ctx
from .errors import UserError

KEY_TYPES = ("rsa", "ec")
BOARDS = ("esp32", "esp8266")


def _port_number(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 0 < n < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return n


def _port_or_zero(text):
    return 0 if text.strip() == "0" else _port_number(text)


def _positive(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return n


# Arguments of each command ----------------------------------------------------------------

def args_certs(p):
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    c = sub.add_parser("ca", help="create the CA")
    c.set_defaults(body="pki.commands:ca")
    c.add_argument("--cn", default="mqtt-node CA", help="its name")
    c.add_argument("--key-type", choices=KEY_TYPES, default="rsa", help="rsa (default; ESP8266 needs it) or ec")
    c.add_argument("--days", type=_positive, default=3650)
    c.add_argument("--force", action="store_true", help="replace an existing CA")
    c = sub.add_parser("broker", help="the broker's certificate; --next/--promote rotate it, "
                       "--renew renews it over the same key")
    c.set_defaults(body="pki.commands:broker")
    c.add_argument("--dns", action="append", default=[], metavar="NAME", help="a DNS name (repeatable)")
    c.add_argument("--ip", action="append", default=[], metavar="ADDR", help="an IP address (repeatable)")
    c.add_argument("--key-type", choices=KEY_TYPES,
                   help="rsa (default: RSA 2048, what ESP8266/axTLS needs) or ec (P-256)")
    c.add_argument("--days", type=_positive, default=825)
    c.add_argument("--next", action="store_true", help="issue the next certificate of a rotation "
                   "(broker-next.crt; same names unless given)")
    c.add_argument("--promote", action="store_true", help="make broker-next the served certificate")
    c.add_argument("--renew", action="store_true", help="a new certificate over the same key "
                   "(broker.key kept; same names unless given): key pins stay valid")
    c.add_argument("--force", action="store_true", help="replace an existing key")
    c = sub.add_parser("device", help="a client certificate for mutual TLS")
    c.set_defaults(body="pki.commands:device")
    c.add_argument("device")
    c.add_argument("--key-type", choices=KEY_TYPES, default="rsa")
    c.add_argument("--days", type=_positive, default=825)
    c.add_argument("--force", action="store_true")
    c = sub.add_parser("show", help="subject, names, expiry and SHA-256 of each certificate "
                       "(and a broker's key pin)")
    c.set_defaults(body="pki.commands:show")
    c.add_argument("files", nargs="*", help="certificate files (default: everything in certs/)")
    c.add_argument("--warn-days", type=int, default=30)


def args_broker(p):
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    b = sub.add_parser("config", help="the broker host's files (Mosquitto's, or RabbitMQ's), "
                       "in build/broker/")
    b.set_defaults(body="broker.commands:config")
    b.add_argument("--kind", choices=("mosquitto", "rabbitmq"),
                   help="the broker (default: as before, else mosquitto); rabbitmq: its MQTT "
                   "plugin's rabbitmq.conf and a definitions file, in build/broker/rabbitmq/")
    b.add_argument("--port", type=_port_number, help="TLS listener port (8883)")
    b.add_argument("--bind", metavar="ADDR", help="the TLS listener's address (default: the broker "
                   "certificate's IP address; 0.0.0.0 for every interface)")
    b.add_argument("--prefix", metavar="DIR", help="Mosquitto's folder on the broker host, which "
                   "the config names the files in (/etc/mosquitto)")
    b.add_argument("--max-packet-size", type=_positive, metavar="BYTES",
                   help="the largest packet a client may send (4096, what a node accepts)")
    b.add_argument("--dev", action="store_true", help="also a plain listener, on 127.0.0.1 only")
    b.add_argument("--plain-port", type=_port_number, default=1883, help="its port (1883)")
    b.add_argument("--mtls", action="store_true", help="require client certificates (mutual TLS)")
    b.add_argument("--no-mtls", action="store_true", help="stop requiring them")
    b.add_argument("--compose", action="store_true", help="also a Docker Compose file for it "
                   "(build/broker/compose.yaml, eclipse-mosquitto, the files mounted read-only)")
    b.add_argument("--no-compose", action="store_true", help="stop writing the Compose files")
    b.add_argument("--websockets", type=_port_or_zero, metavar="PORT", help="with --compose: MQTT "
                   "over WebSockets with the same TLS on PORT, for browser dashboards (0: none)")
    b.add_argument("--image", metavar="IMAGE:TAG", help="with --compose: the Mosquitto image "
                   "(eclipse-mosquitto:2.0.22)")
    b = sub.add_parser("install", help="put the files in place for Mosquitto on the broker host")
    b.set_defaults(body="broker.commands:install_files")
    b.add_argument("--to", metavar="DIR", help="Mosquitto's folder here, e.g. /etc/mosquitto (as root)")
    b.add_argument("--tarball", metavar="FILE", help="a .tar.gz to unpack there as root instead")
    b.add_argument("--prefix", metavar="DIR", help="where the files will be on the broker host "
                   "(default: --to, or the prefix of `broker config`)")
    sub.add_parser("run", help="run Mosquitto here in the foreground on those files") \
        .set_defaults(body="broker.commands:run")
    b = sub.add_parser("user", help="a back end's (monitor's) login, written to build/users/NAME.env")
    b.set_defaults(body="broker.commands:user")
    b.add_argument("name")
    b.add_argument("--role", choices=("monitor", "device"), default="monitor")
    b.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    b.add_argument("--force", action="store_true", help="replace an existing login's password")


def args_provision(p):
    p.add_argument("device", nargs="?")
    p.add_argument("--all", action="store_true", help="refresh every existing bundle (after a rotation)")
    p.add_argument("--board", choices=("esp32", "esp8266", "unix"))
    p.add_argument("--host", help="the broker's name or address as the device reaches it")
    p.add_argument("--port", type=_port_number, help="the broker's TLS port (8883)")
    p.add_argument("--also-host", action="append", metavar="HOST[:PORT]",
                   help="another broker of the cluster, tried after --host when it does not "
                   "answer (repeatable, in order; --also-host '' drops them)")
    p.add_argument("--tls-on-plain-port", action="store_true",
                   help="the broker's TLS listener really is on 1883, MQTT's plain-text port")
    p.add_argument("--tls-mode", choices=("ca", "pin", "ca+pin", "insecure"),
                   help="ca (esp32/unix default), pin (esp8266 default), ca+pin, insecure")
    p.add_argument("--server-hostname", help="the name to check when it differs from --host")
    p.add_argument("--mtls", action="store_true", help="give it a client certificate")
    p.add_argument("--no-mtls", action="store_true")
    p.add_argument("--key-type", choices=KEY_TYPES, default="rsa", help="of its client key")
    p.add_argument("--wifi-ssid", metavar="NAME", help="Wi-Fi network (password: WIFI_PASSWORD "
                   "in the environment or .env)")
    p.add_argument("--open-wifi", action="store_true", help="the network has no password")
    p.add_argument("--password-stdin", action="store_true", help="its MQTT password, from stdin")
    p.add_argument("--new-password", action="store_true", help="a new random password")
    p.add_argument("--pin", action="append", metavar="PIN", help="an extra pin to accept: a "
                   "certificate's SHA-256 (64 hex digits) or a key pin (sha256//BASE64)")
    p.add_argument("--pin-kind", choices=("cert", "key"), help="what pin mode pins of the "
                   "broker's certificate: cert (default for certs/broker.crt) or key (default "
                   "for --broker-cert; survives a renewal that keeps the key)")
    p.add_argument("--broker-cert", metavar="FILE", help="the certificate a broker you do not "
                   "manage serves (PEM or DER): its key is pinned")
    p.add_argument("--ca", metavar="FILE", help="the CA of a broker whose certificate you do not manage")
    p.add_argument("--force", action="store_true", help="reissue its client certificate")
    p.add_argument("--discovery", action="store_true", default=None,
                   help="announce it to Home Assistant (MQTT discovery; the default)")
    p.add_argument("--no-discovery", dest="discovery", action="store_false",
                   help="no Home Assistant discovery configs")


def args_revoke(p):
    p.add_argument("device")


def args_build(p):
    p.add_argument("--mpy", help="mpy version: 6.3 (MicroPython 1.23+), 6.2, 6.1, 6, 5")
    p.add_argument("--micropython", metavar="VERSION", help="the board's MicroPython version, e.g. 1.22")
    p.add_argument("--port", help="read the version from the board on this serial port")
    p.add_argument("--board", choices=BOARDS, help="target chip, for native code")
    p.add_argument("--out", metavar="DIR", help="output folder (build/firmware)")


def args_image(p):
    p.add_argument("--board", choices=BOARDS, required=True)
    p.add_argument("--chip", help="esp32 variant: esp32, esp32s2, esp32s3, esp32c3, esp32c6, esp32c5, esp32p4")
    p.add_argument("--micropython-src", metavar="DIR|TARBALL",
                   help="MicroPython's source with lib/axtls, lib/mbedtls, lib/micropython-lib")
    p.add_argument("--mp-board", metavar="NAME", help="MicroPython's board (ESP8266_GENERIC, ESP32_GENERIC...)")
    p.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")


def args_flash(p):
    p.add_argument("--port", help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--board", choices=BOARDS)
    p.add_argument("--chip", help="esp32 variant: esp32, esp32s2, esp32s3, esp32c3, esp32c6, esp32c5, esp32p4")
    p.add_argument("--device", help="copy this device's bundle")
    p.add_argument("--firmware", metavar="FILE", help="MicroPython .bin to write (esp8266: "
                   "build/image/esp8266/firmware.bin; esp32: keep the board's)")
    p.add_argument("--no-image", action="store_true", help="esp8266: keep the board's image, copy files only")
    p.add_argument("--no-erase", action="store_true", help="write without erasing the flash first")
    p.add_argument("--baud", type=_positive)
    p.add_argument("--build-dir", metavar="DIR", help="the .mpy build to copy (build/firmware; "
                   "not for an image with the node frozen in)")
    p.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")


def args_port(p):
    p.add_argument("--port", required=True)
    p.add_argument("--dry-run", action="store_true")


def args_check(p):
    p.add_argument("--host", help="broker (default: the device's, or MQTT_BROKER_HOST)")
    p.add_argument("--port", type=_port_number)
    p.add_argument("--device", help="use this device's bundle: its CA, pins, login and topics")
    p.add_argument("--timeout", type=float, default=5.0)


def args_none(p):
    pass


def args_budget(p):
    p.add_argument("--board", choices=BOARDS, required=True)
    p.add_argument("--interval", type=_positive, required=True, metavar="S",
                   help="seconds between readings")
    p.add_argument("--battery-mah", type=_positive, required=True, metavar="MAH",
                   help="the battery's usable capacity")
    p.add_argument("--rtt-ms", type=float, default=10.0, metavar="MS",
                   help="a round trip to the broker and the resolver on the LAN (10)")
    p.add_argument("--awake-ma", type=float, metavar="MA", help="the board's current awake")
    p.add_argument("--sleep-ua", type=float, metavar="UA",
                   help="the board's current in deep sleep (a dev board's regulator adds to it)")
    p.add_argument("--lease-s", type=_positive, default=3600, metavar="S",
                   help="the network's DHCP lease time (wifi.lease_s)")


def args_demo(p):
    p.add_argument("--wakes", type=int, default=40,
                   help="wake cycles of the simulated node (the broker is down for the middle 30%%)")


def args_sim(p):
    p.add_argument("device")
    p.add_argument("--wakes", type=_positive, default=10, help="wakes to run (10)")
    p.add_argument("--speed", type=float, metavar="S", help="S times real time (1: real time); "
                   "without it, compressed: each deep sleep is skipped over")
    p.add_argument("--power-loss", action="append", metavar="N", help="the power goes at a random "
                   "moment of wake N (or each wake of a range A-B); repeatable")
    p.add_argument("--wifi-off", action="append", metavar="A-B", help="no Wi-Fi for wakes A to B "
                   "(or wake N); repeatable")
    p.add_argument("--fresh", action="store_true", help="a new board: empty flash and RTC memory")
    p.add_argument("--login", metavar="NAME", help="watch the readings arrive as this back end's "
                   "login (build/users/NAME.env, from `broker user NAME`)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a wake may take (60)")


def args_fleet(p):
    p.add_argument("--once", action="store_true", help="print the table once and exit")
    p.add_argument("--json", action="store_true", help="the rows as JSON (one document per picture)")
    p.add_argument("--login", metavar="NAME", help="a back end's login (build/users/NAME.env, "
                   "from `broker user NAME`); default: the MQTT_* settings")
    p.add_argument("--db", type=Path, metavar="PATH", help="the collector's database, for the last "
                   "reading of nodes that sent none while watching (build/collect/readings.sqlite)")
    p.add_argument("--grace", type=float, default=30, metavar="S",
                   help="seconds past its next wake before a node counts as missed (30)")
    p.add_argument("--refresh", type=float, default=1, metavar="S", help="seconds between pictures (1)")


def args_collect(p):
    p.add_argument("--login", metavar="NAME", help="its own back-end login (build/users/NAME.env, "
                   "from `broker user NAME`); default: the MQTT_* settings")
    p.add_argument("--db", type=Path, metavar="PATH", help="the SQLite database "
                   "(build/collect/readings.sqlite)")
    p.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds (default: "
                   "until Ctrl-C or SIGTERM)")
    r = p.add_argument_group("reading back (any of these prints what is stored, collects nothing)")
    r.add_argument("--since", metavar="WHEN", help="readings taken since: 2h, 30m, 7d, or a UTC "
                   "date (2026-11-30, 2026-11-30T12:00)")
    r.add_argument("--device", metavar="ID", help="one device's readings")
    r.add_argument("--csv", action="store_true", help="as CSV, one column per value")


# name -> (its body "module:function" in host_tools, or None when each subcommand names its
# own; how its arguments are read; one line of help)
COMMANDS = {
    "certs": (None, args_certs, "CA, broker and device certificates"),
    "broker": (None, args_broker, "Mosquitto's files for the broker host; Mosquitto here"),
    "provision": ("device.commands:provision", args_provision,
                  "write a device bundle and add its login to the broker"),
    "revoke": ("device.commands:revoke", args_revoke,
               "withdraw a device's login, ACL block and client certificate"),
    "build": ("device.commands:build", args_build, "compile firmware/ to .mpy with mpy-cross (ESP32)"),
    "image": ("device.commands:image", args_image,
              "MicroPython with the node frozen in, by MicroPython's own build"),
    "flash": ("device.commands:flash", args_flash,
              "write MicroPython (esptool), copy main.py, the build and a bundle (mpremote)"),
    "repl": ("device.board:repl", args_port, "mpremote's REPL on the board"),
    "dev": ("device.board:dev", args_port, "run firmware/ on the board from this machine (mpremote mount)"),
    "smoke": ("device.board:smoke", args_port, "self test of a flashed board: TLS to the broker, "
                                               "the buffer on its flash, RTC memory"),
    "check": ("check.command:check", args_check, "connect like a device and report what is wrong"),
    "env": ("env:command", args_none, "the MQTT_* settings and where each came from (secrets hidden)"),
    "budget": ("budget.command:budget", args_budget,
               "time awake, energy per reading and battery life for a reading interval"),
    "demo": ("sim.demo:command", args_demo,
             "the node on the unix port publishing to a local Mosquitto over TLS"),
    "fleet": ("backend.fleetwatch:command", args_fleet,
              "every node on the broker in one live table: status, last reading, next wake, "
              "delivery, buffer, TLS, heap; --once [--json]"),
    "collect": ("backend.collector:command", args_collect,
                "store every reading once in SQLite (a persistent session, acknowledged after "
                "the commit); --since/--device/--csv read them back"),
    "sim": ("sim.bundlerun:command", args_sim,
            "try a provisioned device on the unix port against its broker, before flashing"),
}


def build_parser():
    parser = argparse.ArgumentParser(prog="host_tools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certs", default="certs", metavar="DIR", help="certificate folder (certs)")
    parser.add_argument("--build", default="build", metavar="DIR",
                        help="generated files: broker/, devices/, firmware/, image/ (build)")
    parser.add_argument("--env-file", metavar="FILE", help="read MQTT_* settings from FILE (default .env)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (body, add_args, text) in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text)
        if body:
            p.set_defaults(body=body)
        add_args(p)
    return parser


def _body(spec):
    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), function)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        ctx = Ctx(args.certs, args.build, args.env_file)
        return _body(args.body)(ctx, args) or 0
    except UserError as exc:
        print(f"host_tools: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("host_tools: interrupted", file=sys.stderr)
        return 130
