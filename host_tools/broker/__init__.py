"""The broker wing: Mosquitto's config, password file and ACL for the broker host, the folder
they are written to (build/broker/), installing them there, and running Mosquitto here."""
from .passwd import (check_username, hash_password, read_password_file,  # noqa: F401
                     verify_password, write_hashes, write_password_file)
from .process import Mosquitto, find_mosquitto, free_port, free_ports, port_is_free  # noqa: F401
