# One wake cycle of the node. First slice: read the sensor, connect over TLS,
# publish the readings with QoS 1, disconnect.
import json
import time

from node import board as boards
from node import config
from node.mqtt import MQTTClient
from node.sensors import SimulatedSensor
from node.tls import make_context


def reading_payload(device_id, seq, values):
    doc = {"device": device_id, "seq": seq, "t": time.time()}
    doc.update(values)
    return json.dumps(doc)


def run_cycle(board, cfg, base_dir, log=print):
    mq = cfg["mqtt"]
    ctx = make_context(cfg["tls"], base_dir)
    client = MQTTClient(mq["client_id"], mq["host"], mq["port"], mq["user"], mq["password"],
                        mq["keepalive"], ssl=ctx)
    sensor = SimulatedSensor()
    topic = mq["topic_prefix"] + "/readings"
    board.wifi_connect(cfg, 10000)
    client.connect(clean_session=mq["clean_session"])
    sent = 0
    try:
        for seq in range(1, cfg["node"]["readings_per_wake"] + 1):
            client.publish(topic, reading_payload(cfg["device_id"], seq, sensor.read()), qos=mq["qos"])
            sent += 1
            log("published %s seq=%d" % (topic, seq))
    finally:
        client.disconnect()
    return sent


def main():
    board = boards.load()
    base_dir = board.bundle_dir()
    cfg = config.load(base_dir)
    run_cycle(board, cfg, base_dir)
