"""`broker config|run|user|install`: the bodies of the broker commands."""

import secrets
from pathlib import Path

from ..context import read_secret_line, say
from ..errors import UserError
from ..pki import x509 as certs
from . import foreground, install, rabbitmq, site


def config(ctx, args):
    bdir, pki = ctx.bdir, ctx.pki
    was_running = bdir.running_pid()
    mtls = True if args.mtls else (False if args.no_mtls else None)
    compose = True if args.compose else (False if args.no_compose else None)
    s = bdir.configure(pki, tls_port=args.port, bind=args.bind, dev=args.dev,
                       plain_port=args.plain_port, mtls=mtls, prefix=args.prefix,
                       max_packet_size=args.max_packet_size, kind=args.kind,
                       compose=compose, websockets=args.websockets, image=args.image)
    if bdir.is_rabbitmq(s):
        return _config_rabbitmq(bdir, s)
    say(f"broker: wrote {bdir.snippet} and {bdir.files}/ (server certificate and key, "
        f"{bdir.password_file.name} with {len(bdir.users())} users, {bdir.acl_file.name}"
        + (", crl.pem" if s["mtls"] else "") + ")")
    for line in site.describe(bdir, pki):
        say(f"  {line}")
    say("broker: on the broker host: `broker install --to /etc/mosquitto` there (or `--tarball "
        "FILE` here), then restart Mosquitto; on this machine: `python -m host_tools broker run`")
    if s["compose"]:
        from . import compose as compose_files
        ws = s["compose"]["websockets"]
        say(f"broker: under Docker Compose: {bdir.root / compose_files.FILE} ({s['compose']['image']}, "
            f"port {s['tls_port']}" + (f", WebSockets over TLS on {ws}" if ws else "")
            + f", the files read-only, running as their owner): `docker compose up -d` in {bdir.root}/")
    if was_running:
        say(f"broker: the broker running here (pid {was_running}) reads listener changes only "
            "when restarted: stop `broker run` and start it again")
    return 0


def _config_rabbitmq(bdir, s):
    r = bdir.rabbit_dir
    say(f"broker: wrote {r}/ for RabbitMQ's folder on the broker host ({s['prefix']}): "
        f"rabbitmq.conf, enabled_plugins, {site.NAME}/ (server certificate and key, "
        f"{bdir.definitions_file.name}: {len(s['devices'])} devices, {len(s['monitors'])} monitors)")
    say(f"  MQTT over TLS on {s['bind']}:{s['tls_port']} (TLS 1.2 and 1.3, and the RSA suites an "
        "ESP8266 needs), no AMQP listener, no guest or anonymous login, vhost "
        f"{rabbitmq.VHOST}, each login's topic permissions as the ACL's"
        + ("; client certificates required" if s["mtls"] else ""))
    missing = bdir.without_rabbitmq_password(s)
    if missing:
        say(f"broker: {len(missing)} login(s) made for Mosquitto have no RabbitMQ password yet "
            f"({', '.join(missing)}): `provision DEVICE --new-password` or `broker user NAME "
            "--force` for each (Mosquitto's hashes cannot be carried over)")
    say("broker: on the broker host: copy them into the RabbitMQ folder, `sudo rabbitmq-plugins "
        "enable rabbitmq_mqtt`, restart RabbitMQ (README, \"More than one broker\")")
    return 0


def _mosquitto_only(bdir, what):
    if bdir.is_rabbitmq():
        raise UserError(f"`broker {what}` is for Mosquitto, and this broker is RabbitMQ (`broker "
                        f"config --kind rabbitmq`): copy {bdir.rabbit_dir}/ to the broker host as "
                        "the README's \"More than one broker\" says, or `broker config --kind "
                        "mosquitto`")


def run(ctx, args):
    _mosquitto_only(ctx.bdir, "run")
    return foreground.run(ctx.bdir, ctx.pki)


def install_files(ctx, args):
    bdir, pki = ctx.bdir, ctx.pki
    _mosquitto_only(bdir, "install")
    if bool(args.to) == bool(args.tarball):
        raise UserError("say where: --to DIR (on the broker host, as root) or --tarball FILE")
    prefix = args.prefix
    if prefix is not None and not str(prefix).startswith("/"):
        raise UserError(f"--prefix {prefix} is not an absolute path: give the broker host's "
                        "Mosquitto folder, e.g. /etc/mosquitto")
    user = bdir.settings()["user"]
    if args.to:
        written = install.to_folder(bdir, pki, Path(args.to), prefix)
        where = Path(args.to).resolve()
        say(f"broker: installed {len(written)} files in {where}/ (owner {user}, mode 0600, "
            f"{site.NAME}/ 0700)")
        say("broker: then `sudo systemctl restart mosquitto` (the first time, or after `broker "
            "config`), or `sudo systemctl reload mosquitto` (new logins, revocations)")
        return 0
    names = install.to_tarball(bdir, pki, Path(args.tarball), prefix)
    prefix = prefix or bdir.settings()["prefix"]
    say(f"broker: {args.tarball} (0600, it holds the broker's key) has {', '.join(names)}, "
        f"owned by {user}")
    say(f"broker: on the broker host: `sudo tar -xzpf {Path(args.tarball).name} -C {prefix}`, then "
        "`sudo systemctl restart mosquitto` (or `reload` for new logins and revocations)")
    return 0


def user(ctx, args):
    """A login for a back end (monitor), or a device that is not provisioned here."""
    bdir, pki = ctx.bdir, ctx.pki
    name = args.name
    from ..device import bundle
    if args.role == "device" and bundle.read_config(ctx.devices_dir / name) is not None:
        raise UserError(f"{name} is a provisioned device: give it a new password with `provision "
                        f"{name} --new-password` (its bundle must change too)")
    bdir.check_new_login(name, args.role, replace=args.force)
    password = read_secret_line("password") if args.password_stdin else secrets.token_urlsafe(18)
    if not password:
        raise UserError("the password is empty: give one on stdin, or leave --password-stdin out "
                        "for a random one")
    s = bdir.settings()
    mtls = s["mtls"]
    if mtls:
        pki.load_ca()               # it signs the login's client certificate: fail before writing
    host = ctx.settings().host or _first_name(pki) or "localhost"
    bdir.add_login(name, password, args.role, replace=args.force)
    env_file = ctx.users_dir / f"{name}.env"
    lines = [f"# MQTT login of {name} ({args.role}), written by host_tools; keep it private",
             f"MQTT_BROKER_HOST={host}",
             f"MQTT_BROKER_PORT={s['tls_port']}",
             "MQTT_USE_TLS=true",
             f"MQTT_CA_CERTS={pki.ca_cert.resolve()}",
             f"MQTT_USERNAME={name}",
             f"MQTT_PASSWORD={password}",
             # The broker binds a login's client id to its name.
             f"MQTT_CLIENT_ID={name}"]
    if mtls:
        if not pki.has_device(name):
            pki.issue_device(name)
        lines += [f"MQTT_CERTFILE={pki.device_cert(name).resolve()}",
                  f"MQTT_KEYFILE={pki.device_key(name).resolve()}"]
    certs.write_secret(env_file, ("\n".join(lines) + "\n").encode(), force=True)
    outcome = bdir.apply(pki, f"broker user {name}")
    say(f"broker: {args.role} {name} added to {bdir.password_file} and {bdir.acl_file}; {outcome}")
    say(f"broker: its login is in {env_file} (0600): use it with `--env-file {env_file}`; one "
        "connection at a time per login (its client id is its name)")
    return 0


def _first_name(pki):
    if pki.broker_cert.exists():
        names = certs.subject_alt_names(pki.broker())
        return names[0] if names else None
    return None
