// The ESP32 board emulator: the unix port built 32-bit (-m32) with the float and error
// reporting of ports/esp32/mpconfigport.h; mbedtls allocates outside the GC heap, as it does
// from ESP-IDF's heap on the board. The node is loaded as .mpy from the file system.
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_ERROR_REPORTING (MICROPY_ERROR_REPORTING_NORMAL)
#define MICROPY_EMIT_X86 (0)
#include "variants/mpconfigvariant_common.h"
