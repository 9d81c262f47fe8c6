"""The path each wake takes to the broker, on the unix board against a real Mosquitto over
TLS: the board's radio (firmware/sim/simradio.py) writes each step to radio.log
("assoc fast|missed|scan", "ip kept|static|expired", "dhcp lease", "dns lookup"). The usual
wake joins from what the last one kept and looks nothing up; an access point on another
channel, a lease past its half, a broker at another address each cost one slow wake, and no
reading is lost."""

import socket
import threading


def steps(sim, wake_kw=None):
    """One wake; the steps its radio took, as (step, path) pairs."""
    log = sim.node.sim_dir / "radio.log"
    before = log.stat().st_size if log.exists() else 0
    w = sim.wake(**(wake_kw or {}))
    assert w.outcome == "slept", w.output
    text = log.read_bytes()[before:].decode() if log.exists() else ""
    return [tuple(line.split()[:2]) for line in text.splitlines()], w


def advance(sim, seconds):
    clock = sim.node.sim_dir / "clock"
    clock.write_text(str(float(clock.read_text()) + seconds))


FIRST = [("assoc", "scan"), ("dhcp", "lease"), ("dns", "lookup")]
USUAL = [("assoc", "fast"), ("ip", "kept")]


def test_the_usual_wake_joins_from_what_was_kept_and_looks_nothing_up(node_sim):
    sim = node_sim()
    got, _ = steps(sim)
    assert got == FIRST
    for _ in range(4):
        got, w = steps(sim)
        assert got == USUAL, w.output
    assert sim.wait_seqs(range(1, 6))


def test_an_access_point_on_another_channel_costs_one_scan_and_no_reading(node_sim):
    sim = node_sim()
    steps(sim)
    steps(sim)
    (sim.node.sim_dir / "ap").write_text("02a0c9000007 11")
    got, w = steps(sim)
    # The kept AP is missed, then a scan and DHCP in the same wake: the reading goes out.
    assert got == [("assoc", "missed"), ("assoc", "scan"), ("dhcp", "lease")], w.output
    got, _ = steps(sim)
    assert got == USUAL
    assert sim.wait_seqs(range(1, 5))


def test_a_lease_is_renewed_in_its_second_half_and_after_it_expired(node_sim):
    sim = node_sim(bundle={"wifi": {"lease_s": 600}})
    (sim.node.sim_dir / "dhcp-lease-s").write_text("600")
    paths = [steps(sim)[0] for _ in range(7)]       # a wake a minute: half the lease at 5
    assert paths[0] == FIRST
    assert paths[1:5] == [USUAL] * 4
    assert paths[5] == [("assoc", "fast"), ("dhcp", "lease")]
    assert paths[6] == USUAL
    advance(sim, 7200)                  # asleep longer than the lease
    got, _ = steps(sim)
    assert got == [("assoc", "fast"), ("dhcp", "lease")]
    assert steps(sim)[0] == USUAL
    # The node never set an address whose lease the DHCP server no longer held.
    assert "expired" not in (sim.node.sim_dir / "radio.log").read_text()
    assert sim.wait_seqs(range(1, 10))


class Forwarder:
    """A TCP forwarder listening on one loopback address: the broker seen from there."""

    def __init__(self, host, port, target):
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.stopped = threading.Event()
        self.socks = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=10)
            self.socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopped.set()
        self.thread.join(5)
        self.listener.close()
        for s in self.socks:
            s.close()


def test_a_broker_at_another_address_is_looked_up_again_in_the_same_wake(node_sim, broker):
    port = broker.tls_port
    old = Forwarder("127.0.0.2", port, ("127.0.0.1", port))
    new = None
    try:
        # The certificate is checked against the name (no tls.server_hostname given): the
        # address comes from DNS, or from RTC memory, never instead of the name.
        sim = node_sim(broker=broker, bundle={"host": "localhost", "server_hostname": None})
        dns = sim.node.sim_dir / "dns"
        dns.write_text("localhost 127.0.0.2\n")
        assert steps(sim)[0] == FIRST
        assert steps(sim)[0] == USUAL
        old.close()                     # the broker moves to 127.0.0.3
        new = Forwarder("127.0.0.3", port, ("127.0.0.1", port))
        dns.write_text("localhost 127.0.0.3\n")
        got, w = steps(sim)
        assert got == USUAL + [("dns", "lookup")], w.output
        assert "delivery failed" not in w.output, w.output
        assert steps(sim)[0] == USUAL
        assert sim.wait_seqs(range(1, 5))
    finally:
        old.close()
        if new:
            new.close()
