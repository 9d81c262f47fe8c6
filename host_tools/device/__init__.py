"""The device wing: bundles (provision), .mpy builds, MicroPython images, flashing."""
