"""Key pins: "sha256//" + base64 of the SHA-256 of the broker's SubjectPublicKeyInfo (curl's
--pinnedpubkey form), beside the certificate's SHA-256. `certs show` prints both, `certs
broker --renew` keeps the key (and so the key pin), `provision` pins the key of a broker
certificate this PKI does not manage, and `check` reads both and a Certificate message split
over several TLS records."""

import base64
import hashlib
import json
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from integration.host_site import Site
from host_tools import certs, unixport
from host_tools.broker.process import free_port
from host_tools.check import tlswire
from host_tools.device import inputs
from host_tools.errors import UserError

WIFI = {"WIFI_PASSWORD": "correct horse"}
HOST = ("--host", "192.168.1.10", "--wifi-ssid", "lab")


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    s.ok("certs", "ca")
    s.ok("certs", "broker", "--dns", "broker.lan", "--ip", "192.168.1.10")
    return s


def leaf(key_type="rsa", name="broker.example"):
    ca_key = certs.generate_key("rsa")
    ca = certs.build_ca("another CA", ca_key)
    key = certs.generate_key(key_type)
    return certs.build_leaf(ca, ca_key, name, key, dns_names=(name,)), key


def write_cert(path, cert):
    certs.write_public(path, certs.cert_pem(cert))
    return path


# The pin itself ----------------------------------------------------------------------------

def spki_by_hand(der):
    """The SubjectPublicKeyInfo's bytes as they stand in the certificate: the 7th element of
    TBSCertificate (with its [0] version), found by walking the DER."""
    def tlv(i):
        n = der[i + 1]
        if n < 0x80:
            return i + 2, i + 2 + n
        k = n & 0x7F
        return i + 2 + k, i + 2 + k + int.from_bytes(der[i + 2:i + 2 + k], "big")
    i = tlv(tlv(0)[0])[0]
    for _ in range(6):
        i = tlv(i)[1]
    return der[i:tlv(i)[1]]


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_the_key_pin_is_the_sha256_of_the_certificates_own_spki_bytes(key_type):
    cert, _ = leaf(key_type)
    raw = spki_by_hand(certs.cert_der(cert))
    want = "sha256//" + base64.b64encode(hashlib.sha256(raw).digest()).decode()
    assert certs.spki_der(cert) == raw
    assert certs.spki_pin(cert) == want and len(want) == 8 + 44
    assert certs.spki_pin(cert) != "sha256//" + base64.b64encode(
        hashlib.sha256(certs.cert_der(cert)).digest()).decode()


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_the_key_pin_is_what_openssl_and_curl_compute(key_type, tmp_path):
    """curl's documented recipe for --pinnedpubkey: the public key in DER, SHA-256, base64."""
    cert, _ = leaf(key_type)
    pem = write_cert(tmp_path / "b.crt", cert)
    pub = subprocess.run(["openssl", "x509", "-in", str(pem), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                            capture_output=True, check=True).stdout
    assert certs.spki_pin(cert) == "sha256//" + base64.b64encode(digest).decode()


FIRMWARE_PINS = """
import binascii, hashlib, sys
from node.tlsmake import parse_pins
from node.x509 import public_key
der = open(sys.argv[1], "rb").read()
key = hashlib.sha256(public_key(der)).digest()
print("PIN sha256//" + binascii.b2a_base64(key).decode().strip())
print("PARSED", parse_pins([sys.argv[2]])[1][0] == key)
"""


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
def test_the_firmware_finds_the_same_key_pin(key_type, tmp_path):
    """node.x509 cuts the SPKI from the leaf as mbedtls' verify callback (node.tls) hashes it,
    and node.tlsmake parses the pin as provision writes it into the same 32 bytes."""
    cert, _ = leaf(key_type)
    (tmp_path / "leaf.der").write_bytes(certs.cert_der(cert))
    script = tmp_path / "pins.py"
    script.write_text(FIRMWARE_PINS)
    proc = unixport.run([str(script), str(tmp_path / "leaf.der"), certs.spki_pin(cert)],
                        timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"PIN {certs.spki_pin(cert)}" in proc.stdout and "PARSED True" in proc.stdout


def test_normalise_pin_takes_both_kinds_and_says_what_to_give():
    cert, _ = leaf()
    pin = certs.spki_pin(cert)
    assert inputs.normalise_pin(pin) == pin
    assert inputs.normalise_pin(pin.rstrip("=")) == pin              # padding left out
    assert inputs.normalise_pin("AB:" * 31 + "AB") == "ab" * 32
    for bad, why in ((pin[:-8] + "=", "bytes, not 32"), ("sha256//" + "A" * 44, "33 bytes"),
                     (pin[:20] + "_" + pin[21:], "not base64"), ("sha256//", "0 bytes")):
        with pytest.raises(UserError, match=why) as err:
            inputs.normalise_pin(bad)
        assert "sha256//" in str(err.value) and "certs show" in str(err.value)
    with pytest.raises(UserError, match="64 hex digits, or a key pin sha256//"):
        inputs.normalise_pin("sha1//" + pin[8:])


# certs show and --renew ---------------------------------------------------------------------

def test_show_prints_the_certificate_and_the_key_pin_of_each_broker_certificate(site, tmp_path):
    site.ok("certs", "broker", "--next")
    out = site.ok("certs", "show")
    for cert in (site.pki.broker(), site.pki.next_broker()):
        assert f"SHA-256   {certs.fingerprint_sha256(cert)}" in out
        assert f"key pin   {certs.spki_pin(cert)}" in out
    ca = certs.load_cert(site.pki.ca_cert)
    assert certs.spki_pin(ca) not in out                               # not the CA's
    other, _ = leaf()
    out = site.ok("certs", "show", write_cert(tmp_path / "theirs.pem", other))
    assert f"key pin   {certs.spki_pin(other)}" in out


def test_renew_keeps_the_key_and_so_the_key_pin(site):
    pki = site.pki
    old, key = pki.broker(), pki.broker_key.read_bytes()
    out = site.ok("certs", "broker", "--renew", "--days", "400")
    new = pki.broker()
    assert pki.broker_key.read_bytes() == key and certs.key_matches(new, certs.load_key(pki.broker_key))
    assert certs.spki_pin(new) == certs.spki_pin(old)
    assert certs.fingerprint_sha256(new) != certs.fingerprint_sha256(old)
    assert new.serial_number != old.serial_number
    assert certs.subject_alt_names(new) == ["broker.lan", "192.168.1.10"]
    assert 399 <= certs.days_left(new) <= 400
    assert f"the key pin stays valid: {certs.spki_pin(new)}" in out
    assert (f"the certificate pin changes: {certs.fingerprint_sha256(old)} -> "
            f"{certs.fingerprint_sha256(new)}") in out
    assert certs.issued_by(new, certs.load_cert(pki.ca_cert))


def test_renew_refuses_what_would_lock_devices_out(site):
    site.ok("provision", "esp-c", "--board", "esp8266", *HOST, env=WIFI)          # a cert pin
    site.ok("provision", "esp-k", "--board", "esp8266", *HOST, "--pin-kind", "key", env=WIFI)
    before = site.pki.broker()
    rc, _, err = site.cli("certs", "broker", "--renew")
    assert rc == 2 and "esp-c pin(s) the broker's certificate" in err and "esp-k" not in err
    assert "--pin-kind key" in err and "--next" in err and "--force" in err
    assert site.pki.broker() == before
    rc, _, err = site.cli("certs", "broker", "--renew", "--key-type", "ec")
    assert rc == 2 and "drop --key-type" in err
    rc, _, err = site.cli("certs", "broker", "--renew", "--next")
    assert rc == 2 and "give one of them" in err
    site.ok("provision", "--all", "--pin-kind", "key")
    out = site.ok("certs", "broker", "--renew")
    assert "(pinned by esp-c, esp-k)" in out
    for device in ("esp-c", "esp-k"):
        assert site.config(device)["tls"]["pins"] == [certs.spki_pin(site.pki.broker())]
    site.ok("certs", "broker", "--next")
    rc, _, err = site.cli("certs", "broker", "--renew")
    assert rc == 2 and "rotation is under way" in err and "--promote" in err


def test_renew_with_force_warns_of_the_devices_that_pin_the_old_certificate(site):
    site.ok("provision", "esp-c", "--board", "esp8266", *HOST, env=WIFI)
    rc, out, err = site.cli("certs", "broker", "--renew", "--force")
    assert rc == 0 and "esp-c pin(s) the old certificate" in err and "provision --all" in err
    site.ok("provision", "--all")
    assert site.config("esp-c")["tls"]["pins"] == [certs.fingerprint_sha256(site.pki.broker())]


# provision ----------------------------------------------------------------------------------

def test_provision_pins_the_key_of_a_broker_certificate_it_does_not_manage(tmp_path):
    s = Site(tmp_path / "site")
    theirs, _ = leaf(name="mqtt.example.com")
    cert = write_cert(tmp_path / "theirs.pem", theirs)
    ca = write_cert(tmp_path / "their-ca.pem", certs.build_ca("their CA", certs.generate_key()))
    s.ok("provision", "esp-1", "--board", "esp8266", "--host", "mqtt.example.com",
         "--wifi-ssid", "lab", "--broker-cert", cert, "--ca", ca, env=WIFI)
    assert s.config("esp-1")["tls"]["pins"] == [certs.spki_pin(theirs)]
    s.ok("provision", "esp-1", "--broker-cert", cert, "--ca", ca, "--pin-kind", "cert")
    assert s.config("esp-1")["tls"]["pins"] == [certs.fingerprint_sha256(theirs)]
    # Pins given by hand are kept as given, with a word on what a renewal does to them.
    rc, out, err = s.cli("provision", "esp-2", "--board", "esp8266", "--host", "mqtt.example.com",
                         "--wifi-ssid", "lab", "--ca", ca, "--pin",
                         certs.fingerprint_sha256(theirs), env=WIFI)
    assert rc == 0 and "pin its key instead" in err, err
    s.ok("provision", "esp-2", "--ca", ca, "--pin", certs.spki_pin(theirs))
    assert s.config("esp-2")["tls"]["pins"] == [certs.spki_pin(theirs)]
    rc, _, err = s.cli("provision", "esp-2", "--ca", ca, "--pin-kind", "key", "--pin",
                       certs.fingerprint_sha256(theirs))
    assert rc == 2 and "--broker-cert FILE" in err


def test_provision_pins_our_broker_certificates_unless_asked_for_the_key(site):
    site.ok("provision", "esp-1", "--board", "esp8266", *HOST, env=WIFI)
    pki = site.pki
    assert site.config("esp-1")["tls"]["pins"] == [certs.fingerprint_sha256(pki.broker())]
    site.ok("certs", "broker", "--next")
    site.ok("provision", "esp-1", "--pin-kind", "key")
    pins = [certs.spki_pin(pki.broker()), certs.spki_pin(pki.next_broker())]
    assert site.config("esp-1")["tls"]["pins"] == pins and pins[0] != pins[1]
    site.ok("provision", "--all")                     # the bundle's kind is kept
    assert site.config("esp-1")["tls"]["pins"] == pins
    site.ok("provision", "esp-1", "--pin-kind", "cert")
    assert site.config("esp-1")["tls"]["pins"] == [certs.fingerprint_sha256(pki.broker()),
                                                   certs.fingerprint_sha256(pki.next_broker())]


def test_a_bundle_with_a_key_pin_loads_in_micropython(site, tmp_path):
    site.ok("provision", "esp-1", "--board", "esp8266", *HOST, "--pin-kind", "key", env=WIFI)
    script = tmp_path / "load.py"
    script.write_text("import json, sys\nfrom node import config\n"
                      "print('PINS ' + json.dumps(config.load(sys.argv[1])['tls']['pins']))\n")
    proc = unixport.run([str(script), str(site.bundle("esp-1"))], timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f'PINS ["{certs.spki_pin(site.pki.broker())}"]' in proc.stdout


# check: the Certificate message on the wire ------------------------------------------------

def record(ctype, body):
    return bytes([ctype, 3, 3]) + len(body).to_bytes(2, "big") + body


def certificate_message(*ders):
    entries = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    body = len(entries).to_bytes(3, "big") + entries
    return bytes([11]) + len(body).to_bytes(3, "big") + body


@pytest.mark.parametrize("size,records", [(20000, 1), (300, None), (1, None)])
def test_check_counts_the_records_a_certificate_message_came_in(size, records):
    cert, _ = leaf()
    hello = bytes([2, 0, 0, 38]) + b"\x03\x03" + bytes(32) + b"\x00\x00\x2f\x00"
    done = bytes([14, 0, 0, 0])
    flight = hello + certificate_message(certs.cert_der(cert)) + done
    wire = b"".join(record(22, flight[i:i + size]) for i in range(0, len(flight), size))
    seen = tlswire.Observed()
    for i in range(0, len(wire), 7):
        seen.feed(wire[i:i + 7])
    length = len(certificate_message(certs.cert_der(cert))) - 4
    # The message starts after hello's bytes and ends where its last byte falls.
    start, end = len(hello), len(hello) + length + 4
    want = records or (end - 1) // size - start // size + 1
    assert (seen.cert_records, seen.cert_bytes) == (want, length)
    assert seen.chain == [certs.cert_der(cert)] and seen.suite == 0x2F


def openssl_server(cert, key, *extra):
    port = free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-accept", str(port), "-cert", str(cert),
                             "-key", str(key), "-tls1_2", "-quiet", "-naccept", "1", *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            return proc, socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("openssl s_server did not start")


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
@pytest.mark.parametrize("frag,split", [((), False), (("-max_send_frag", "512"), True)])
def test_check_notices_a_server_that_splits_its_certificate_message(site, frag, split):
    proc, sock = openssl_server(site.pki.broker_cert, site.pki.broker_key, *frag)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = tlswire.TlsConn(sock, ctx)
    try:
        conn.handshake()
    finally:
        conn.close()
        proc.wait(10)
    assert (conn.seen.cert_records > 1) == split, conn.seen
    assert conn.seen.chain == [certs.cert_der(site.pki.broker())]


def test_check_reads_key_pins_as_given(site, tmp_path):
    from host_tools.check import target
    site.ok("provision", "esp-1", "--board", "esp8266", *HOST, "--pin-kind", "key", env=WIFI)
    t = target.from_bundle(site.bundle("esp-1"), tmp_path)
    assert t.pins == [certs.spki_pin(site.pki.broker())]           # base64: case kept
    cfg = json.loads((site.bundle("esp-1") / "config.json").read_text())
    assert cfg["tls"]["pins"] == t.pins
