"""`revoke DEVICE`: a lost or retired device loses its way in.

Its login and ACL block go, its bundle moves out of the fleet (to build/revoked/, so `provision
--all` no longer refreshes it and its password stays on record), and its client certificate,
if it has one, goes on the CA's revocation list, which a broker requiring client certificates
checks. The broker then reloads. Provisioning the name again makes a new device.
"""

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..pki import crl
from ..pki import x509 as certs
from .bundle import CLIENT_CERT, read_config
from .inputs import check_device_id


@dataclass
class Revoked:
    device_id: str
    login_removed: bool
    bundle_moved_to: Path | None
    certificates_revoked: list = field(default_factory=list)   # subjects of what went on the CRL
    moved_keys: list = field(default_factory=list)
    outcome: str = ""


def revoke(device_id, *, pki, bdir, devices_dir: Path, revoked_dir: Path) -> Revoked:
    check_device_id(device_id)
    bundle = Path(devices_dir) / device_id
    role = bdir.role_of(device_id)
    if role == "monitor":
        raise UserError(f"{device_id} is a monitor, not a device: remove it with `revoke` only "
                        "for devices; delete its line from the password file by hand")
    if role is None and not bundle.exists():
        raise UserError(f"no device {device_id}: neither a login in {bdir.password_file} nor a "
                        f"bundle in {devices_dir}/ (`ls {devices_dir}` lists them)")
    if role == "by hand":
        raise UserError(f"{device_id} was added to {bdir.password_file} by hand: remove it there "
                        f"(`mosquitto_passwd -D {bdir.password_file} {device_id}`)")
    # The client certificates to revoke: the one on record here and the one in the bundle.
    client_certs = []
    if pki.device_cert(device_id).exists():
        client_certs.append(certs.load_cert(pki.device_cert(device_id)))
    if read_config(bundle) is not None and (bundle / CLIENT_CERT).exists():
        cert = certs.load_cert(bundle / CLIENT_CERT)
        if all(c.serial_number != cert.serial_number for c in client_certs):
            client_certs.append(cert)
    if client_certs:
        pki.load_ca()           # the CRL is signed with the CA's key: fail here, before any change

    result = Revoked(device_id, bdir.remove_login(device_id), None)
    for cert in client_certs:
        if crl.revoke(pki, cert):
            result.certificates_revoked.append(f"{certs.common_name(cert.subject)} "
                                               f"(serial {cert.serial_number:x})")
    result.moved_keys = pki.retire_device(device_id)
    if bundle.exists():
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        dest = Path(revoked_dir) / f"{device_id}-{stamp}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(bundle, dest)
        result.bundle_moved_to = dest
    result.outcome = bdir.apply(pki, f"revoke {device_id}")
    return result
