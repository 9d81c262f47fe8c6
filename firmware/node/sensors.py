# Sensors: FIELDS names the values and read() returns them as a tuple of numbers, in order.
# A real deployment replaces these with its own class of the same shape (the unix board's
# simulated sensor is in firmware/sim/simboard.py).


class ChipSensor:
    """What every ESP board can measure without wiring: its own temperature where the chip
    reports it (esp32.mcu_temperature or the older raw_temperature, in F), else the ADC."""

    FIELDS = ("chip",)

    def read(self):
        try:
            import esp32
            if hasattr(esp32, "mcu_temperature"):
                return (esp32.mcu_temperature(),)
            return ((esp32.raw_temperature() - 32) / 1.8,)
        except ImportError:
            import machine
            return (machine.ADC(0).read(),)
