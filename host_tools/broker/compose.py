"""`broker config --compose`: the same broker under Docker Compose, as the usual Mosquitto TLS
guides run it, beside the files `broker config` writes:

    build/broker/compose.yaml           the eclipse-mosquitto service, its image pinned by tag
    build/broker/compose/mosquitto.conf the settings of conf.d/mqtt-node.conf for the container:
                                        files under /mosquitto/config/mqtt-node/, persistence in
                                        /mosquitto/data, the log to the container's output
    build/broker/compose/data/          the session store, the one folder the container writes
    build/broker/mqtt-node/             certificates, key, password file, ACL: mounted read-only

The container runs as the user who owns those files (`user: UID:GID`), so they keep their mode
(keys and password file 0600, the folder 0700): nothing is made world-readable for a
container's own user, as some guides do. The TLS listener (and, with --websockets PORT, MQTT
over WebSockets with the same TLS, for browser dashboards) is published on the address
`broker config --bind` gave. `provision`, `broker user` and `revoke` rewrite the mounted files
in place; the broker reads them on `docker compose kill -s HUP mosquitto`.
"""

import os
from pathlib import Path

from ..errors import UserError

IMAGE = "eclipse-mosquitto:2.0.22"
CONTAINER_DIR = "/mosquitto/config"     # where the image reads its config
FILE = "compose.yaml"
FOLDER = "compose"


def _q(text):
    # A YAML double-quoted scalar.
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_image(image):
    name, _, tag = image.rpartition(":")
    if not name or not tag or tag == "latest" or "/" in tag:
        raise UserError(f"--image {image}: give an image pinned by tag, e.g. {IMAGE} (not "
                        "latest: a broker should not change under its devices unasked)")


def _published(bind, port, loopback=False):
    host = "127.0.0.1" if loopback else (bind if bind and bind != "0.0.0.0" else "")
    return f"{host}:{port}:{port}" if host else f"{port}:{port}"


def container_config(bdir, s):
    """The config Mosquitto reads inside the container."""
    c = bdir.host_config(prefix=CONTAINER_DIR, s=s)
    c.bind_address = None           # every interface of the container; `ports:` picks the host's
    c.persistence_dir = Path("/mosquitto/data")
    c.log_file = "stdout"
    c.websockets_port = s["compose"].get("websockets")
    c.header = ("mqtt-node: Mosquitto in the container of compose.yaml, written by host_tools "
                "(`broker config --compose`)")
    return c


def compose_yaml(s, uid, gid):
    ports = [_published(s["bind"], s["tls_port"])]
    if s["plain_port"]:
        ports.append(_published(s["bind"], s["plain_port"], loopback=True))
    if s["compose"].get("websockets"):
        ports.append(_published(s["bind"], s["compose"]["websockets"]))
    lines = [
        "# Mosquitto for mqtt-node under Docker Compose, written by host_tools (`broker config",
        "# --compose`). From this folder: `docker compose up -d`; after `provision`, `broker",
        "# user` or `revoke`: `docker compose kill -s HUP mosquitto`; the log: `docker compose",
        "# logs mosquitto`. It runs as the owner of the files it reads, which stay 0600.",
        "name: mqtt-node-broker",
        "services:",
        "  mosquitto:",
        f"    image: {_q(s['compose']['image'])}",
        "    restart: unless-stopped",
        f"    user: {_q(f'{uid}:{gid}')}",
        "    ports:",
    ] + [f"      - {_q(p)}" for p in ports] + [
        "    volumes:",
        f"      - {_q(f'./{FOLDER}/mosquitto.conf:{CONTAINER_DIR}/mosquitto.conf:ro')}",
        f"      - {_q(f'./mqtt-node:{CONTAINER_DIR}/mqtt-node:ro')}",
        f"      - {_q(f'./{FOLDER}/data:/mosquitto/data')}",
    ]
    return "\n".join(lines) + "\n"


def write(bdir, s):
    """Write compose.yaml and compose/ for the settings s (when `broker config --compose` asked
    for them); returns the compose file."""
    from ..pki import x509 as certs
    folder = bdir.root / FOLDER
    (folder / "data").mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    os.chmod(folder / "data", 0o700)
    certs.write_secret(folder / "mosquitto.conf", container_config(bdir, s).render().encode(),
                       force=True)
    st = os.stat(bdir.files)
    path = bdir.root / FILE
    certs.write_secret(path, compose_yaml(s, st.st_uid, st.st_gid).encode(), force=True)
    return path


def remove(bdir):
    """`broker config --no-compose`: the Compose files go; the session store in compose/data
    stays (a broker started from them again finds its sessions)."""
    (bdir.root / FILE).unlink(missing_ok=True)
    (bdir.root / FOLDER / "mosquitto.conf").unlink(missing_ok=True)
