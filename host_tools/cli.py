"""`python -m host_tools <command>` (or `mqtt-node <command>`): the host tools.

  certs ca|broker|device|show   the CA, the broker's certificate (and its rotation), device
                                certificates for mutual TLS, and what is in certs/
  broker config|run|user        mosquitto.conf, password file and ACL; Mosquitto in the foreground
  provision DEVICE --board B    a device's bundle (config, CA, pins, keys) and its broker login
  build                         firmware/ compiled to .mpy for the board's MicroPython
  flash --port P                MicroPython image (esptool), then the build and a bundle (mpremote)
  repl / dev --port P           mpremote's REPL / run firmware/ from this machine without copying
  smoke --port P                self test of a flashed board: TLS, its flash buffer, RTC memory
  check                         connect like a device and say what is wrong, case by case
  env                           the MQTT_* settings read from the environment and .env
  demo                          everything on this machine, with the unix port as the board

Generated material stays in git-ignored folders: certs/ (keys 0600) and build/ (broker/,
devices/<id>/, firmware/). Secrets are never printed.
"""

import argparse
import os
import sys
from pathlib import Path

from .errors import UserError

KEY_TYPES = ("rsa", "ec")


class Ctx:
    """Paths and settings every command shares, from the global options."""

    def __init__(self, args):
        self.certs_dir = Path(args.certs)
        self.build_dir = Path(args.build)
        self._env_file = args.env_file
        self._settings = None

    @property
    def pki(self):
        from .pki import Pki
        return Pki(self.certs_dir)

    @property
    def bdir(self):
        from .broker.site import BrokerDir
        return BrokerDir(self.build_dir / "broker")

    @property
    def devices_dir(self):
        return self.build_dir / "devices"

    @property
    def firmware_dir(self):
        return self.build_dir / "firmware"

    def settings(self):
        if self._settings is None:
            from . import env
            path = Path(self._env_file) if self._env_file else Path(".env")
            self._settings = env.load(dotenv=path, required_dotenv=bool(self._env_file))
            env.warn(self._settings)
        return self._settings


def _say(msg=""):
    print(msg, flush=True)


def _read_secret_line(what):
    line = sys.stdin.readline()
    if not line:
        raise UserError(f"--password-stdin: no {what} on standard input: pipe it in, e.g. "
                        "`pass show x | ... --password-stdin`")
    return line.rstrip("\r\n")


# certs ------------------------------------------------------------------------------------

def _esp8266_devices(ctx):
    from .device import provision
    return [d for d, cfg in provision.bundles(ctx.devices_dir).items() if cfg.get("board") == "esp8266"]


def _refuse_ec_for_esp8266(ctx, key_type, what):
    if key_type == "rsa":
        return
    boards = _esp8266_devices(ctx)
    if boards:
        raise UserError(f"an {key_type.upper()} {what} would lock out the esp8266 device(s) "
                        f"{', '.join(boards)}: axTLS only does RSA key exchange (AES128-SHA, "
                        "AES256-SHA, AES128-SHA256, AES256-SHA256); keep --key-type rsa")


def _print_cert(label, path, warn_days):
    from .pki import x509 as certs
    cert = certs.load_cert(path)
    d = certs.describe(cert, warn_days=warn_days)
    _say(f"{label}: {path}")
    _say(f"  subject   {d['subject']} ({d['key']}), issued by {d['issuer']}")
    _say(f"  names     {', '.join(d['sans']) if d['sans'] else '-'}")
    _say(f"  expires   {d['not_after']:%Y-%m-%d %H:%M} UTC, in {d['days_left']} days")
    _say(f"  SHA-256   {d['sha256']}")
    if d["warning"]:
        _say(f"  WARNING   {d['warning']}")
    return d


def cmd_certs(ctx, args):
    from .pki import x509 as certs
    pki = ctx.pki
    if args.certs_command == "ca":
        _refuse_ec_for_esp8266(ctx, args.key_type, "CA (it signs the broker's certificate)")
        replacing = pki.ca_cert.exists()
        cert = pki.create_ca(common_name=args.cn, key_type=args.key_type, days=args.days, force=args.force)
        _say(f"certs: CA {certs.common_name(cert.subject)} ({certs.key_description(cert.public_key())}) "
             f"in {pki.ca_cert} and {pki.ca_der}; its key {pki.ca_key} (0600) signs every other "
             "certificate: keep it off shared machines")
        if replacing:
            _say("certs: a new CA: issue the broker's certificate again (`certs broker --force`), "
                 "then `provision --all` and copy the bundles to the boards")
        return 0
    if args.certs_command == "broker":
        if args.promote:
            if args.next:
                raise UserError("--next and --promote are two steps of a rotation: run them one at a time")
            cert = pki.promote_next(force=args.force)
            _say(f"certs: the next broker certificate is now {pki.broker_cert} (SHA-256 "
                 f"{certs.fingerprint_sha256(cert)}); the old one is {pki.prev_cert}")
            # Mosquitto reads its certificate files again on SIGHUP.
            if ctx.bdir.reload():
                _say("certs: the running broker (`broker run`) now serves it to new connections")
            else:
                _say("certs: restart the broker (or send it SIGHUP) to serve it")
            _say("certs: then `provision --all` drops the old pin from the bundles")
            return 0
        what = "next broker certificate" if args.next else "broker certificate"
        if args.key_type == "ec":
            _refuse_ec_for_esp8266(ctx, "ec", what)
        if args.next:
            given = bool(args.dns or args.ip)
            cert = pki.issue_next(args.dns if given else None, args.ip if given else None,
                                  key_type=args.key_type, days=args.days, force=args.force)
            _say(f"certs: {what} in {pki.next_cert} (key {pki.next_key}, 0600) for "
                 f"{', '.join(certs.subject_alt_names(cert))}, SHA-256 {certs.fingerprint_sha256(cert)}")
            _say("certs: next: `provision --all` (bundles pin the current and the next certificate), "
                 "copy the bundles to the boards (`flash --device ID --port P`), then "
                 "`certs broker --promote` and restart the broker")
            return 0
        if not (args.dns or args.ip):
            raise UserError("give the names devices use to reach the broker: --dns NAME and/or "
                            "--ip ADDRESS (e.g. --dns broker.lan --ip 192.168.1.10)")
        if pki.broker_key.exists() and not args.force:
            raise UserError(f"{pki.broker_key} exists: keep it, pass --force to replace it (devices "
                            "that pin it stop connecting), or rotate with --next and --promote")
        cert = pki.issue_broker(args.dns, args.ip, key_type=args.key_type, days=args.days, force=args.force)
        _say(f"certs: {what} in {pki.broker_cert} ({certs.key_description(cert.public_key())}, key "
             f"{pki.broker_key} 0600) for {', '.join(certs.subject_alt_names(cert))}; SHA-256 "
             f"{certs.fingerprint_sha256(cert)}")
        if args.key_type == "ec":
            _say("certs: note: ESP8266 boards cannot connect to a broker with an EC key (axTLS does "
                 "only RSA key exchange)")
        return 0
    if args.certs_command == "device":
        from .device.provision import check_device_id
        check_device_id(args.device)
        if args.device in _esp8266_devices(ctx) and args.key_type != "rsa":
            raise UserError(f"{args.device} is an esp8266, which loads only RSA client keys (axTLS)")
        cert = pki.issue_device(args.device, key_type=args.key_type, days=args.days, force=args.force)
        _say(f"certs: client certificate for {args.device} in {pki.device_cert(args.device)} (key "
             f"{pki.device_key(args.device)}, 0600), SHA-256 {certs.fingerprint_sha256(cert)}")
        return 0
    # show
    paths = [(Path(p).name, Path(p)) for p in args.files] or pki.inventory()
    if not paths:
        raise UserError(f"no certificates in {pki.root}/: create the CA with `certs ca`")
    expired = warned = 0
    for label, path in paths:
        d = _print_cert(label, path, args.warn_days)
        if d["warning"]:
            warned += 1
            expired += d["days_left"] < 0 or "before" in d["warning"]
    if warned:
        print(f"host_tools: warning: {warned} certificate(s) expire within {args.warn_days} days or "
              "are out of date: rotate the broker's with `certs broker --next`, reissue the others "
              "with --force", file=sys.stderr)
    return 1 if expired else 0


# broker -----------------------------------------------------------------------------------

def cmd_broker(ctx, args):
    from .broker import site as brokerdir
    bdir = ctx.bdir
    if args.broker_command == "config":
        mtls = True if args.mtls else (False if args.no_mtls else None)
        config = bdir.write_config(ctx.pki, tls_port=args.port, bind=args.bind, dev=args.dev,
                                   plain_port=args.plain_port, mtls=mtls)
        _say(f"broker: wrote {bdir.conf}, {bdir.password_file} (0600, {len(bdir.users())} users) "
             f"and {bdir.acl_file}")
        for line in brokerdir.describe_config(config):
            _say(f"  {line}")
        _say(f"broker: start it with `python -m host_tools broker run` (or `mosquitto -c {bdir.conf}`)")
        return 0
    if args.broker_command == "run":
        return brokerdir.run_foreground(bdir)
    # user
    import secrets
    password = _read_secret_line("password") if args.password_stdin else None
    users = bdir.users()
    env_file = ctx.build_dir / "users" / f"{args.name}.env"
    if password is None and args.name in users and env_file.exists() and not args.new_password:
        raise UserError(f"{args.name} exists (its login is in {env_file}): pass --new-password to "
                        "replace its password")
    if password is None:
        password = secrets.token_urlsafe(18)
    bdir.add_user(args.name, password, args.role)
    s = ctx.settings()
    from .pki import x509 as certs_mod
    lines = [f"# MQTT login of {args.name} ({args.role}), written by host_tools; keep it private",
             f"MQTT_BROKER_HOST={s.host or _first_name(ctx) or 'localhost'}",
             f"MQTT_BROKER_PORT={bdir.settings()['tls_port']}",
             "MQTT_USE_TLS=true",
             f"MQTT_CA_CERTS={ctx.pki.ca_cert.resolve()}",
             f"MQTT_USERNAME={args.name}",
             f"MQTT_PASSWORD={password}"]
    if bdir.settings()["mtls"]:
        if not ctx.pki.has_device(args.name):
            ctx.pki.issue_device(args.name)
        lines += [f"MQTT_CERTFILE={ctx.pki.device_cert(args.name).resolve()}",
                  f"MQTT_KEYFILE={ctx.pki.device_key(args.name).resolve()}"]
    certs_mod.write_secret(env_file, ("\n".join(lines) + "\n").encode(), force=True)
    reloaded = bdir.reload()
    _say(f"broker: {args.role} {args.name} added to {bdir.password_file} and {bdir.acl_file}"
         + ("; the running broker reloaded them" if reloaded else ""))
    _say(f"broker: its login is in {env_file} (0600): use it with `--env-file {env_file}`")
    return 0


def _first_name(ctx):
    from .pki import x509 as certs
    if ctx.pki.broker_cert.exists():
        names = certs.subject_alt_names(ctx.pki.broker())
        return names[0] if names else None
    return None


# provision --------------------------------------------------------------------------------

def cmd_provision(ctx, args):
    from .device import provision
    if args.all:
        if args.device:
            raise UserError("give a DEVICE or --all, not both")
        ids = list(provision.bundles(ctx.devices_dir))
        if not ids:
            raise UserError(f"no device bundles in {ctx.devices_dir}/ to refresh")
        if args.password_stdin or args.board:
            raise UserError("--all keeps each device's board and password: drop --password-stdin "
                            "and --board (or provision the devices one by one)")
    elif not args.device:
        raise UserError("name the device: `provision DEVICE --board esp32|esp8266|unix` (or --all)")
    else:
        ids = [args.device]
    settings = ctx.settings()
    password = _read_secret_line("password") if args.password_stdin else None
    for device_id in ids:
        req = provision.Request(
            device_id=device_id, board=args.board, host=args.host, port=args.port,
            tls_mode=args.tls_mode, mtls=True if args.mtls else (False if args.no_mtls else None),
            server_hostname=args.server_hostname, password=password, new_password=args.new_password,
            wifi_ssid=args.wifi_ssid, wifi_password=settings.wifi_password, pins=args.pin or [],
            ca_file=Path(args.ca) if args.ca else None, key_type=args.key_type, force=args.force)
        result = provision.provision(req, pki=ctx.pki, bdir=ctx.bdir, root=ctx.devices_dir,
                                     env_settings=settings)
        _report_provision(ctx, result)
    return 0


def _report_provision(ctx, r):
    cfg = r.cfg
    tls = cfg["tls"]
    files = sorted(p.name for p in r.bundle.iterdir())
    _say(f"provision: {cfg['board']} device {cfg['device_id']} -> {r.bundle}/ ({', '.join(files)})")
    pins = ", ".join(p[:16] + "..." for p in tls["pins"])
    _say(f"  broker    {cfg['mqtt']['host']}:{cfg['mqtt']['port']}, tls {tls['mode']}"
         + (f", checks the name {tls['server_hostname']}" if tls.get("server_hostname") else "")
         + (f", pins {pins}" if tls["pins"] else ""))
    if tls.get("cert"):
        _say(f"  mutual    client certificate {ctx.pki.device_cert(cfg['device_id'])}"
             + (" (new)" if r.client_cert_issued else " (kept)"))
    if "wifi" in cfg:
        _say(f"  wifi      {cfg['wifi']['ssid']}" + ("" if cfg["wifi"]["password"] else " (open network)"))
    how = "generated" if r.password_generated else ("kept from the bundle" if r.password_kept else "from stdin")
    _say(f"  password  {how}; stored only in config.json (0600) and as a hash in {ctx.bdir.password_file}")
    _say(f"  broker    {cfg['device_id']} is in the password file and the ACL; "
         + ("the running broker reloaded them" if r.reloaded else "a running broker reads them on "
            "SIGHUP or restart (`broker run` reloads itself)"))
    for w in r.warnings:
        print(f"host_tools: warning: {w}", file=sys.stderr)


# build / flash / repl / dev ---------------------------------------------------------------

def cmd_build(ctx, args):
    from .device import build
    given = [x for x in (args.mpy, args.micropython, args.port) if x]
    if len(given) > 1:
        raise UserError("give one of --mpy, --micropython and --port")
    arch = build.BOARD_ARCH.get(args.board) if args.board else None
    if args.mpy:
        mpy = build.normalise_mpy(args.mpy)
        source = "as given"
    elif args.micropython:
        mpy = build.mpy_for_release(args.micropython)
        source = f"for MicroPython {args.micropython}"
    elif args.port:
        mpy, board_arch, version = build.board_mpy(args.port)
        arch = arch or board_arch
        source = f"read from the board on {args.port} (MicroPython {version})"
    else:
        mpy, source = build.CURRENT_MPY, "the default: MicroPython 1.23 and later"
    result = build.build(out=Path(args.out) if args.out else ctx.firmware_dir, mpy=mpy, arch=arch)
    lines = build.report(result)
    lines[0] += f" ({source})"
    for line in lines:
        _say(line)
    return 0


def cmd_flash(ctx, args):
    from .device import flash, provision, serialport
    bundle = ctx.devices_dir / args.device if args.device else None
    board = args.board
    if bundle is not None:
        cfg = provision.read_config(bundle)
        if cfg is None:
            raise UserError(f"no bundle for {args.device} in {ctx.devices_dir}/: provision it first "
                            f"(`provision {args.device} --board {board or 'esp32|esp8266'}`)")
        board = board or cfg.get("board")
    if not board:
        raise UserError("which board? give --board esp32|esp8266 (or --device, whose bundle says)")
    chip = flash.chip_for(board, args.chip)
    p = flash.plan(args.port or "", chip, firmware=Path(args.firmware) if args.firmware else None,
                   build_dir=Path(args.build_dir) if args.build_dir else ctx.firmware_dir,
                   bundle=bundle, baud=args.baud, erase=not args.no_erase)
    if args.dry_run:
        _say(f"# flash {chip.name} on {args.port or '(no port)'}: the commands, not run")
        for (what, _, _), line in zip(p.steps, p.commands()):
            _say(f"# {what}")
            _say(line)
        return 0
    if not args.port:
        serialport.check("")
    if args.firmware is None:
        _say("flash: no --firmware: keeping the MicroPython already on the board, copying files only")
    flash.execute(p, args.port, out=_say)
    _say(f"flash: done; watch it boot with `make repl PORT={args.port}`")
    return 0


def _mpremote_exec(port, extra, dry_run):
    from . import tools
    from .device import serialport
    argv = tools.command("mpremote") + ["connect", port] + extra
    if dry_run:
        _say(tools.show(argv))
        return 0
    serialport.check(port)
    sys.stdout.flush()
    os.execv(argv[0], argv)


def cmd_repl(ctx, args):
    return _mpremote_exec(args.port, ["repl"], args.dry_run)


def cmd_dev(ctx, args):
    from .sim.unixport import FIRMWARE
    # The board runs firmware/ from this machine (mpremote mount); its bundle stays on its flash.
    return _mpremote_exec(args.port, ["mount", str(FIRMWARE), "run", str(FIRMWARE / "main.py")],
                          args.dry_run)


SMOKE = "import node.selftest; node.selftest.run()"


def cmd_smoke(ctx, args):
    """The board's self test (node.selftest) over mpremote; fails unless every check passed."""
    import re
    import subprocess
    from . import tools
    from .device import serialport
    # `resume`: no soft reset first (the unix port, as a stand-in board in tests, would exit).
    argv = tools.command("mpremote") + ["connect", args.port, "resume", "exec", SMOKE]
    if args.dry_run:
        _say(tools.show(argv))
        return 0
    serialport.check(args.port)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    summary = None
    for line in proc.stdout:
        print(line, end="", flush=True)
        summary = re.match(r"smoke: (\d+) of (\d+) checks passed", line) or summary
    proc.wait()
    if proc.returncode != 0 or summary is None:
        raise UserError("the self test did not run to its end: flash the build and the device "
                        "bundle first (`make flash DEVICE=... PORT=...`)")
    if summary.group(1) != summary.group(2):
        raise UserError("self test: %s of %s checks passed: see the FAIL lines above"
                        % summary.groups())
    return 0


# check / env / demo -----------------------------------------------------------------------

def cmd_check(ctx, args):
    from . import check
    with check.temp_dir() as tmp:
        if args.device:
            bundle = ctx.devices_dir / args.device
            target = check.from_bundle(bundle, Path(tmp), host=args.host, port=args.port,
                                       broker_dir=ctx.bdir.root)
        else:
            target = check.from_settings(ctx.settings(), host=args.host, port=args.port,
                                         broker_dir=ctx.bdir.root)
        report = check.run(target, timeout=args.timeout, out=_say)
    if report.failures:
        first = report.failures[0]
        raise UserError(f"check failed: {first.text}: {first.fix or 'see above'}")
    _say("check: all good")
    return 0


def cmd_env(ctx, args):
    from . import env
    for line in env.describe(ctx.settings()):
        _say(line)
    return 0


def cmd_demo(ctx, args):
    from .sim import demo
    return demo.run(wakes=args.wakes, outage=(args.wakes * 3 // 10, args.wakes * 6 // 10),
                    certs_dir=ctx.certs_dir, build_dir=ctx.build_dir)


# parser -----------------------------------------------------------------------------------

def _port_number(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 0 < n < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return n


def build_parser():
    parser = argparse.ArgumentParser(prog="host_tools", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certs", default="certs", metavar="DIR", help="certificate folder (certs)")
    parser.add_argument("--build", default="build", metavar="DIR",
                        help="generated files: broker/, devices/, firmware/ (build)")
    parser.add_argument("--env-file", metavar="FILE", help="read MQTT_* settings from FILE (default .env)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("certs", help="CA, broker and device certificates")
    csub = p.add_subparsers(dest="certs_command", required=True, metavar="WHAT")
    c = csub.add_parser("ca", help="create the CA")
    c.add_argument("--cn", default="mqtt-node CA", help="its name")
    c.add_argument("--key-type", choices=KEY_TYPES, default="rsa", help="rsa (default; ESP8266 needs it) or ec")
    c.add_argument("--days", type=int, default=3650)
    c.add_argument("--force", action="store_true", help="replace an existing CA")
    c = csub.add_parser("broker", help="the broker's certificate; --next/--promote rotate it")
    c.add_argument("--dns", action="append", default=[], metavar="NAME", help="a DNS name (repeatable)")
    c.add_argument("--ip", action="append", default=[], metavar="ADDR", help="an IP address (repeatable)")
    c.add_argument("--key-type", choices=KEY_TYPES, default="rsa",
                   help="rsa (default: RSA 2048, what ESP8266/axTLS needs) or ec (P-256)")
    c.add_argument("--days", type=int, default=825)
    c.add_argument("--next", action="store_true", help="issue the next certificate of a rotation "
                   "(broker-next.crt; same names unless given)")
    c.add_argument("--promote", action="store_true", help="make broker-next the served certificate")
    c.add_argument("--force", action="store_true", help="replace an existing key")
    c = csub.add_parser("device", help="a client certificate for mutual TLS")
    c.add_argument("device")
    c.add_argument("--key-type", choices=KEY_TYPES, default="rsa")
    c.add_argument("--days", type=int, default=825)
    c.add_argument("--force", action="store_true")
    c = csub.add_parser("show", help="subject, names, expiry and SHA-256 of each certificate")
    c.add_argument("files", nargs="*", help="certificate files (default: everything in certs/)")
    c.add_argument("--warn-days", type=int, default=30)
    p.set_defaults(func=cmd_certs)

    p = sub.add_parser("broker", help="Mosquitto config, password file, ACL; run it")
    bsub = p.add_subparsers(dest="broker_command", required=True, metavar="WHAT")
    b = bsub.add_parser("config", help="write mosquitto.conf, the password file and the ACL")
    b.add_argument("--port", type=_port_number, help="TLS listener port (8883)")
    b.add_argument("--bind", metavar="ADDR", help="listen on this address only (default: all)")
    b.add_argument("--dev", action="store_true", help="also a plain listener, on 127.0.0.1 only")
    b.add_argument("--plain-port", type=_port_number, default=1883, help="its port (1883)")
    b.add_argument("--mtls", action="store_true", help="require client certificates (mutual TLS)")
    b.add_argument("--no-mtls", action="store_true", help="stop requiring them")
    bsub.add_parser("run", help="run Mosquitto in the foreground with that config")
    b = bsub.add_parser("user", help="a back-end user (monitor) or device login, written to build/users/NAME.env")
    b.add_argument("name")
    b.add_argument("--role", choices=("monitor", "device"), default="monitor")
    b.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    b.add_argument("--new-password", action="store_true", help="replace an existing password")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("provision", help="write a device bundle and add its login to the broker")
    p.add_argument("device", nargs="?")
    p.add_argument("--all", action="store_true", help="refresh every existing bundle (after a rotation)")
    p.add_argument("--board", choices=("esp32", "esp8266", "unix"))
    p.add_argument("--host", help="the broker's name or address as the device reaches it")
    p.add_argument("--port", type=_port_number)
    p.add_argument("--tls-mode", choices=("ca", "pin", "ca+pin", "insecure"),
                   help="ca (esp32/unix default), pin (esp8266 default), ca+pin, insecure")
    p.add_argument("--server-hostname", help="the name to check when it differs from --host")
    p.add_argument("--mtls", action="store_true", help="give it a client certificate")
    p.add_argument("--no-mtls", action="store_true")
    p.add_argument("--key-type", choices=KEY_TYPES, default="rsa", help="of its client key")
    p.add_argument("--wifi-ssid", metavar="NAME", help="Wi-Fi network (password: WIFI_PASSWORD "
                   "in the environment or .env)")
    p.add_argument("--password-stdin", action="store_true", help="its MQTT password, from stdin")
    p.add_argument("--new-password", action="store_true", help="a new random password")
    p.add_argument("--pin", action="append", metavar="SHA256", help="an extra fingerprint to accept")
    p.add_argument("--ca", metavar="FILE", help="the CA of a broker whose certificate you do not manage")
    p.add_argument("--force", action="store_true", help="reissue its client certificate")
    p.set_defaults(func=cmd_provision)

    p = sub.add_parser("build", help="compile firmware/ to .mpy with mpy-cross")
    p.add_argument("--mpy", help="mpy version: 6.3 (MicroPython 1.23+), 6.2, 6.1, 6, 5")
    p.add_argument("--micropython", metavar="VERSION", help="the board's MicroPython version, e.g. 1.22")
    p.add_argument("--port", help="read the version from the board on this serial port")
    p.add_argument("--board", choices=("esp32", "esp8266"), help="target chip, for native code")
    p.add_argument("--out", metavar="DIR", help="output folder (build/firmware)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("flash", help="write MicroPython (esptool), copy the build and a bundle (mpremote)")
    p.add_argument("--port", help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--board", choices=("esp32", "esp8266"))
    p.add_argument("--chip", help="esp32 variant: esp32, esp32s2, esp32s3, esp32c3, esp32c6, esp32c5, esp32p4")
    p.add_argument("--device", help="copy this device's bundle")
    p.add_argument("--firmware", metavar="FILE", help="MicroPython .bin to write (else keep the board's)")
    p.add_argument("--no-erase", action="store_true", help="write without erasing the flash first")
    p.add_argument("--baud", type=int)
    p.add_argument("--build-dir", metavar="DIR", help="the build to copy (build/firmware)")
    p.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    p.set_defaults(func=cmd_flash)

    for name, func, what in (("repl", cmd_repl, "mpremote's REPL on the board"),
                             ("smoke", cmd_smoke, "self test of a flashed board: TLS to the broker, "
                                                  "the buffer on its flash, RTC memory"),
                             ("dev", cmd_dev, "run firmware/ on the board from this machine (mpremote mount)")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--port", required=True)
        p.add_argument("--dry-run", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("check", help="connect like a device and report what is wrong")
    p.add_argument("--host", help="broker (default: the device's, or MQTT_BROKER_HOST)")
    p.add_argument("--port", type=_port_number)
    p.add_argument("--device", help="use this device's bundle: its CA, pins, login and topics")
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("env", help="the MQTT_* settings and where each came from (secrets hidden)")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("demo", help="the node on the unix port publishing to a local Mosquitto over TLS")
    p.add_argument("--wakes", type=int, default=40,
                   help="wake cycles of the simulated node (the broker is down for the middle 30%%)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(Ctx(args), args) or 0
    except UserError as exc:
        print(f"host_tools: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("host_tools: interrupted", file=sys.stderr)
        return 130
