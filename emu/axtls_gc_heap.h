// Force-included (-include) into every axTLS object of the esp8266 board emulator.
//
// On the ESP8266, axTLS takes its memory from MicroPython's GC heap: ports/esp8266/
// posix_helpers.c maps malloc/calloc/realloc/free to gc_alloc/gc_free/gc_realloc. The unix
// port would give axTLS the C library's heap instead, which hides the ~5.3 KB block a TLS
// connection needs. Here the same mapping is made for axTLS alone.
//
// axTLS does not check what malloc returns: on a board a failed allocation is a crash.
// The emulator says so on stderr, with the state of the heap, and stops (exit status 97)
// instead of dereferencing NULL.
#ifndef EMU_AXTLS_GC_HEAP_H
#define EMU_AXTLS_GC_HEAP_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "py/gc.h"

#define EMU_AXTLS_OOM_EXIT (97)

static inline void *emu_axtls_checked(void *p, const char *what, size_t n) {
    if (p == NULL && n) {
        gc_info_t info;
        gc_info(&info);
        fprintf(stderr, "EMU: axTLS %s(%u) failed: the GC heap has no room (total %u, used %u, "
            "free %u, largest free block %u bytes%s); on an ESP8266 this is a crash\n", what,
            (unsigned)n, (unsigned)info.total, (unsigned)info.used, (unsigned)info.free,
            (unsigned)info.max_free * MICROPY_BYTES_PER_GC_BLOCK,
            gc_is_locked() ? ", the GC is locked" : "");
        fflush(stderr);
        _exit(EMU_AXTLS_OOM_EXIT);
    }
    return p;
}

static inline void *emu_axtls_malloc(size_t n) {
    return emu_axtls_checked(gc_alloc(n, 0), "malloc", n);
}

static inline void *emu_axtls_calloc(size_t k, size_t n) {
    void *p = emu_axtls_checked(gc_alloc(k * n, 0), "calloc", k * n);
    if (p != NULL) {
        memset(p, 0, k * n);
    }
    return p;
}

static inline void *emu_axtls_realloc(void *p, size_t n) {
    return emu_axtls_checked(gc_realloc(p, n, true), "realloc", n);
}

static inline void emu_axtls_free(void *p) {
    gc_free(p);
}

#define malloc(n) emu_axtls_malloc(n)
#define calloc(k, n) emu_axtls_calloc(k, n)
#define realloc(p, n) emu_axtls_realloc(p, n)
#define free(p) emu_axtls_free(p)

#endif
