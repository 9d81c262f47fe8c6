"""Run firmware snippets (node.mqtt.robust over node.mqtt.client, node.tls) under the unix port against a real broker.

A snippet is MicroPython code run after PRELUDE, in a folder holding params.json and the TLS
files; it reports with result(obj), which prints one "RESULT <json>" line.
"""

import json
import subprocess
import textwrap

from host_tools import certs, unixport

PRELUDE = """
import json, sys, time
from node.mqtt.robust import MQTTClient, MQTTException, MQTTRefused, GaveUp, ProtocolError
from node.tls import make_context, TLSError
P = json.load(open("params.json"))

def result(obj):
    print("RESULT " + json.dumps(obj))

def client(tls=None, client_id=None, **kw):
    opts = dict(port=P["port"], user=P.get("user"), password=P.get("password"),
                keepalive=60, timeout=5)
    opts.update(kw)
    tls = tls if tls is not None else P["tls"]
    ctx = make_context(tls, ".") if tls else None
    return MQTTClient(client_id or P.get("client_id", "node-1"), P.get("host", "localhost"),
                      ssl=ctx, **opts)

def error_of(fn, *args):
    try:
        fn(*args)
    except Exception as e:
        return [type(e).__name__, str(e)]
    return None
"""


def write_der(path, pem_or_der_path):
    path.write_bytes(certs.cert_der(certs.load_cert(pem_or_der_path)))


def write_key_der(path, key_path):
    certs.write_secret(path, certs.key_der(certs.load_key(key_path)), force=True)


def script_text(body):
    return PRELUDE + "\n" + textwrap.dedent(body)


def run(folder, body, params, timeout=60):
    """Run the snippet; returns (CompletedProcess, the RESULT object or None)."""
    (folder / "params.json").write_text(json.dumps(params))
    script = folder / "snippet.py"
    script.write_text(script_text(body))
    proc = unixport.run([str(script)], cwd=folder, timeout=timeout)
    return proc, parse(proc.stdout)


def start(folder, body, params):
    """Start the snippet and return the Popen (stdin and stdout are pipes, text mode)."""
    (folder / "params.json").write_text(json.dumps(params))
    script = folder / "snippet.py"
    script.write_text(script_text(body))
    import os
    env = dict(os.environ, MICROPYPATH=unixport.micropypath())
    return subprocess.Popen([unixport.interpreter(), str(script)], cwd=folder, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)


def parse(out):
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return None
