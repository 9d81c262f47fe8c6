# Sensors: each has read() -> dict of named values.


class SimulatedSensor:
    """A deterministic stand-in for a temperature/humidity sensor, for the unix board."""

    def __init__(self, seed=0):
        self._n = seed

    def read(self):
        self._n += 1
        n = self._n
        return {"temp_c": 20 + (n * 7 % 50) / 10, "rh": 40 + (n * 13 % 200) / 10}
