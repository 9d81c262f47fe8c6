# Reading numbers that never repeat, also across power loss, for one small flash write per
# BLOCK readings: flash keeps the ceiling of the numbers handed out so far, RTC memory
# (node.state) keeps the next number and the ceiling in force. After a cold boot numbering
# resumes at the stored ceiling, so numbers reserved but never used are skipped, never reused.
import os

BLOCK = 1024
FILE = "numbers"


def _read_ceiling(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def _write_ceiling(path, value):
    # Write then rename: littlefs renames atomically, so a power cut leaves old or new.
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(value))
    os.rename(tmp, path)


def next_number(state, data_dir):
    """The next reading number; reserves a new block in flash when the current one is used up."""
    if state.next_n >= state.n_limit:
        path = data_dir + "/" + FILE
        start = max(state.next_n, _read_ceiling(path))
        state.n_limit = start + BLOCK
        _write_ceiling(path, state.n_limit)
        state.next_n = start
    n = state.next_n
    state.next_n += 1
    return n
