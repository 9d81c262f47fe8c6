"""What `check` found, step by step: each finding printed as it is made."""

from dataclasses import dataclass

STATUS = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "info": "    "}


@dataclass
class Finding:
    status: str
    code: str
    text: str
    fix: str | None = None


class Report:
    def __init__(self, out=print):
        self.findings = []
        self.chain = []            # the broker's certificates, as the device's handshake saw them
        self._out = out

    def add(self, status, code, text, fix=None):
        self.findings.append(Finding(status, code, text, fix))
        self._out(f"{STATUS[status]} {text}")
        if fix:
            self._out(f"       -> {fix}")

    @property
    def failures(self):
        return [f for f in self.findings if f.status == "fail"]

    def codes(self, status=None):
        return [f.code for f in self.findings if status is None or f.status == status]
