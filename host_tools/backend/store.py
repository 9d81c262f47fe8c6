"""The collector's SQLite database: every reading once, keyed by (device, reading number), and
each device's latest status and stats.

A node delivers at least once: a reading resent after a cut comes again with the same number
and the same content, and is counted as a duplicate, not stored again. A number that comes
again with other content is no resend: the board started numbering afresh (its flash was
erased, or a simulated run used the device's name); it is kept in `conflicts`, never dropped,
and counted. Each message is one transaction: when record() returns, it is on disk, and only
then may the broker be told (the collector acknowledges after it).

    readings   (device, seq) primary key, t (the node's Unix time), received, payload (JSON)
    conflicts  the same columns, for numbers that came again with another reading
    devices    device, counts (readings, duplicates, conflicts, rejected), last status and stats
"""

import json
import sqlite3
from pathlib import Path

from ..errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    device TEXT NOT NULL, seq INTEGER NOT NULL, t INTEGER, received REAL NOT NULL,
    payload TEXT NOT NULL, PRIMARY KEY (device, seq));
CREATE INDEX IF NOT EXISTS readings_t ON readings (t);
CREATE TABLE IF NOT EXISTS conflicts (
    device TEXT NOT NULL, seq INTEGER NOT NULL, t INTEGER, received REAL NOT NULL,
    payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    device TEXT PRIMARY KEY, readings INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0, conflicts INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0, status TEXT, status_at REAL, stats TEXT, stats_at REAL);
"""
KINDS = ("readings", "status", "stats")


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), isolation_level=None,
                                      check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")      # committed survives a power cut too
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{self.path} is not a collector database ({exc}): give another "
                            "--db, or move that file away") from None

    def close(self):
        self.db.close()

    def record(self, device: str, kind: str, payload: bytes, received: float) -> str:
        """Store one message in one transaction: "stored", "duplicate", "conflict", "rejected"
        (not a reading: malformed), or "kept" (status, stats)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT OR IGNORE INTO devices (device) VALUES (?)", (device,))
            outcome = (self._reading(device, payload, received) if kind == "readings"
                       else self._latest(device, kind, payload, received))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return outcome

    def _reading(self, device, payload, received):
        db = self.db
        try:
            doc = json.loads(payload)
            seq, t = doc["seq"], doc.get("t")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise ValueError
        except (ValueError, TypeError, KeyError):
            db.execute("UPDATE devices SET rejected = rejected + 1 WHERE device = ?", (device,))
            return "rejected"
        text = payload.decode()
        row = (device, seq, t if isinstance(t, int) else None, received, text)
        if db.execute("INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?)", row).rowcount:
            db.execute("UPDATE devices SET readings = readings + 1 WHERE device = ?", (device,))
            return "stored"
        (had,) = db.execute("SELECT payload FROM readings WHERE device = ? AND seq = ?",
                            (device, seq)).fetchone()
        if json.loads(had) == doc:
            db.execute("UPDATE devices SET duplicates = duplicates + 1 WHERE device = ?", (device,))
            return "duplicate"
        db.execute("INSERT INTO conflicts VALUES (?, ?, ?, ?, ?)", row)
        db.execute("UPDATE devices SET conflicts = conflicts + 1 WHERE device = ?", (device,))
        return "conflict"

    def _latest(self, device, kind, payload, received):
        self.db.execute(f"UPDATE devices SET {kind} = ?, {kind}_at = ? WHERE device = ?",
                        (payload.decode(errors="replace"), received, device))
        return "kept"

    # Reading back ---------------------------------------------------------------------------

    def readings(self, device=None, since=None):
        """[(device, seq, t, received, payload dict)] oldest first (by the node's time)."""
        sql, args = "SELECT device, seq, t, received, payload FROM readings", []
        where = []
        if device:
            where.append("device = ?")
            args.append(device)
        if since is not None:
            where.append("t >= ?")
            args.append(since)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY t, device, seq"
        return [(d, s, t, r, json.loads(p)) for d, s, t, r, p in self.db.execute(sql, args)]

    def devices(self):
        """{device: {readings, duplicates, conflicts, rejected, status, status_at, stats,
        stats_at, last}} (status and stats parsed; last: the newest reading, or None)."""
        out = {}
        cols = ("readings", "duplicates", "conflicts", "rejected", "status", "status_at",
                "stats", "stats_at")
        for row in self.db.execute(f"SELECT device, {', '.join(cols)} FROM devices"):
            info = dict(zip(cols, row[1:]))
            for key in ("status", "stats"):
                try:
                    info[key] = json.loads(info[key]) if info[key] else None
                except ValueError:
                    info[key] = None
            last = self.db.execute("SELECT seq, t, received, payload FROM readings WHERE "
                                   "device = ? ORDER BY t DESC, seq DESC LIMIT 1",
                                   (row[0],)).fetchone()
            info["last"] = (None if last is None else
                            {"seq": last[0], "t": last[1], "received": last[2],
                             "payload": json.loads(last[3])})
            out[row[0]] = info
        return out
