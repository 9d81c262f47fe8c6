"""Where things are in this checkout."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
SIM = FIRMWARE / "sim"                            # the unix board simulator: never on a board
FREEZE_MANIFEST = REPO / "freeze" / "manifest.py"  # the board image's manifest (node frozen in)
