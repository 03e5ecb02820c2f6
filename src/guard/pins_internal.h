/*
 * pins_internal.h - what the files of tool pinning share: the store itself (pins.c owns it; the watcher in
 * pins_watch.c runs its thread on it).
 */
#ifndef MG_GUARD_PINS_INTERNAL_H
#define MG_GUARD_PINS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "guard/pins.h"
#include "store/sqlite.h"

struct st_mg_pins_t {
    pthread_mutex_t lock; /* guards everything below but the watcher's fields */
    mg_store_t *store;
    mg_pins_mode_t mode;
    json_t *map;         /* "server/tool" -> {approved, by, pending, reason, detail, first, changed, approved_at} */
    uint64_t generation; /* of the pins table the map reflects */
    struct {             /* pins_watch.c */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        bool running;
        bool stopping;
    } watch;
};

#endif
