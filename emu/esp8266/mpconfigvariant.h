// The ESP8266 board emulator: the unix port built 32-bit (-m32) with the object model, float
// and error reporting of ports/esp8266/mpconfigport.h, so that objects take the heap they take
// on the board. axTLS allocates from the GC heap (see ../axtls_gc_heap.h), the node is frozen.
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#define MICROPY_OBJ_REPR (MICROPY_OBJ_REPR_C)
#define MICROPY_FLOAT_IMPL (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_ERROR_REPORTING (MICROPY_ERROR_REPORTING_NORMAL)
#define MICROPY_EMIT_X86 (0)
#include "variants/mpconfigvariant_common.h"
