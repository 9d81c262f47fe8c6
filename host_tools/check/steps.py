"""`check`: connect to a broker the way a device would, and say case by case what is wrong.

The cases are those of the usual troubleshooting sections: connection refused, a port that
does not speak TLS, a certificate the device would not trust (and why: CA, dates, name, pin),
a client certificate the broker requires, a wrong user or password, an ACL that does not give
the device its topics (or gives it more), a broker that has not read the latest changes. It
also prints the chain the broker sends, and tries the handshake an ESP8266 would make (axTLS:
TLS 1.2, RSA key exchange suites only).

Nothing secret is sent before the broker is authenticated as the device would authenticate it,
and the login leaves the device's session as it was (login.py).
"""

from ..broker import acl
from . import connect, login
from . import diagnosis as diag
from .report import Report

TRANSPORT_FAILURES = ("refused", "timeout", "no_such_host", "unreachable", "not_tls", "no_tls")


def _plain(t, report, timeout):
    """A plain listener: whether it answers MQTT at all."""
    sock = connect.tcp(t, report, timeout)
    if sock is None:
        return False
    sock.close()
    if login.plain_probe(t, timeout):
        diag.plain(report)
        return True
    if connect.speaks_tls(t, timeout):
        diag.expects_tls(report, t)
    else:
        diag.not_mqtt(report, t)
    return False


def _login(t, report, anchor_der, timeout) -> bool:
    result = login.login(t, anchor_der, timeout)
    if result.code is None:
        diag.no_connack(report, result.error)
        return False
    if result.code != 0:
        diag.login_refused(report, result.code, t)
        return False
    diag.login_ok(report, t)
    diag.session(report, result.session_present, result.session_removed)
    return True


def _topics(t, report):
    """The device's rules in the broker's ACL (or RabbitMQ's topic permissions), as the broker
    reads them."""
    if not t.device_id:
        diag.acl_no_device(report)
        return
    if t.acl_file is None or not t.acl_file.exists():
        diag.acl_not_here(report)
        return
    allows = t.site.allows
    may, may_not = acl.device_samples(t.device_id)
    missing = [(a, topic) for a, topic in may if not allows(t.username, a, topic)]
    if missing:
        diag.acl_denied(report, t, missing)
        return
    diag.acl_own(report, t, may)
    leaks = [(a, topic) for a, topic in may_not if allows(t.username, a, topic)]
    if leaks:
        diag.acl_open(report, t, leaks)
    else:
        diag.acl_others(report)


def _changes(t, report):
    """Whether the broker has read what `provision`, `broker user` and `revoke` changed."""
    if t.site is None:
        return
    c = t.site.changes()
    pid = t.site.running_pid()
    if pid:
        if c.get("loaded") != c["changed"]:
            diag.unread_changes(report, pid, t.site.unread(c.get("loaded")))
    elif c.get("installed") is not None and c["installed"] < c["changed"]:
        diag.not_installed(report, c.get("installed_to"), t.site.unread(c["installed"]))


def run(t, timeout=5.0, out=print) -> Report:
    report = Report(out)
    diag.target(report, t)
    _changes(t, report)
    if t.tls:
        anchor = connect.tls_handshake(t, report, timeout, lambda: login.plain_probe(t, timeout))
        reachable = anchor is not None
    else:
        anchor, reachable = None, _plain(t, report, timeout)
    if reachable and _login(t, report, anchor, timeout):
        _topics(t, report)
    if t.tls and not any(f.code in TRANSPORT_FAILURES for f in report.findings):
        connect.esp8266(t, report, timeout, required=t.board == "esp8266")
    return report
