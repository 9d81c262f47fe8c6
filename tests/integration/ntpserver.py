"""A one-shot NTP server on loopback for clock tests: good replies or broken ones."""

import socket
import struct
import threading

NTP_TO_UNIX = 2208988800
SERVER_TIME = 1790000000.25  # 2026-09-21


class NtpServer:
    """Answers each request once; `mode` picks a good reply or a broken one."""

    def __init__(self, mode="good"):
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            data, addr = self.sock.recvfrom(512)
        except OSError:
            return
        self.requests += 1
        secs = int(SERVER_TIME) + NTP_TO_UNIX
        frac = int((SERVER_TIME % 1) * 2 ** 32)
        reply = bytearray(48)
        reply[0] = 0x24  # version 4, mode 4 (server)
        reply[1] = 0 if self.mode == "kiss" else 2
        reply[24:32] = bytes(8) if self.mode == "spoof" else data[40:48]
        struct.pack_into("!II", reply, 40, secs, frac)
        if self.mode == "short":
            reply = reply[:20]
        self.sock.sendto(bytes(reply), addr)

    def close(self):
        self.sock.close()
        self.thread.join(5)
