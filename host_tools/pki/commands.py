"""`certs ca|broker|device|show`: the bodies of the certificate commands."""

from pathlib import Path

from ..context import say, warn
from ..errors import UserError
from . import x509 as certs


def _esp8266_devices(ctx):
    from ..device import bundle
    return [d for d, cfg in bundle.bundles(ctx.devices_dir).items() if cfg.get("board") == "esp8266"]


def _refuse_ec_for_esp8266(ctx, key_type, what):
    if key_type == "rsa":
        return
    boards = _esp8266_devices(ctx)
    if boards:
        raise UserError(f"an {key_type.upper()} {what} would lock out the esp8266 device(s) "
                        f"{', '.join(boards)}: axTLS only does RSA key exchange (AES128-SHA, "
                        "AES256-SHA, AES128-SHA256, AES256-SHA256); keep --key-type rsa")


def _print_cert(label, path, warn_days, key_pin=False):
    """Its subject, names, expiry and SHA-256; with key_pin (a broker's certificate) also the
    pin of its public key, as tls.pins takes both."""
    cert = certs.load_cert(path)
    d = certs.describe(cert, warn_days=warn_days)
    say(f"{label}: {path}")
    say(f"  subject   {d['subject']} ({d['key']}), issued by {d['issuer']}")
    say(f"  names     {', '.join(d['sans']) if d['sans'] else '-'}")
    say(f"  expires   {d['not_after']:%Y-%m-%d %H:%M} UTC, in {d['days_left']} days")
    say(f"  SHA-256   {d['sha256']}" + ("  (certificate pin)" if key_pin else ""))
    if key_pin:
        say(f"  key pin   {d['key_pin']}  (same over a renewal with the same key)")
    if d["warning"]:
        say(f"  WARNING   {d['warning']}")
    return d


def ca(ctx, args):
    pki = ctx.pki
    _refuse_ec_for_esp8266(ctx, args.key_type, "CA (it signs the broker's certificate)")
    replacing = pki.ca_cert.exists()
    cert = pki.create_ca(common_name=args.cn, key_type=args.key_type, days=args.days, force=args.force)
    say(f"certs: CA {certs.common_name(cert.subject)} ({certs.key_description(cert.public_key())}) "
        f"in {pki.ca_cert} and {pki.ca_der}; its key {pki.ca_key} (0600) signs every other "
        "certificate: keep it off shared machines")
    if replacing:
        say("certs: a new CA: issue the broker's certificate again (`certs broker --force`), "
            "then `provision --all` and copy the bundles to the boards")
    return 0


def _pinning(ctx, cert):
    """(devices whose bundles pin this certificate but not its key, devices that pin its key)."""
    from ..device import bundle
    fingerprint, key_pin = certs.fingerprint_sha256(cert), certs.spki_pin(cert)
    by_cert, by_key = [], []
    for device, cfg in sorted(bundle.bundles(ctx.devices_dir).items()):
        tls = cfg.get("tls", {})
        if "pin" not in tls.get("mode", ""):
            continue
        pins = tls.get("pins", [])
        if key_pin in pins:
            by_key.append(device)
        elif fingerprint in [p.replace(":", "").lower() for p in pins]:
            by_cert.append(device)
    return by_cert, by_key


def _renew(ctx, args):
    pki = ctx.pki
    if args.next or args.promote:
        raise UserError("--renew keeps the broker's key, --next and --promote rotate to a new "
                        "one: give one of them")
    if args.key_type:
        raise UserError("--renew keeps the broker's key, and so its type: drop --key-type (a new "
                        "key is a rotation: `certs broker --next`)")
    by_cert, by_key = _pinning(ctx, pki.broker())
    if by_cert and not args.force:
        raise UserError(f"{', '.join(by_cert)} pin(s) the broker's certificate, which a renewal "
                        "changes: they would stop connecting. Pin its key first (`provision "
                        "--all --pin-kind key`, copy the bundles to the boards), or rotate "
                        "without a gap (`certs broker --next`), or pass --force and provision "
                        "them again after")
    given = bool(args.dns or args.ip)
    old, new = pki.renew_broker(args.dns if given else None, args.ip if given else None,
                                days=args.days)
    say(f"certs: renewed {pki.broker_cert} over the same key ({pki.broker_key} kept): serial "
        f"{new.serial_number:x}, valid until {new.not_valid_after_utc:%Y-%m-%d}, for "
        f"{', '.join(certs.subject_alt_names(new))}")
    say(f"certs: the key pin stays valid: {certs.spki_pin(new)}"
        + (f" (pinned by {', '.join(by_key)})" if by_key else ""))
    say(f"certs: the certificate pin changes: {certs.fingerprint_sha256(old)} -> "
        f"{certs.fingerprint_sha256(new)}; devices in ca mode keep connecting (same CA)")
    if by_cert:
        warn(f"{', '.join(by_cert)} pin(s) the old certificate: `provision --all` and copy their "
             "bundles to the boards")
    if ctx.bdir.settings()["configured"]:
        say(f"certs: the broker's files have it; {ctx.bdir.apply(pki, 'certs broker --renew')}")
    return 0


def broker(ctx, args):
    pki = ctx.pki
    if args.renew:
        return _renew(ctx, args)
    key_type = args.key_type or "rsa"
    if args.promote:
        if args.next:
            raise UserError("--next and --promote are two steps of a rotation: run them one at a time")
        cert = pki.promote_next(force=args.force)
        say(f"certs: the next broker certificate is now {pki.broker_cert} (SHA-256 "
            f"{certs.fingerprint_sha256(cert)}); the old one is {pki.prev_cert}")
        # Mosquitto reads its certificate files again on SIGHUP, for new connections.
        say(f"certs: the broker's files have it; {ctx.bdir.apply(pki, 'certs broker --promote')}")
        say("certs: then `provision --all` drops the old pin from the bundles")
        return 0
    what = "next broker certificate" if args.next else "broker certificate"
    if key_type == "ec":
        _refuse_ec_for_esp8266(ctx, "ec", what)
    if args.next:
        given = bool(args.dns or args.ip)
        cert = pki.issue_next(args.dns if given else None, args.ip if given else None,
                              key_type=key_type, days=args.days, force=args.force)
        say(f"certs: {what} in {pki.next_cert} (key {pki.next_key}, 0600) for "
            f"{', '.join(certs.subject_alt_names(cert))}, SHA-256 {certs.fingerprint_sha256(cert)}")
        say("certs: next: `provision --all` (bundles pin the current and the next certificate), "
            "copy the bundles to the boards (`flash --device ID --port P`), then "
            "`certs broker --promote` and restart the broker")
        return 0
    if not (args.dns or args.ip):
        raise UserError("give the names devices use to reach the broker: --dns NAME and/or "
                        "--ip ADDRESS (e.g. --dns broker.lan --ip 192.168.1.10)")
    if pki.broker_key.exists() and not args.force:
        raise UserError(f"{pki.broker_key} exists: keep it, pass --force to replace it (devices "
                        "that pin it stop connecting), or rotate with --next and --promote")
    cert = pki.issue_broker(args.dns, args.ip, key_type=key_type, days=args.days, force=args.force)
    say(f"certs: {what} in {pki.broker_cert} ({certs.key_description(cert.public_key())}, key "
        f"{pki.broker_key} 0600) for {', '.join(certs.subject_alt_names(cert))}; SHA-256 "
        f"{certs.fingerprint_sha256(cert)}")
    if key_type == "ec":
        say("certs: note: ESP8266 boards cannot connect to a broker with an EC key (axTLS does "
            "only RSA key exchange)")
    if ctx.bdir.settings()["configured"]:
        say(f"certs: the broker's files have it; {ctx.bdir.apply(pki, 'certs broker')}")
    return 0


def device(ctx, args):
    from ..device.inputs import check_device_id
    pki = ctx.pki
    check_device_id(args.device)
    if args.device in _esp8266_devices(ctx) and args.key_type != "rsa":
        raise UserError(f"{args.device} is an esp8266, which loads only RSA client keys (axTLS)")
    cert = pki.issue_device(args.device, key_type=args.key_type, days=args.days, force=args.force)
    say(f"certs: client certificate for {args.device} in {pki.device_cert(args.device)} (key "
        f"{pki.device_key(args.device)}, 0600), SHA-256 {certs.fingerprint_sha256(cert)}")
    return 0


def show(ctx, args):
    pki = ctx.pki
    paths = [(Path(p).name, Path(p)) for p in args.files] or pki.inventory()
    if not paths:
        raise UserError(f"no certificates in {pki.root}/: create the CA with `certs ca`")
    expired = warned = 0
    for label, path in paths:
        # A file named on the command line may be a broker's that this PKI does not manage.
        d = _print_cert(label, path, args.warn_days,
                        key_pin=bool(args.files) or label.startswith("broker"))
        if d["warning"]:
            warned += 1
            expired += d["days_left"] < 0 or "before" in d["warning"]
    if warned:
        warn(f"{warned} certificate(s) expire within {args.warn_days} days or are out of date: "
             "rotate the broker's with `certs broker --next`, reissue the others with --force")
    return 1 if expired else 0
