"""The sim wing: a local Mosquitto, a monitor, and the firmware on the unix port as a board."""
