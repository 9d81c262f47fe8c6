"""Why a step of `check` failed, in the words of the seeds' troubleshooting sections, with
what to do. Each function adds findings to the report; none talks to the broker except through
the probe it is given."""

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ..broker import mosquitto as mosq
from ..pki import x509 as certs
from ..errors import UserError


def load_chain(chain_der):
    out = []
    for der in chain_der:
        try:
            out.append(x509.load_der_x509_certificate(der))
        except ValueError:
            break
    return out


def issued_by(cert, issuer) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def print_chain(chain, report):
    if not chain:
        report.add("warn", "no_chain", "the broker's certificate was not visible in the handshake")
        return
    report.add("info", "chain", f"the broker sent {len(chain)} certificate(s):")
    for i, cert in enumerate(chain):
        d = certs.describe(cert)
        report.add("info", "chain", f"  [{i}] {d['subject']} ({d['key']}), issued by {d['issuer']}")
        if d["sans"]:
            report.add("info", "chain", f"      names: {', '.join(d['sans'])}")
        report.add("info", "chain", f"      valid until {d['not_after']:%Y-%m-%d %H:%M} UTC "
                                    f"({d['days_left']} days)")
        report.add("info", "chain", f"      SHA-256 {d['sha256']}")
        if d["warning"]:
            report.add("warn", "expires_soon" if d["days_left"] >= 0 else "cert_dates",
                       f"  [{i}] {d['subject']} {d['warning']}",
                       "rotate it: `certs broker --next`, `provision --all`, copy the bundles, "
                       "`certs broker --promote`, restart the broker")


def explain_untrusted(chain, target, verify_message, report, now=None):
    """Why the device would not trust the broker's certificate: each cause found."""
    now = now or dt.datetime.now(dt.timezone.utc)
    found = False
    if not chain:
        report.add("fail", "untrusted", f"the broker's certificate is not trusted ({verify_message})",
                   "compare the broker's certificate with the device's CA (`certs show`)")
        return
    leaf = chain[0]
    if leaf.not_valid_after_utc < now:
        found = True
        report.add("fail", "expired", f"the broker's certificate expired on "
                   f"{leaf.not_valid_after_utc:%Y-%m-%d} ({int((now - leaf.not_valid_after_utc).days)} days ago)",
                   "issue a new one (`certs broker --force`, or a rotation: `certs broker --next`, "
                   "`provision --all`, `certs broker --promote`) and restart the broker")
    if leaf.not_valid_before_utc > now:
        found = True
        report.add("fail", "not_yet_valid", f"the broker's certificate is not valid before "
                   f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                   "check the clocks: this machine's, the broker's and where the certificate was made")
    if target.ca_certs:
        pool = list(target.ca_certs)
        cur, trusted_by = leaf, None
        for _ in range(6):
            anchor = next((ca for ca in pool if issued_by(cur, ca)), None)
            if anchor is not None:
                trusted_by = anchor
                break
            nxt = next((c for c in chain[1:] if c is not cur and issued_by(cur, c)), None)
            if nxt is None:
                break
            cur = nxt
        if trusted_by is None:
            found = True
            names = ", ".join(certs.common_name(c.subject) for c in target.ca_certs)
            report.add("fail", "untrusted_ca",
                       f"the broker's certificate is issued by {certs.common_name(cur.issuer)}, "
                       f"which is not the CA the device trusts ({target.ca_label}: {names})",
                       "give the device the CA that signed the broker's certificate (MQTT_CA_CERTS, "
                       "`provision --ca`), or issue the broker's certificate from your CA "
                       "(`certs broker`) and restart the broker")
        elif trusted_by.not_valid_after_utc < now:
            found = True
            report.add("fail", "ca_expired", f"the CA {certs.common_name(trusted_by.subject)} "
                       f"expired on {trusted_by.not_valid_after_utc:%Y-%m-%d}",
                       "make a new CA (`certs ca --force`), reissue the broker and device "
                       "certificates, and provision every device again")
    elif verify_message and any(w in verify_message for w in ("self-signed", "self signed", "local issuer")):
        found = True
        report.add("fail", "untrusted_ca",
                   f"the broker's certificate is issued by {certs.common_name(leaf.issuer)}, which "
                   f"is not in {target.ca_label} (a private CA)",
                   "give the CA file (MQTT_CA_CERTS=certs/ca.crt); MQTT_TLS_INSECURE=true is no fix: "
                   "it lets anyone pose as the broker and collect the password")
    if not certs.matches_name(leaf, target.checked_name):
        found = True
        names = ", ".join(certs.subject_alt_names(leaf)) or "no names"
        report.add("fail", "name_mismatch",
                   f"the broker's certificate is for {names}, not for {target.checked_name}",
                   f"connect with one of those names (--host; server_hostname in the device "
                   f"config), or reissue it with `certs broker --dns {target.checked_name}` (or --ip)")
    if not found:
        report.add("fail", "untrusted", f"the broker's certificate is not trusted ({verify_message})",
                   "compare the broker's certificate with the device's CA (`certs show`)")


def explain_handshake_failure(exc, seen, target, report, plain_probe):
    where = f"{target.host}:{target.port}"
    alert = seen.alert_name
    if seen.version is None and (seen.bytes_in == 0 or alert is None):
        if plain_probe():
            report.add("fail", "not_tls", f"{where} speaks plain MQTT, not TLS",
                       "use the broker's TLS port (8883), or MQTT_USE_TLS=false for a plain "
                       "development listener (which sends the password in clear)")
        else:
            report.add("fail", "no_tls", f"{where} did not answer the TLS handshake ({exc})",
                       "check the port is the broker's TLS listener (8883) and that it has "
                       "certfile/keyfile in mosquitto.conf; see the broker's log")
        return
    if alert == "protocol_version" or (seen.version is None and "version" in str(exc).lower()):
        report.add("fail", "tls_version", f"{where} does not accept TLS 1.2 ({exc})",
                   "boards speak TLS 1.2: set `tls_version tlsv1.2` in mosquitto.conf "
                   "(`broker config` writes it)")
        return
    if seen.cert_request and not target.certfile:
        report.add("fail", "client_cert_required",
                   f"the broker requires a client certificate (mutual TLS, require_certificate "
                   f"true) and this client has none (alert: {alert or exc})",
                   "provision the device with --mtls (it gets client.der/client.key.der), or set "
                   "MQTT_CERTFILE and MQTT_KEYFILE")
        return
    if target.certfile and alert in ("bad_certificate", "unsupported_certificate", "certificate_revoked",
                                     "certificate_expired", "certificate_unknown", "unknown_ca",
                                     "access_denied", "decrypt_error"):
        why = client_cert_problem(target)
        report.add("fail", "client_cert_rejected",
                   f"the broker rejected the client certificate (alert: {alert})" + (f": {why}" if why else ""),
                   "issue the device's certificate from the CA in the broker's cafile "
                   "(`provision DEVICE --mtls --force`) and copy its bundle to the board")
        return
    if alert == "handshake_failure" and seen.suite is None:
        report.add("fail", "no_common_suite", f"the broker and this client share no cipher suite "
                   f"(alert: {alert})", "check the broker's ciphers and key type (`certs show`)")
        return
    report.add("fail", "tls_failed", f"the TLS handshake with {where} failed: {exc}"
               + (f" (alert: {alert})" if alert else ""), "see the broker's log for its side of it")


def client_cert_problem(target):
    try:
        cert = certs.load_cert(target.certfile)
    except UserError:
        return None
    now = dt.datetime.now(dt.timezone.utc)
    if cert.not_valid_after_utc < now:
        return f"it expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    if target.ca_certs and not any(issued_by(cert, ca) for ca in target.ca_certs):
        return f"it is issued by {certs.common_name(cert.issuer)}, not by {target.ca_label}"
    return None


def explain_login(code, meaning, target, report):
    user = target.username
    head = f"the broker refused the login of {user} (CONNACK code {code}, {meaning})"
    if target.passwd_file and Path(target.passwd_file).exists():
        users = mosq.read_password_file(target.passwd_file)
        if user not in users:
            report.add("fail", "unknown_user", f"{head}: {user} is not in the password file "
                       f"{target.passwd_file}", f"provision it (`provision {user}`) or add it "
                       "(`broker user`); `broker run` reloads the file, else send the broker SIGHUP")
        elif not mosq.verify_password(target.password or "", users[user]):
            report.add("fail", "wrong_password", f"{head}: wrong password (it does not match "
                       f"{user}'s hash in {target.passwd_file})",
                       "use the password from the device's bundle, or provision it again "
                       "(--new-password) and copy the bundle to the board")
        else:
            report.add("fail", "stale_password_file", f"{head}, though {target.passwd_file} has "
                       "this password: the running broker has not read the file since it changed",
                       "reload the broker (SIGHUP, or restart it)")
        return
    report.add("fail", "wrong_password", f"{head}: wrong user name or password (Mosquitto answers "
               "'not authorized' to both)", "check MQTT_USERNAME/MQTT_PASSWORD, or provision the "
               "device again and copy its bundle")


def acl_hint(target):
    if target.acl_file and Path(target.acl_file).exists():
        if f"user {target.username}\n" not in Path(target.acl_file).read_text():
            return f"; {target.acl_file} has no block for {target.username}"
    return ""
