# The ESP32 board emulator (see mpconfigvariant.h). Built by emu/build.
MICROPY_PY_SSL = 1
MICROPY_SSL_AXTLS = 0
MICROPY_SSL_MBEDTLS = 1
MICROPY_PY_BTREE = 0
MICROPY_PY_FFI = 0
MICROPY_PY_THREAD = 0
FROZEN_MANIFEST = $(VARIANT_DIR)/manifest.py
