# The ESP8266 board emulator (see mpconfigvariant.h). Built by emu/build.
MICROPY_PY_SSL = 1
MICROPY_SSL_AXTLS = 1
MICROPY_SSL_MBEDTLS = 0
MICROPY_PY_BTREE = 0
MICROPY_PY_FFI = 0
MICROPY_PY_THREAD = 0
# The ESP8266's record sizes (ports/esp8266/Makefile) and axTLS in the GC heap.
AXTLS_DEFS_EXTRA = -DRT_MAX_PLAIN_LENGTH=1024 -DRT_EXTRA=4096 -include $(VARIANT_DIR)/../axtls_gc_heap.h
FROZEN_MANIFEST = $(VARIANT_DIR)/manifest.py
