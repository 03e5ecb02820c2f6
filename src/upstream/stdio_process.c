/*
 * stdio_process.c - spawning and supervising one stdio MCP server (see stdio.h for
 * the sandbox and restart policy).
 *
 * The child is forked from a multi-threaded process, so between fork and exec it
 * only makes async-signal-safe calls on data prepared before the fork.
 */
#include "upstream/stdio_process.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "obs/log.h"
#include "obs/metrics.h"

#define TICK_MS 250
#define RESTART_MIN_MS 500
#define RESTART_MAX_MS 30000
#define HEALTHY_AFTER_MS 60000
#define STOP_TERM_AFTER_MS 2000
#define STOP_KILL_AFTER_MS 4000
#define MAX_LINE_BYTES (16 * 1024 * 1024)

extern char **environ;

static void on_tick(h2o_timeout_entry_t *entry);

void stdio_process_init(stdio_process_t *process, mg_worker_t *owner, const mg_config_server_t *server,
                        size_t server_index, const stdio_process_callbacks_t *callbacks)
{
    memset(process, 0, sizeof(*process));
    process->owner = owner;
    process->server = server;
    process->server_index = server_index;
    process->callbacks = callbacks;
    process->restart_delay_ms = RESTART_MIN_MS;
    process->pid = -1;
    process->exited = true;
    h2o_timeout_init(owner->loop, &process->tick_timeout, TICK_MS);
    process->tick.cb = on_tick;
}

static void schedule_tick(stdio_process_t *process)
{
    if (!h2o_timeout_is_linked(&process->tick))
        h2o_timeout_link(process->owner->loop, &process->tick_timeout, &process->tick);
}

/* ---- environment ------------------------------------------------------------------------ */

static char **build_environment(const mg_config_server_t *server)
{
    static const char *const kept[] = {"PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER", NULL};
    size_t count = 0;
    char **env = calloc(8 + server->env_len + 1, sizeof(*env));
    for (size_t i = 0; kept[i] != NULL; i++) {
        const char *value = getenv(kept[i]);
        if (value != NULL && asprintf(&env[count], "%s=%s", kept[i], value) > 0)
            count++;
    }
    for (size_t i = 0; i < server->env_len; i++) {
        if (asprintf(&env[count], "%s=%s", server->env[i].key, server->env[i].value) > 0)
            count++;
    }
    env[count] = NULL;
    return env;
}

static void free_environment(char **env)
{
    for (size_t i = 0; env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

/* ---- spawn ---------------------------------------------------------------------------------- */

static void child_exec(const mg_config_server_t *server, char **env, int in_fd, int out_fd, int err_fd)
{
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(126);
    close_range(3, ~0U, 0);
    if (server->cwd != NULL && chdir(server->cwd) != 0) {
        static const char message[] = "mcpgate: cannot change to the configured cwd\n";
        ssize_t ignored = write(2, message, sizeof(message) - 1);
        (void)ignored;
        _exit(126);
    }
    execvpe(server->command[0], server->command, env);
    static const char message[] = "mcpgate: cannot execute the configured command\n";
    ssize_t ignored = write(2, message, sizeof(message) - 1);
    (void)ignored;
    _exit(127);
}

static void on_stdout(h2o_socket_t *sock, const char *error);
static void on_stderr(h2o_socket_t *sock, const char *error);

static h2o_socket_t *wrap_fd(stdio_process_t *process, int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    h2o_socket_t *sock = h2o_evloop_socket_create(process->owner->loop, fd, 0);
    sock->data = process;
    return sock;
}

static void schedule_restart(stdio_process_t *process)
{
    process->restart_at = mg_worker_now(process->owner) + process->restart_delay_ms;
    mg_log(MG_LOG_INFO, "upstream.restart_scheduled", "%s restarts in %u ms", process->server->name,
           process->restart_delay_ms);
    process->restart_delay_ms =
        process->restart_delay_ms * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : process->restart_delay_ms * 2;
    schedule_tick(process);
}

void stdio_process_start(stdio_process_t *process)
{
    assert(mg_worker_on_own_thread(process->owner));
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
        mg_log(MG_LOG_ERROR, "upstream.spawn_failed", "%s: pipe: %s", process->server->name, strerror(errno));
        mg_metrics_upstream_event(process->owner->gateway->metrics, process->server_index, MG_METRICS_UPSTREAM_SPAWN);
        schedule_restart(process);
        return;
    }
    char **env = build_environment(process->server);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(process->server, env, in_pipe[0], out_pipe[1], err_pipe[1]);
    free_environment(env);
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (pid < 0) {
        mg_log(MG_LOG_ERROR, "upstream.spawn_failed", "%s: fork: %s", process->server->name, strerror(errno));
        mg_metrics_upstream_event(process->owner->gateway->metrics, process->server_index, MG_METRICS_UPSTREAM_SPAWN);
        close(in_pipe[1]), close(out_pipe[0]), close(err_pipe[0]);
        schedule_restart(process);
        return;
    }
    process->pid = pid;
    process->exited = false;
    process->started_at = mg_worker_now(process->owner);
    process->stdin_socket = wrap_fd(process, in_pipe[1]);
    process->stdout_socket = wrap_fd(process, out_pipe[0]);
    process->stderr_socket = wrap_fd(process, err_pipe[0]);
    h2o_socket_read_start(process->stdout_socket, on_stdout);
    h2o_socket_read_start(process->stderr_socket, on_stderr);
    mg_log_fields(MG_LOG_INFO, "upstream.spawned", json_pack("{s:s,s:i}", "server", process->server->name, "pid", pid),
                  "started %s (pid %d)", process->server->name, (int)pid);
    process->callbacks->on_started(process);
}

/* ---- writing ------------------------------------------------------------------------------ */

static void flush_writes(stdio_process_t *process);

static void on_write_done(h2o_socket_t *sock, const char *error)
{
    stdio_process_t *process = sock->data;
    process->writing = false;
    free(process->write_inflight);
    process->write_inflight = NULL;
    if (error != NULL)
        return; /* the child is going away; on_stdout's EOF handles it */
    flush_writes(process);
}

static void flush_writes(stdio_process_t *process)
{
    if (process->writing || process->write_pending.len == 0 || process->stdin_socket == NULL)
        return;
    size_t len;
    process->write_inflight = mg_bytes_take(&process->write_pending, &len);
    h2o_iovec_t buf = h2o_iovec_init(process->write_inflight, len);
    process->writing = true;
    h2o_socket_write(process->stdin_socket, &buf, 1, on_write_done);
}

void stdio_process_write_line(stdio_process_t *process, const char *text, size_t len)
{
    if (process->stdin_socket == NULL)
        return;
    mg_bytes_append(&process->write_pending, text, len);
    mg_bytes_append(&process->write_pending, "\n", 1);
    flush_writes(process);
}

/* ---- reading ------------------------------------------------------------------------------- */

static void close_socket(h2o_socket_t **sock)
{
    if (*sock != NULL) {
        h2o_socket_close(*sock);
        *sock = NULL;
    }
}

static void reap(stdio_process_t *process)
{
    int status;
    if (process->exited || waitpid(process->pid, &status, WNOHANG) != process->pid)
        return;
    process->exited = true;
    json_t *fields = json_pack("{s:s,s:i}", "server", process->server->name, "pid", process->pid);
    if (WIFEXITED(status))
        json_object_set_new(fields, "exit_code", json_integer(WEXITSTATUS(status)));
    else if (WIFSIGNALED(status))
        json_object_set_new(fields, "signal", json_integer(WTERMSIG(status)));
    mg_log_fields(process->state == STDIO_STOPPING ? MG_LOG_INFO : MG_LOG_WARN, "upstream.exit", fields, "%s exited",
                  process->server->name);
    process->pid = -1;
}

/* stdout closed: the child is gone or going. Fail what is in flight and plan a restart. */
static void on_child_gone(stdio_process_t *process)
{
    close_socket(&process->stdin_socket);
    close_socket(&process->stdout_socket);
    mg_bytes_dispose(&process->write_pending);
    bool stopping = process->state == STDIO_STOPPING;
    atomic_store(&process->ready, false);
    if (!stopping)
        process->state = STDIO_DOWN;
    process->callbacks->on_exited(process);
    if (!process->exited && !stopping) {
        /* it closed stdout but lives on: it will not answer any more, so end it */
        kill(-process->pid, SIGTERM);
        process->stop_started_at = mg_worker_now(process->owner);
    }
    reap(process);
    if (!stopping) {
        mg_metrics_upstream_event(process->owner->gateway->metrics, process->server_index, MG_METRICS_UPSTREAM_EXIT);
        if (mg_worker_now(process->owner) - process->started_at > HEALTHY_AFTER_MS)
            process->restart_delay_ms = RESTART_MIN_MS;
        schedule_restart(process);
    } else {
        schedule_tick(process);
    }
}

/* Calls `on_line` for each complete line in the socket's input (without its line end) and consumes them. */
static void drain_lines(stdio_process_t *process, h2o_socket_t *sock,
                        void (*on_line)(stdio_process_t *, const char *, size_t))
{
    h2o_buffer_t *input = sock->input;
    size_t start = 0;
    for (size_t i = 0; i < input->size; i++) {
        if (input->bytes[i] != '\n')
            continue;
        size_t len = i - start;
        if (len > 0 && input->bytes[start + len - 1] == '\r')
            len--;
        if (len > 0)
            on_line(process, input->bytes + start, len);
        start = i + 1;
    }
    h2o_buffer_consume(&sock->input, start);
}

static void on_message_line(stdio_process_t *process, const char *line, size_t len)
{
    process->callbacks->on_line(process, line, len);
}

static void on_stdout(h2o_socket_t *sock, const char *error)
{
    stdio_process_t *process = sock->data;
    drain_lines(process, sock, on_message_line);
    if (sock->input->size > MAX_LINE_BYTES) {
        mg_log(MG_LOG_ERROR, "upstream.protocol_error", "%s sent a line over %d bytes; restarting it",
               process->server->name, MAX_LINE_BYTES);
        mg_metrics_upstream_event(process->owner->gateway->metrics, process->server_index,
                                  MG_METRICS_UPSTREAM_PROTOCOL);
        error = "line too long";
        kill(-process->pid, SIGKILL);
    }
    if (error != NULL)
        on_child_gone(process);
}

static void on_log_line(stdio_process_t *process, const char *line, size_t len)
{
    mg_log_fields(MG_LOG_INFO, "upstream.stderr", json_pack("{s:s}", "server", process->server->name), "%.*s",
                  (int)(len > 1024 ? 1024 : len), line);
}

static void on_stderr(h2o_socket_t *sock, const char *error)
{
    stdio_process_t *process = sock->data;
    drain_lines(process, sock, on_log_line);
    if (sock->input->size > 65536) /* a very long line without newline: drop what we have */
        h2o_buffer_consume(&sock->input, sock->input->size);
    if (error != NULL)
        close_socket(&process->stderr_socket);
}

/* ---- ticks: restart, stop escalation, reaping ---------------------------------------------- */

static void on_tick(h2o_timeout_entry_t *entry)
{
    stdio_process_t *process = H2O_STRUCT_FROM_MEMBER(stdio_process_t, tick, entry);
    uint64_t now = mg_worker_now(process->owner);
    if (!process->exited) {
        reap(process);
        if (!process->exited && process->stop_started_at != 0) {
            uint64_t waited = now - process->stop_started_at;
            if (waited >= STOP_KILL_AFTER_MS)
                kill(-process->pid, SIGKILL);
            else if (waited >= STOP_TERM_AFTER_MS)
                kill(-process->pid, SIGTERM);
        }
    }
    if (process->state == STDIO_DOWN && process->exited && process->restart_at != 0 && now >= process->restart_at) {
        process->restart_at = 0;
        process->stop_started_at = 0;
        mg_metrics_upstream_event(process->owner->gateway->metrics, process->server_index, MG_METRICS_UPSTREAM_RESTART);
        stdio_process_start(process);
    }
    if (!process->exited || (process->state == STDIO_DOWN && process->restart_at != 0))
        schedule_tick(process);
}

void stdio_process_stop(stdio_process_t *process)
{
    process->state = STDIO_STOPPING;
    atomic_store(&process->ready, false);
    process->restart_at = 0;
    if (process->exited)
        return;
    close_socket(&process->stdin_socket); /* the polite signal: EOF on stdin */
    process->stop_started_at = mg_worker_now(process->owner);
    schedule_tick(process);
}

bool stdio_process_stopped(const stdio_process_t *process)
{
    return process->exited;
}

void stdio_process_dispose(stdio_process_t *process)
{
    if (!process->exited && process->pid > 0) {
        kill(-process->pid, SIGKILL);
        waitpid(process->pid, NULL, 0);
    }
    close_socket(&process->stdin_socket);
    close_socket(&process->stdout_socket);
    close_socket(&process->stderr_socket);
    if (h2o_timeout_is_linked(&process->tick))
        h2o_timeout_unlink(&process->tick);
    mg_bytes_dispose(&process->write_pending);
    free(process->write_inflight);
}
