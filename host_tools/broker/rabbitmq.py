"""RabbitMQ's files for the MQTT plugin (rabbitmq_mqtt, RabbitMQ 3.10 as Debian ships it): the
same logins and the same rules as the Mosquitto files, in what a RabbitMQ admin loads.

    rabbitmq.conf      the MQTT plugin's TLS listener, no AMQP listener, no anonymous login, a
                       vhost of the node's own, the definitions file loaded at boot
    enabled_plugins    [rabbitmq_mqtt].
    definitions.json   users (salted SHA-256 hashes), the vhost, each user's queue permissions
                       and topic permissions equivalent to the Mosquitto ACL (broker/acl.py), and
                       the policy that mirrors the session queues across a cluster

RabbitMQ routes MQTT through its topic exchange: a topic's '/' is a '.' in a routing key, and a
topic permission is a regular expression over routing keys (for reads, over the subscription's
filter, '+' as '*'). A session's queue is mqtt-subscription-<client id>qos1.
"""

import base64
import hashlib
import json
import re
import secrets

from .acl import DEVICE_TOPICS, MONITOR_TOPICS

VHOST = "mqtt-node"
EXCHANGE = "amq.topic"
# The versions of TLS the listener speaks, and its suites: ECDHE first, then the RSA key
# exchange suites that an ESP8266's axTLS needs (Erlang leaves those out by default).
TLS_VERSIONS = ("tlsv1.3", "tlsv1.2")
CIPHERS = ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256",
           "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
           "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
           "AES256-SHA256", "AES128-SHA256", "AES256-SHA", "AES128-SHA")
# A persistent session lives this long without a connection: longer than a node's longest
# interval (7 days). RabbitMQ's own default is one day.
SESSION_TTL_MS = 8 * 86400 * 1000
# A session's queue, and the policy that mirrors it on every node of a cluster (classic
# mirrored queues: RabbitMQ 3.10's quorum queues need three nodes to survive the loss of one).
QUEUE_PREFIX = "mqtt-subscription-"
MIRROR_POLICY = {"vhost": VHOST, "name": "mqtt-node-sessions", "pattern": "^" + QUEUE_PREFIX,
                 "apply-to": "queues", "priority": 0,
                 "definition": {"ha-mode": "all", "ha-sync-mode": "automatic"}}
HASHING = "rabbit_password_hashing_sha256"
# A routing key does not tell '/' from '.': homeassistant/sensor/node.2/rh/config is the key
# homeassistant.sensor.node.2.rh.config, as homeassistant/sensor/node/2/rh/config is. A '#'
# after a device's name would then let device "node" write device "node.2"'s discovery
# configs. Here a device writes exactly the topics the node publishes there,
# homeassistant/sensor/<id>/<field>/config (a field has no '.'), which reach no other device's.
NARROWER = {"homeassistant/sensor/{id}/#": "homeassistant/sensor/{id}/+/config"}


def hash_password(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's salted SHA-256: base64(salt + sha256(salt + password)), a 4-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def check_password(stored: str, password: str) -> bool:
    raw = base64.b64decode(stored)
    return secrets.compare_digest(hash_password(password, raw[:4]), stored)


def routing_pattern(topic_filter: str) -> str:
    """An ACL topic filter as a regular expression over RabbitMQ routing keys: it matches the
    topics the filter matches, and the subscription filters within it ('+' is '*' there)."""
    out = []
    for i, level in enumerate(topic_filter.split("/")):
        sep = r"\." if i else ""
        if level == "#":
            # the level itself may be missing ("nodes/#" covers "nodes"), or be anything
            return "^" + "".join(out) + (r"(\..*)?$" if i else ".*$")
        out.append(sep + ("[^.]+" if level == "+" else re.escape(level)))
    return "^" + "".join(out) + "$"


def _either(patterns):
    inner = [p[1:-1] for p in patterns]
    if not inner:
        return "^$"     # nothing
    return "^(" + "|".join(inner) + ")$" if len(inner) > 1 else patterns[0]


def topic_permission(user: str, rules, device_id=None) -> dict:
    if device_id is not None:
        rules = [(a, NARROWER.get(t, t)) for a, t in rules]
    reads = [routing_pattern(t.format(id=device_id)) for a, t in rules if a == "read"]
    writes = [routing_pattern(t.format(id=device_id)) for a, t in rules if a == "write"]
    return {"user": user, "vhost": VHOST, "exchange": EXCHANGE,
            "write": _either(writes), "read": _either(reads)}


def permission(user: str, client_id: str | None) -> dict:
    """Queues and the exchange: a device declares, binds and reads only its own session's
    queues (client id = its name); a back end any session's."""
    queues = QUEUE_PREFIX + (re.escape(client_id) + "qos[01]" if client_id else ".*")
    return {"user": user, "vhost": VHOST, "configure": f"^{queues}$",
            "write": f"^({re.escape(EXCHANGE)}|{queues})$",
            "read": f"^({re.escape(EXCHANGE)}|{queues})$"}


def definitions(devices, monitors, hashes: dict) -> dict:
    """The definitions file: every device and monitor that has a hash (name -> hash)."""
    users, perms, topics = [], [], []
    for name, rules, client_id in ([(d, DEVICE_TOPICS, d) for d in devices]
                                   + [(m, MONITOR_TOPICS, None) for m in monitors]):
        if name not in hashes:
            continue
        users.append({"name": name, "password_hash": hashes[name], "hashing_algorithm": HASHING,
                      "tags": []})
        perms.append(permission(name, client_id))
        topics.append(topic_permission(name, rules, client_id))
    return {"rabbit_version": "3.10.8", "users": users, "vhosts": [{"name": VHOST}],
            "permissions": perms, "topic_permissions": topics, "policies": [MIRROR_POLICY]}


def read_hashes(path) -> dict:
    """name -> hash of the users in an existing definitions file ({} when there is none)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {u["name"]: u["password_hash"] for u in doc.get("users", []) if "password_hash" in u}


def allows(defs: dict, user: str, access: str, topic: str) -> bool:
    """Whether the definitions' topic permissions let `user` read (subscribe to) or write
    (publish to) an MQTT topic or filter, as RabbitMQ evaluates them: the user's entry for
    the vhost and exchange, its regular expression against the routing key."""
    key = topic.replace("/", ".").replace("+", "*")
    for p in defs.get("topic_permissions", []):
        if p["user"] == user and p["vhost"] == VHOST and p["exchange"] == EXCHANGE:
            return re.search(p[access], key) is not None
    return True     # RabbitMQ: no topic permission for the exchange means no restriction


def conf(*, tls_port, bind, cafile, certfile, keyfile, definitions_file, mtls=False,
         plain_port=None, header="") -> str:
    """rabbitmq.conf: the MQTT plugin's listeners and TLS, logins, the definitions."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [
        "# AMQP is off: the nodes speak MQTT only (add listeners.tcp.1 for AMQP clients)",
        "listeners.tcp = none",
        "# users, vhost, permissions and policies: no default (guest) user is made",
        f"load_definitions = {definitions_file}",
        "mqtt.allow_anonymous = false",
        f"mqtt.vhost = {VHOST}",
        f"mqtt.exchange = {EXCHANGE}",
        f"mqtt.subscription_ttl = {SESSION_TTL_MS}",
        "mqtt.durable_queue_type = classic",
        "mqtt.tcp_listen_options.nodelay = true",
        f"mqtt.listeners.ssl.default = {bind}:{tls_port}" if bind else
        f"mqtt.listeners.ssl.default = {tls_port}",
    ]
    lines.append(f"mqtt.listeners.tcp.default = 127.0.0.1:{plain_port}" if plain_port else
                 "mqtt.listeners.tcp = none")
    if mtls:
        lines.append(f"ssl_options.cacertfile = {cafile}")
    lines += [f"ssl_options.certfile = {certfile}", f"ssl_options.keyfile = {keyfile}"]
    if mtls:
        lines += ["ssl_options.verify = verify_peer", "ssl_options.fail_if_no_peer_cert = true"]
    else:
        lines += ["ssl_options.verify = verify_none", "ssl_options.fail_if_no_peer_cert = false"]
    lines += [f"ssl_options.versions.{i} = {v}" for i, v in enumerate(TLS_VERSIONS, 1)]
    lines += [f"ssl_options.ciphers.{i} = {c}" for i, c in enumerate(CIPHERS, 1)]
    lines.append("ssl_options.honor_cipher_order = true")
    return "\n".join(lines) + "\n"


ENABLED_PLUGINS = "[rabbitmq_mqtt].\n"
