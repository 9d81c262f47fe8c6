"""Every verdict `check` gives, in the words of the usual troubleshooting sections of Mosquitto
TLS guides, each with what to do. The steps (steps.py) decide what happened; this module says
it. Nothing here talks to the broker except through the probe it is given."""

import datetime as dt
from pathlib import Path

from cryptography import x509

from ..errors import UserError
from ..pki import x509 as certs

RESTART_HINT = "`broker run` here reloads by itself; a broker host: `sudo systemctl reload mosquitto`"


def load_chain(chain_der):
    out = []
    for der in chain_der:
        try:
            out.append(x509.load_der_x509_certificate(der))
        except ValueError:
            break
    return out


# The target and the connection ------------------------------------------------------------

def target(report, t):
    mode = t.mode if t.tls else "plain"
    report.add("info", "target", f"checking {t.host}:{t.port} "
               + (f"as device {t.device_id} ({t.board or 'board?'}, tls {mode})"
                  if t.device_id else f"(tls {mode})"))


def tcp_ok(report, where):
    report.add("ok", "tcp", f"TCP connection to {where}")


def no_such_host(report, host, exc):
    report.add("fail", "no_such_host", f"cannot resolve {host} ({exc.strerror})",
               "check the host name (--host, MQTT_BROKER_HOST), or use its IP address")


def refused(report, where):
    report.add("fail", "refused", f"connection refused by {where}: nothing listens on that port",
               "start the broker (`python -m host_tools broker run`), and check the port: 8883 "
               "for TLS, 1883 plain; the listener lines in the broker's config; a firewall")


def timed_out(report, where, timeout, port):
    report.add("fail", "timeout", f"no answer from {where} within {timeout:g} s",
               f"check the address, and that a firewall lets TCP port {port} through")


def unreachable(report, where, exc):
    report.add("fail", "unreachable", f"cannot reach {where}: {exc.strerror or exc}",
               "check the address and the network between here and the broker")


def bad_client_certificate(t, exc):
    return UserError(f"cannot load the client certificate {t.certfile} with key {t.keyfile} "
                     f"({exc}): check MQTT_CERTFILE/MQTT_KEYFILE belong together")


# TLS -------------------------------------------------------------------------------------

def tls_ok(report, version, cipher):
    report.add("ok", "tls", f"TLS handshake: {version}, {cipher}")


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


def trusted(report, t):
    report.add("ok", "trusted", f"the certificate is trusted: signed by {t.ca_label}, in date, "
               f"issued for {t.checked_name}")


def insecure(report):
    report.add("warn", "insecure", "TLS without checking the broker (insecure): anyone in the "
               "middle could read the password", "use the CA (MQTT_CA_CERTS, tls mode ca) or a pin")


def pin_mismatch(report, seen, pins):
    fingerprint, key_pin = seen
    report.add("fail", "pin_mismatch",
               f"the broker's certificate (SHA-256 {fingerprint}, key pin {key_pin}) matches none "
               f"of the device's {len(pins)} pin(s): {', '.join(p[:16] + '...' for p in pins)}",
               "the broker's certificate changed: provision the device again (it pins the current "
               "and the next certificate) and copy its bundle to the board")


def pinned(report, index, count, by_key=False):
    report.add("ok", "pinned", f"the certificate matches pin {index + 1} of {count}"
               + (" (its public key)" if by_key else ""))


def certificate_fragmented(report, records, size):
    report.add("info", "cert_fragmented", f"the broker's Certificate message ({size} bytes) "
               f"came split over {records} TLS records")


def client_certificate_asked(report, sent):
    report.add("info", "mtls", "the broker asks for a client certificate (mutual TLS)"
               + (": one was sent" if sent else ""))


def explain_untrusted(chain, t, verify_message, report, now=None):
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
    if t.ca_certs:
        pool = list(t.ca_certs)
        cur, trusted_by = leaf, None
        for _ in range(6):
            anchor = next((ca for ca in pool if certs.issued_by(cur, ca)), None)
            if anchor is not None:
                trusted_by = anchor
                break
            nxt = next((c for c in chain[1:] if c is not cur and certs.issued_by(cur, c)), None)
            if nxt is None:
                break
            cur = nxt
        if trusted_by is None:
            found = True
            names = ", ".join(certs.common_name(c.subject) for c in t.ca_certs)
            report.add("fail", "untrusted_ca",
                       f"the broker's certificate is issued by {certs.common_name(cur.issuer)}, "
                       f"which is not the CA the device trusts ({t.ca_label}: {names})",
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
                   f"is not in {t.ca_label} (a private CA)",
                   "give the CA file (MQTT_CA_CERTS=certs/ca.crt); MQTT_TLS_INSECURE=true is no fix: "
                   "it lets anyone pose as the broker and collect the password")
    if not certs.matches_name(leaf, t.checked_name):
        found = True
        names = ", ".join(certs.subject_alt_names(leaf)) or "no names"
        report.add("fail", "name_mismatch",
                   f"the broker's certificate is for {names}, not for {t.checked_name}",
                   f"connect with one of those names (--host; server_hostname in the device "
                   f"config), or reissue it with `certs broker --dns {t.checked_name}` (or --ip)")
    if not found:
        report.add("fail", "untrusted", f"the broker's certificate is not trusted ({verify_message})",
                   "compare the broker's certificate with the device's CA (`certs show`)")


def explain_handshake_failure(exc, seen, t, report, plain_probe):
    where = f"{t.host}:{t.port}"
    alert = seen.alert_name
    if seen.version is None and (seen.bytes_in == 0 or alert is None):
        if plain_probe():
            report.add("fail", "not_tls", f"{where} speaks plain MQTT, not TLS",
                       "use the broker's TLS port (8883), or MQTT_USE_TLS=false for a plain "
                       "development listener (which sends the password in clear)")
        else:
            report.add("fail", "no_tls", f"{where} did not answer the TLS handshake ({exc})",
                       "check the port is the broker's TLS listener (8883) and that it has "
                       "certfile/keyfile in the broker's config; see the broker's log")
        return
    if alert == "protocol_version" or (seen.version is None and "version" in str(exc).lower()):
        report.add("fail", "tls_version", f"{where} does not accept TLS 1.2 ({exc})",
                   "boards speak TLS 1.2: set `tls_version tlsv1.2` in the broker's config "
                   "(`broker config` writes it)")
        return
    if seen.cert_request and not t.certfile:
        report.add("fail", "client_cert_required",
                   f"the broker requires a client certificate (mutual TLS, require_certificate "
                   f"true) and this client has none (alert: {alert or exc})",
                   "provision the device with --mtls (it gets client.der/client.key.der), or set "
                   "MQTT_CERTFILE and MQTT_KEYFILE")
        return
    if t.certfile and alert in ("bad_certificate", "unsupported_certificate", "certificate_revoked",
                                "certificate_expired", "certificate_unknown", "unknown_ca",
                                "access_denied", "decrypt_error"):
        why = client_cert_problem(t)
        report.add("fail", "client_cert_rejected",
                   f"the broker rejected the client certificate (alert: {alert})" + (f": {why}" if why else ""),
                   "issue the device's certificate from the CA in the broker's cafile "
                   "(`provision DEVICE --mtls --force`) and copy its bundle to the board; a revoked "
                   "device (`revoke`) stays out")
        return
    if alert == "handshake_failure" and seen.suite is None:
        report.add("fail", "no_common_suite", f"the broker and this client share no cipher suite "
                   f"(alert: {alert})", "check the broker's ciphers and key type (`certs show`)")
        return
    report.add("fail", "tls_failed", f"the TLS handshake with {where} failed: {exc}"
               + (f" (alert: {alert})" if alert else ""), "see the broker's log for its side of it")


def client_cert_problem(t):
    try:
        cert = certs.load_cert(t.certfile)
    except UserError:
        return None
    now = dt.datetime.now(dt.timezone.utc)
    if cert.not_valid_after_utc < now:
        return f"it expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    if t.ca_certs and not any(certs.issued_by(cert, ca) for ca in t.ca_certs):
        return f"it is issued by {certs.common_name(cert.issuer)}, not by {t.ca_label}"
    if t.pki is not None:
        from ..pki import crl
        if cert.serial_number in crl.revoked_serials(t.pki):
            return "it is on the CA's revocation list (the device was revoked)"
    return None


def esp8266(report, ok, required, suite_name=None, key=None, stopped=False, why=None,
            cert_problem=False):
    if ok:
        suffix = " (the handshake then stopped for lack of a client certificate)" if stopped else ""
        report.add("ok", "esp8266_ok", f"an ESP8266 could connect: TLS 1.2 with {suite_name} and "
                   f"the broker's {key} key{suffix}")
        return
    report.add("fail" if required else "warn", "esp8266_no",
               f"an ESP8266 could not connect: the broker's certificate: {why}" if cert_problem
               else f"an ESP8266 could not connect: {why}",
               "give the broker an RSA certificate from an RSA CA: `certs broker --key-type rsa "
               "--force` (RSA 2048 is the default), then restart the broker")


def esp8266_fragmented(report, required, records):
    report.add("fail" if required else "warn", "esp8266_no",
               f"an ESP8266 could not connect: the broker sends its Certificate message in "
               f"{records} TLS records, and axTLS refuses a handshake message split across "
               "records (node.tlsguard reads it whole, axTLS does not)",
               "have the broker send its certificate in one record: only its own certificate "
               "(no chain), no small record size (a TLS fragment or record size limit)")


# A plain listener ------------------------------------------------------------------------

def expects_tls(report, t):
    report.add("fail", "expects_tls", f"{t.host}:{t.port} expects TLS, not plain MQTT",
               "set MQTT_USE_TLS=true (and MQTT_CA_CERTS to the CA file)")


def not_mqtt(report, t):
    report.add("fail", "not_mqtt", f"{t.host}:{t.port} did not answer MQTT",
               "check the port belongs to the broker (1883 plain, 8883 TLS)")


def plain(report):
    report.add("warn", "plain", "plain MQTT: the password crosses the network in clear",
               "use the TLS listener (8883) with MQTT_USE_TLS=true")


# The login -------------------------------------------------------------------------------

CONNACK_CODES = {0: "accepted", 1: "unacceptable protocol version", 2: "client identifier rejected",
                 3: "server unavailable", 4: "bad user name or password", 5: "not authorized"}


def login_ok(report, t):
    report.add("ok", "login", f"logged in as {t.username or '(anonymous)'}")


def no_connack(report, why):
    report.add("fail", "no_connack", f"the broker closed the connection without answering CONNECT "
               f"({why})", "see the broker's log: it says why it dropped the client")


def login_refused(report, code, t):
    meaning = CONNACK_CODES.get(code, "unknown code")
    if code in (4, 5) and t.username is None:
        report.add("fail", "needs_login", f"the broker refused an anonymous login (code {code}, "
                   f"{meaning})", "set MQTT_USERNAME and MQTT_PASSWORD, or check the device's bundle")
    elif code in (4, 5):
        explain_login(code, meaning, t, report)
    else:
        report.add("fail", "refused_login", f"the broker refused the connection: code {code}, "
                   f"{meaning}", "see the broker's log")


def explain_login(code, meaning, t, report):
    user = t.username
    head = f"the broker refused the login of {user} (CONNACK code {code}, {meaning})"
    if t.passwd_file and Path(t.passwd_file).exists():
        matches = t.site.password_matches(user, t.password or "")
        if matches is None:
            report.add("fail", "unknown_user", f"{head}: {user} is not in the password file "
                       f"{t.passwd_file}", f"provision it (`provision {user}`) or add it "
                       f"(`broker user`); then the broker must reload: {RESTART_HINT}")
        elif not matches:
            report.add("fail", "wrong_password", f"{head}: wrong password (it does not match "
                       f"{user}'s hash in {t.passwd_file})",
                       "use the password from the device's bundle, or provision it again "
                       "(--new-password) and copy the bundle to the board")
        else:
            report.add("fail", "stale_password_file", f"{head}, though {t.passwd_file} has "
                       "this password: the running broker has not read the file since it changed",
                       f"reload the broker (SIGHUP, or restart it): {RESTART_HINT}")
        return
    report.add("fail", "wrong_password", f"{head}: wrong user name or password (Mosquitto answers "
               "'not authorized' to both)", "check MQTT_USERNAME/MQTT_PASSWORD, or provision the "
               "device again and copy its bundle")


def session(report, present, removed):
    if present:
        report.add("info", "session", "the login's persistent session is there; the check took "
                   "nothing from it (no subscription, no acknowledgement, no message)")
    elif removed:
        report.add("info", "session", "the login had no session at the broker; the one the check "
                   "opened was removed again")


# Topics ----------------------------------------------------------------------------------

def acl_not_here(report):
    report.add("info", "acl_skipped", "the broker's ACL is not on this machine: its rules for "
               "this device were not checked")


def acl_no_device(report):
    report.add("info", "acl_skipped", "give --device NAME to check a device's topics")


def acl_denied(report, t, missing):
    hint = ""
    if not t.site.has_rules_for(t.username):
        hint = f"; {t.acl_file} has no block for {t.username}"
    report.add("fail", "acl_denied", f"the ACL does not let {t.username} "
               + ", ".join(f"{access} {topic}" for access, topic in missing),
               "provision the device (it writes its block into the ACL), then reload the broker"
               + hint)


def acl_own(report, t, allowed):
    writes = sorted({topic.rsplit("/", 1)[-1] for access, topic in allowed if access == "write"})
    report.add("ok", "acl_own", f"the ACL lets {t.username} write its {', '.join(writes)} and read "
               f"nodes/{t.device_id}/cmd/")


def acl_open(report, t, leaks):
    report.add("warn", "acl_open", f"the ACL also lets {t.username} "
               + ", ".join(f"{access} {topic}" for access, topic in leaks),
               "use the ACL `broker config` writes: a device writes only its own readings, status, "
               "stats and reply, and reads only its own commands")


def acl_others(report):
    report.add("ok", "acl_others", "and nothing of another node's topics, nor its own commands")


def unread_changes(report, pid, unread):
    listed = "; ".join(f"{what} ({at})" for at, what in unread[-3:])
    report.add("warn", "not_reloaded", f"the broker running here (pid {pid}) has not read "
               f"{len(unread)} change(s): {listed}", f"reload it: `kill -HUP {pid}`")


def not_installed(report, installed_to, unread):
    listed = "; ".join(f"{what} ({at})" for at, what in unread[-3:])
    report.add("warn", "not_installed", f"{len(unread)} change(s) since the last `broker install` "
               f"({installed_to}): {listed}", "install them (`broker install`) and reload the "
               "broker on its host: `sudo systemctl reload mosquitto`")
