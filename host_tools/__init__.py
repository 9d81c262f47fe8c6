"""Host-side tools for mqtt-node, in wings:

    pki/      the CA, the broker's and the devices' certificates, the revocation list (certs/)
    broker/   Mosquitto's files for the broker host, installing them there, Mosquitto here
    device/   bundles (provision, revoke), .mpy builds, MicroPython images, flashing a board
    check/    connecting as a device would, and the diagnosis of what is wrong
    sim/      a local broker, a monitor, the firmware on the unix port as a board, the demo

cli.py is the table of commands; each names where its body lives.
"""
