# The test harness lives in tests/harness/ as pytest plugins:
#   devicetests: tests/device/test_*.py run inside the unix port of MicroPython
#   broker:      a real Mosquitto with generated certificates
#   rabbitmq:    a real RabbitMQ (MQTT plugin) with the same certificates
pytest_plugins = ["harness.devicetests", "harness.broker", "harness.rabbitmq"]
