"""The broker wing: Mosquitto's config, password file and ACL, and running Mosquitto."""
from .mosquitto import (Mosquitto, check_username, find_mosquitto, free_port,  # noqa: F401
                        hash_password, port_is_free, read_password_file, verify_password,
                        write_password_file)
