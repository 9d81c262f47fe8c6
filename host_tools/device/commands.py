"""`provision`, `revoke`, `build`, `image`, `flash`: the bodies of the device commands."""

from pathlib import Path

from .. import tools
from ..context import read_secret_line, say, warn
from ..errors import UserError
from . import build as mpy_build
from . import bundle, chips, flash as flasher, image as mp_image, provision as prov, serialport
from .revoke import revoke as revoke_device


# provision --------------------------------------------------------------------------------

def provision(ctx, args):
    if args.all:
        if args.device:
            raise UserError("give a DEVICE or --all, not both")
        if args.password_stdin or args.board:
            raise UserError("--all keeps each device's board and password: drop --password-stdin "
                            "and --board (or provision the devices one by one)")
        folders = bundle.bundle_dirs(ctx.devices_dir)
        if not folders:
            raise UserError(f"no device bundles in {ctx.devices_dir}/ to refresh")
        ids = [f.name for f in folders]
    elif not args.device:
        raise UserError("name the device: `provision DEVICE --board esp32|esp8266|unix` (or --all)")
    else:
        ids = [args.device]
    settings = ctx.settings()
    password = read_secret_line("password") if args.password_stdin else None
    failed = []
    for device_id in ids:
        req = prov.Request(
            device_id=device_id, board=args.board, host=args.host, port=args.port,
            also_hosts=args.also_host,
            tls_on_plain_port=args.tls_on_plain_port, tls_mode=args.tls_mode,
            mtls=True if args.mtls else (False if args.no_mtls else None),
            server_hostname=args.server_hostname, password=password, new_password=args.new_password,
            wifi_ssid=args.wifi_ssid, wifi_password=settings.wifi_password,
            open_wifi=args.open_wifi, pins=args.pin or [], pin_kind=args.pin_kind,
            broker_cert=Path(args.broker_cert) if args.broker_cert else None,
            ca_file=Path(args.ca) if args.ca else None, key_type=args.key_type, force=args.force,
            discovery=args.discovery)
        if not args.all:
            _report(ctx, prov.provision(req, pki=ctx.pki, bdir=ctx.bdir, root=ctx.devices_dir,
                                        env_settings=settings))
            continue
        # --all goes through every device, and names each one it could not refresh.
        try:
            _report(ctx, prov.provision(req, pki=ctx.pki, bdir=ctx.bdir, root=ctx.devices_dir,
                                        env_settings=settings))
        except UserError as exc:
            warn(f"{device_id} not refreshed: {exc}")
            failed.append((device_id, str(exc).split(":")[0]))
    if failed:
        raise UserError(f"{len(failed)} of {len(ids)} device(s) not refreshed: "
                        + "; ".join(f"{d} ({why})" for d, why in failed)
                        + ": fix each as said above, then `provision DEVICE`")
    return 0


def _report(ctx, r):
    cfg = r.cfg
    tls = cfg["tls"]
    files = sorted(p.name for p in r.bundle.iterdir())
    say(f"provision: {cfg['board']} device {cfg['device_id']} -> {r.bundle}/ ({', '.join(files)})")
    pins = ", ".join(p[:16] + "..." for p in tls["pins"])
    mqtt = cfg["mqtt"]
    brokers = ([f"{h['host']}:{h['port']}" for h in mqtt["hosts"]] if "hosts" in mqtt
               else [f"{mqtt['host']}:{mqtt['port']}"])
    say(f"  broker    {', then '.join(brokers)}, tls {tls['mode']}"
        + (f", checks the name {tls['server_hostname']}" if tls.get("server_hostname") else "")
        + (f", pins {pins}" if tls["pins"] else ""))
    if tls.get("cert"):
        say(f"  mutual    client certificate {ctx.pki.device_cert(cfg['device_id'])}"
            + (" (new)" if r.client_cert_issued else " (kept)"))
    if "wifi" in cfg:
        say(f"  wifi      {cfg['wifi']['ssid']}" + ("" if cfg["wifi"]["password"] else " (open network)"))
    if cfg["mqtt"]["discovery"]:
        say(f"  discovery Home Assistant configs under homeassistant/sensor/{cfg['device_id']}/")
    else:
        say("  discovery off (--discovery turns it on)")
    how = "generated" if r.password_generated else ("kept from the bundle" if r.password_kept else "from stdin")
    say(f"  password  {how}; stored only in config.json (0600) and as a hash in {ctx.bdir.password_file}")
    say(f"  broker    {cfg['device_id']} is in the password file and the ACL; {r.outcome}")
    for w in r.warnings:
        warn(w)


def revoke(ctx, args):
    r = revoke_device(args.device, pki=ctx.pki, bdir=ctx.bdir, devices_dir=ctx.devices_dir,
                      revoked_dir=ctx.revoked_dir)
    say(f"revoke: {r.device_id}: " + ("login and ACL block removed" if r.login_removed
                                      else "it had no login"))
    if r.certificates_revoked:
        say(f"  revoked   {', '.join(r.certificates_revoked)} on the CRL {ctx.pki.crl} (the broker "
            "checks it when it requires client certificates)")
    if r.bundle_moved_to:
        say(f"  bundle    moved to {r.bundle_moved_to}/ (out of `provision --all`)")
    for path in r.moved_keys:
        say(f"  kept      {path}")
    say(f"  broker    {r.outcome}")
    return 0


# build / image / flash --------------------------------------------------------------------

def build(ctx, args):
    given = [x for x in (args.mpy, args.micropython, args.port) if x]
    if len(given) > 1:
        raise UserError("give one of --mpy, --micropython and --port")
    if args.board == "esp8266":
        raise UserError(f"{flasher.NO_MPY_ON_ESP8266}: build its image with `image --board esp8266 "
                        "--micropython-src DIR`")
    arch = mpy_build.BOARD_ARCH.get(args.board) if args.board else None
    if args.mpy:
        mpy = mpy_build.normalise_mpy(args.mpy)
        source = "as given"
    elif args.micropython:
        mpy = mpy_build.mpy_for_release(args.micropython)
        source = f"for MicroPython {args.micropython}"
    elif args.port:
        mpy, board_arch, version = mpy_build.board_mpy(args.port)
        arch = arch or board_arch
        source = f"read from the board on {args.port} (MicroPython {version})"
    else:
        mpy, source = mpy_build.CURRENT_MPY, "the default: MicroPython 1.23 and later"
    result = mpy_build.build(out=Path(args.out) if args.out else ctx.firmware_dir, mpy=mpy, arch=arch)
    lines = mpy_build.report(result)
    lines[0] += f" ({source})"
    for line in lines:
        say(line)
    return 0


def image(ctx, args):
    chip = chips.chip_for(args.board, args.chip)
    if not args.micropython_src:
        raise UserError(f"give --micropython-src DIR: a MicroPython source tree (`{mp_image.SOURCE}`), "
                        "or a tarball of one")
    p = mp_image.plan(chip, Path(args.micropython_src), ctx.image_dir, board=args.mp_board,
                      work_dir=ctx.build_dir)
    if args.dry_run:
        say(f"# image for {chip.name} ({args.mp_board or chip.micropython_board}): the commands, not run")
        for step in p.steps:
            if step.what:
                say(f"# {step.what}")
            say(tools.show(step.argv))
        return 0
    out = mp_image.execute(p, out=say)
    say(f"image: {out} has the node frozen in; `flash --board {chip.board} --port P --device ID` "
        "writes it")
    return 0


def flash(ctx, args):
    device_bundle = ctx.devices_dir / args.device if args.device else None
    board = args.board
    if device_bundle is not None:
        cfg = bundle.read_config(device_bundle)
        if cfg is None:
            raise UserError(f"no bundle for {args.device} in {ctx.devices_dir}/: provision it first "
                            f"(`provision {args.device} --board {board or 'esp32|esp8266'}`)")
        board = board or cfg.get("board")
    if not board:
        raise UserError("which board? give --board esp32|esp8266 (or --device, whose bundle says)")
    chip = chips.chip_for(board, args.chip)
    firmware = Path(args.firmware) if args.firmware else None
    if firmware is None and chip.board == "esp8266" and not args.no_image:
        firmware = ctx.image_dir / chip.name / "firmware.bin"
        if not firmware.exists():
            raise UserError(f"no image in {firmware}: build it with `image --board esp8266 "
                            "--micropython-src DIR` (an ESP8266 needs the node frozen in), give "
                            "--firmware FILE, or --no-image to keep the board's")
    p = flasher.plan(args.port or "", chip, firmware=firmware,
                     build_dir=Path(args.build_dir) if args.build_dir else ctx.firmware_dir,
                     bundle=device_bundle, baud=args.baud, erase=not args.no_erase,
                     modules_asked=bool(args.build_dir))
    if args.dry_run:
        say(f"# flash {chip.name} on {args.port or '(no port)'}: the commands, not run")
        for (what, _, _), line in zip(p.steps, p.commands()):
            say(f"# {what}")
            say(line)
        return 0
    if not args.port:
        serialport.check("")
    if firmware is None:
        say("flash: keeping the MicroPython already on the board, copying files only")
    flasher.execute(p, args.port, out=say)
    say(f"flash: done; watch it boot with `make repl PORT={args.port}`")
    return 0
