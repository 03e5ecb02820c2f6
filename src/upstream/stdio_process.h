/*
 * stdio_process.h - the child process side of the stdio transport (internal to
 * src/upstream/stdio*.c): spawning, pipes, line framing, stop and restart.
 * Everything here runs on the owner worker's thread.
 */
#ifndef MG_UPSTREAM_STDIO_PROCESS_H
#define MG_UPSTREAM_STDIO_PROCESS_H

#include <h2o.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"
#include "core/bytes.h"
#include "core/worker.h"

typedef enum en_stdio_state_t {
    STDIO_DOWN = 0,     /* not running; a restart may be scheduled */
    STDIO_DISCOVERING,  /* spawned, waiting (up to 3 s) for the answer to the server/discover probe */
    STDIO_INITIALIZING, /* a legacy server: waiting for the initialize answer */
    STDIO_READY,        /* initialized (legacy) or discovered (modern): calls go through */
    STDIO_REFUSED,      /* a modern server that speaks no version we speak: unusable until it restarts */
    STDIO_STOPPING,     /* gateway shutdown */
} stdio_state_t;

typedef struct st_stdio_process_t stdio_process_t;

typedef struct st_stdio_process_callbacks_t {
    void (*on_line)(stdio_process_t *process, const char *line, size_t len);
    void (*on_started)(stdio_process_t *process);
    void (*on_exited)(stdio_process_t *process);
} stdio_process_callbacks_t;

struct st_stdio_process_t {
    const mg_config_server_t *server;
    size_t server_index;
    mg_worker_t *owner;
    const stdio_process_callbacks_t *callbacks;
    stdio_state_t state;
    atomic_bool ready; /* read by every worker's handle */
    pid_t pid;
    h2o_socket_t *stdin_socket, *stdout_socket, *stderr_socket;
    mg_bytes_t write_pending;
    char *write_inflight;
    bool writing;
    h2o_timeout_t tick_timeout; /* 250 ms ticks drive restart, stop escalation and reaping */
    h2o_timeout_entry_t tick;
    uint64_t restart_at, started_at, stop_started_at;
    unsigned restart_delay_ms;
    bool exited; /* reaped */
    void *data;  /* the transport's state */
};

void stdio_process_init(stdio_process_t *process, mg_worker_t *owner, const mg_config_server_t *server,
                        size_t server_index, const stdio_process_callbacks_t *callbacks);
/* Spawns the child now; on failure schedules a restart and logs why. Only on the owner's thread:
 * the pipes become sockets of the owner's loop. */
void stdio_process_start(stdio_process_t *process);
/* Queues one line (a newline is appended). */
void stdio_process_write_line(stdio_process_t *process, const char *text, size_t len);
/* Graceful stop; no restart afterwards. */
void stdio_process_stop(stdio_process_t *process);
bool stdio_process_stopped(const stdio_process_t *process);
void stdio_process_dispose(stdio_process_t *process);

#endif
