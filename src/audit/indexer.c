/*
 * indexer.c - fills the SQLite index from the trail's own lines, behind the writer.
 *
 * The writer (writer.c) writes the JSON-lines file and nothing else; filling the index used to be
 * its job too, one transaction per batch, and cost the gateway more CPU per call than the rest of
 * the audit trail together. Now a follower reads the file back from where the index stopped
 * (index.c's audit_position: file identity and byte offset) and indexes each record line, in
 * transactions of up to BATCH records that also move the position. The same follower serves
 * `mcpgate audit query`, which catches the index up before it reads, so a query sees every record
 * written before it started even when the gateway's indexer is behind or the gateway is stopped.
 *
 * Finding the place. The file named by the position (by device and inode: rotation renames a file
 * but keeps its inode), if it is still the trail or one of its rotated files, at the recorded
 * offset. Otherwise (no position yet, or its file is gone) the newest file whose first record is at
 * most one past the highest seq indexed, from its start; lines at or below that seq are skipped.
 * A name can be renamed away between listing and opening, so every choice is made on the open
 * descriptor (its inode, its first record), and a file reached by the trail's name counts only when
 * a second listing shows no rotation in between.
 *
 * Following. Only whole lines are read (a line being written stays for the next round). At the
 * end of a rotated file the next one follows. At the end of the trail's current file the follower
 * checks whether the trail path still names it: when rotation has replaced it, the old file is read
 * to its end once more (the writer finishes a file before renaming it) and the place is found anew.
 *
 * The gateway's indexer thread runs the follower at SCHED_IDLE: indexing uses only CPU time that
 * nothing else wants, so a busy gateway serves requests first and lets the index lag, and catches up
 * when the load drops (mcpgate_audit_index_lag shows by how much). The file never lags. Even idle
 * time is not taken when it comes in slivers between requests: a chunk that was preempted makes the
 * thread back off (CHUNK, BACKOFF_*).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "obs/log.h"

#define BATCH 1024
#define READ_SIZE 65536
#define IDLE_WAKE_S 1
/* The thread indexes CHUNK records at a time. A chunk that took more than twice its own CPU time
 * was preempted: the CPU is wanted by other threads, so the thread sleeps BACKOFF_MIN_MS, doubling
 * up to BACKOFF_MAX_MS while that lasts, rather than wake for every idle moment between requests
 * (each switch in and out costs the request path caches and time). */
#define CHUNK 256
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

struct st_mg_audit_follow_t {
    mg_audit_index_t *index;
    mg_audit_position_t position; /* trail, and where the next line starts */
    char **files;                 /* rotated files (oldest first), then the trail; from the last locate */
    size_t files_len, at;         /* files[at] is open as fd */
    int fd;
    bool draining;    /* the trail path names another file now: read this one to its end, then locate */
    mg_bytes_t carry; /* bytes read past position.offset (an incomplete line) */
    bool logged_skip;
};

static void close_file(mg_audit_follow_t *follow)
{
    if (follow->fd >= 0)
        close(follow->fd);
    follow->fd = -1;
    follow->carry.len = 0;
    follow->draining = false;
    mg_audit_rotated_list_free(follow->files, follow->files_len);
    follow->files = NULL;
    follow->files_len = follow->at = 0;
}

/* The seq of the first record line of the open file `fd` (read through a duplicate, then the offset
 * is put back to 0); 0 when it has none that can be read. */
static uint64_t first_seq(int fd)
{
    int copy = dup(fd);
    FILE *file = copy >= 0 ? fdopen(copy, "r") : NULL;
    if (file == NULL) {
        if (copy >= 0)
            close(copy);
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t seq = 0;
    while (seq == 0 && (len = getline(&line, &cap, file)) > 0) {
        mg_audit_row_t row;
        json_t *holder = NULL;
        mg_error_t ignored;
        if (line[len - 1] == '\n' && mg_audit_row_parse(line, (size_t)len - 1, &row, &holder, &ignored) == 0)
            seq = row.seq;
        json_decref(holder);
        if (line[len - 1] != '\n')
            break;
    }
    free(line);
    fclose(file);
    (void)lseek(fd, 0, SEEK_SET);
    return seq;
}

/* Makes `fd` (open on files[at], described by `st`) the open file, at `offset`. */
static int adopt(mg_audit_follow_t *follow, int fd, const struct stat *st, size_t at, uint64_t offset)
{
    if (lseek(fd, (off_t)offset, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    follow->fd = fd;
    follow->at = at;
    follow->position.device = (uint64_t)st->st_dev;
    follow->position.inode = (uint64_t)st->st_ino;
    follow->position.offset = offset;
    return 0;
}

/* Opens files[at]: the descriptor and what it is (a name can be renamed away at any moment, so
 * every decision is taken on the open file, never on the name). -1 when it cannot be opened. */
static int open_named(const mg_audit_follow_t *follow, size_t at, struct stat *st)
{
    int fd = open(follow->files[at], O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && fstat(fd, st) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int open_at(mg_audit_follow_t *follow, size_t at, uint64_t offset)
{
    struct stat st;
    int fd = open_named(follow, at, &st);
    return fd < 0 ? -1 : adopt(follow, fd, &st, at, offset);
}

/* Closes the open file and lists the trail's files anew: rotated ones oldest first, then the trail. */
static int list_files(mg_audit_follow_t *follow)
{
    close_file(follow);
    char **rotated;
    size_t rotated_len;
    if (mg_audit_rotated_list(follow->position.trail, &rotated, &rotated_len) != 0)
        rotated_len = 0, rotated = NULL;
    char **files = realloc(rotated, (rotated_len + 1) * sizeof(*files));
    char *trail = strdup(follow->position.trail);
    if (files == NULL || trail == NULL) {
        free(trail);
        mg_audit_rotated_list_free(files != NULL ? files : rotated, rotated_len);
        return -1;
    }
    files[rotated_len] = trail;
    follow->files = files;
    follow->files_len = rotated_len + 1;
    return 0;
}

/* Where the file at position.device/inode is in the list of rotated files; -1 when it is not one. */
static long rotated_index(const mg_audit_follow_t *follow)
{
    for (size_t i = 0; i + 1 < follow->files_len; i++) {
        struct stat st;
        if (stat(follow->files[i], &st) == 0 && (uint64_t)st.st_dev == follow->position.device &&
            (uint64_t)st.st_ino == follow->position.inode)
            return (long)i;
    }
    return -1;
}

static int locate(mg_audit_follow_t *follow);

/* The open file is read to its end and is a rotated file now: opens the one that came after it. The
 * trail's path names that file only if no newer rotated file appears between listing and opening
 * (a rotation renames the file and then creates the next), so the list is taken again after the
 * open to make sure. Falls back to locate() when the file is gone from the list. */
static int open_successor(mg_audit_follow_t *follow)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        if (list_files(follow) != 0)
            return -1;
        long at = rotated_index(follow);
        if (at < 0)
            return locate(follow);
        uint64_t device = follow->position.device, inode = follow->position.inode;
        if (open_at(follow, (size_t)at + 1, 0) != 0)
            return -1;
        if ((size_t)at + 2 < follow->files_len)
            return 0; /* a rotated file: its name is its own for good */
        int fd = follow->fd;
        follow->fd = -1; /* kept open across the second listing */
        mg_audit_position_t opened = follow->position;
        follow->position.device = device;
        follow->position.inode = inode;
        if (list_files(follow) != 0) {
            close(fd);
            return -1;
        }
        long again = rotated_index(follow);
        if (again >= 0 && (size_t)again + 2 == follow->files_len) { /* still the newest rotated file */
            follow->fd = fd;
            follow->at = follow->files_len - 1;
            follow->position = opened;
            return 0;
        }
        close(fd); /* rotated again meanwhile: once more */
    }
    return locate(follow);
}
/* Opens the file where indexing goes on (see the file comment); -1 when there is none yet. */
static int locate(mg_audit_follow_t *follow)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        if (list_files(follow) != 0)
            return -1;
        for (size_t i = follow->files_len; i-- > 0;) { /* the recorded place, if its file is still there */
            struct stat st;
            int fd = follow->position.inode != 0 ? open_named(follow, i, &st) : -1;
            if (fd >= 0 && (uint64_t)st.st_dev == follow->position.device &&
                (uint64_t)st.st_ino == follow->position.inode && (uint64_t)st.st_size >= follow->position.offset)
                return adopt(follow, fd, &st, i, follow->position.offset);
            if (fd >= 0)
                close(fd);
        }
        for (size_t i = follow->files_len; i-- > 0;) { /* the first file that goes on from the index */
            struct stat st;
            int fd = open_named(follow, i, &st);
            if (fd < 0)
                continue;
            uint64_t seq = first_seq(fd);
            if (seq != 0 && seq <= follow->position.seq + 1)
                return adopt(follow, fd, &st, i, 0);
            close(fd);
        }
        /* none: the oldest file, unless a rotation renamed it meanwhile (then the list is stale) */
        struct stat st;
        size_t listed = follow->files_len;
        int fd = open_named(follow, 0, &st);
        if (fd < 0 || list_files(follow) != 0) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
        if (follow->files_len == listed)
            return adopt(follow, fd, &st, 0, 0);
        close(fd);
    }
    return -1;
}

int mg_audit_follow_create(const char *trail, mg_audit_index_t *index, mg_audit_follow_t **out, mg_error_t *err)
{
    *out = NULL;
    mg_audit_follow_t *follow = calloc(1, sizeof(*follow));
    if (follow == NULL)
        return mg_error_set(err, "out of memory");
    follow->fd = -1;
    follow->index = index;
    if (mg_audit_index_position(index, &follow->position, err) != 0) {
        free(follow);
        return -1;
    }
    if (strcmp(follow->position.trail, trail) != 0) { /* another trail's place means nothing here */
        follow->position.device = follow->position.inode = follow->position.offset = 0;
        if (snprintf(follow->position.trail, sizeof(follow->position.trail), "%s", trail) >=
            (int)sizeof(follow->position.trail)) {
            free(follow);
            return mg_error_set(err, "%s: path too long", trail);
        }
    }
    *out = follow;
    return 0;
}

void mg_audit_follow_destroy(mg_audit_follow_t *follow)
{
    if (follow == NULL)
        return;
    close_file(follow);
    mg_bytes_dispose(&follow->carry);
    free(follow);
}

uint64_t mg_audit_follow_seq(const mg_audit_follow_t *follow)
{
    return follow->position.seq;
}

/* Indexes the whole lines in carry; returns how many records it added, or -1 (err set). */
static long index_lines(mg_audit_follow_t *follow, uint64_t max, bool *in_transaction, uint64_t *skipped,
                        mg_error_t *err)
{
    long added = 0;
    size_t used = 0;
    const char *base = follow->carry.base;
    while ((uint64_t)added < max && used < follow->carry.len) {
        const char *newline = memchr(base + used, '\n', follow->carry.len - used);
        if (newline == NULL)
            break;
        size_t len = (size_t)(newline - (base + used));
        mg_audit_row_t row;
        json_t *holder;
        mg_error_t why;
        int kind = mg_audit_row_parse(base + used, len, &row, &holder, &why);
        int rc = 0;
        if (kind < 0) {
            if (skipped != NULL)
                (*skipped)++;
            if (!follow->logged_skip)
                mg_log(MG_LOG_WARN, "audit.index_skipped", "%s at byte %llu: not indexed: %s",
                       follow->files[follow->at], (unsigned long long)follow->position.offset, why.message);
            follow->logged_skip = true;
        } else if (kind == 0 && row.seq > follow->position.seq) {
            if (!*in_transaction && (rc = mg_audit_index_begin(follow->index, err)) == 0)
                *in_transaction = true;
            if (rc == 0)
                rc = mg_audit_index_add(follow->index, &row, err);
            if (rc == 0) {
                follow->position.seq = row.seq;
                added++;
            }
        }
        json_decref(holder);
        if (rc != 0)
            return -1;
        used += len + 1;
        follow->position.offset += len + 1;
    }
    if (used > 0) {
        memmove(follow->carry.base, base + used, follow->carry.len - used);
        follow->carry.len -= used;
    }
    return added;
}

/* Reads more of the current file into carry: >0 bytes read, 0 at its end, -1 on error. */
static ssize_t read_more(mg_audit_follow_t *follow)
{
    mg_bytes_reserve(&follow->carry, READ_SIZE);
    ssize_t got;
    do
        got = read(follow->fd, follow->carry.base + follow->carry.len, READ_SIZE);
    while (got < 0 && errno == EINTR);
    if (got > 0)
        follow->carry.len += (size_t)got;
    return got;
}

/* At the end of the open file: moves on when there is more to read. false: caught up. */
static bool next_file(mg_audit_follow_t *follow)
{
    if (follow->at + 2 < follow->files_len) { /* a rotated file is finished, and the next is one too */
        size_t next = follow->at + 1;
        close(follow->fd);
        follow->fd = -1;
        follow->carry.len = 0;
        return open_at(follow, next, 0) == 0;
    }
    if (follow->at + 1 < follow->files_len || follow->draining)
        return open_successor(follow) == 0; /* what follows is the trail's current file */
    struct stat st;
    if (stat(follow->position.trail, &st) == 0 && (uint64_t)st.st_dev == follow->position.device &&
        (uint64_t)st.st_ino == follow->position.inode)
        return false;        /* the trail is still this file: wait for more */
    follow->draining = true; /* rotated away: anything written before the rename is read next */
    return true;
}

static int finish(mg_audit_follow_t *follow, bool *in_transaction, mg_error_t *err)
{
    if (!*in_transaction)
        return 0;
    *in_transaction = false;
    if (mg_audit_index_set_position(follow->index, &follow->position, err) != 0 ||
        mg_audit_index_commit(follow->index, err) != 0) {
        mg_audit_index_rollback(follow->index);
        return -1;
    }
    return 0;
}

int mg_audit_follow_run(mg_audit_follow_t *follow, uint64_t max_records, bool *caught_up, uint64_t *skipped,
                        mg_error_t *err)
{
    mg_audit_position_t start = follow->position;
    bool in_transaction = false;
    uint64_t done = 0, in_batch = 0;
    *caught_up = false;
    if (follow->fd < 0 && locate(follow) != 0) {
        *caught_up = true; /* no trail yet */
        return 0;
    }
    while (max_records == 0 || done < max_records) {
        uint64_t room = BATCH - in_batch;
        if (max_records != 0 && max_records - done < room)
            room = max_records - done;
        long added = index_lines(follow, room, &in_transaction, skipped, err);
        if (added < 0)
            goto failed;
        done += (uint64_t)added;
        in_batch += (uint64_t)added;
        if (in_batch >= BATCH) {
            if (finish(follow, &in_transaction, err) != 0)
                goto failed;
            start = follow->position;
            in_batch = 0;
            continue;
        }
        if ((uint64_t)added == room)
            continue;
        ssize_t got = read_more(follow);
        if (got < 0) {
            mg_error_set(err, "%s: cannot read: %s", follow->files[follow->at], strerror(errno));
            goto failed;
        }
        if (got == 0 && !next_file(follow)) {
            *caught_up = true;
            break;
        }
        if (follow->fd < 0) {
            mg_error_set(err, "%s: cannot open the next file of the trail", follow->position.trail);
            goto failed;
        }
    }
    if (finish(follow, &in_transaction, err) != 0)
        goto failed;
    return 0;
failed:
    mg_audit_index_rollback(follow->index);
    follow->position = start; /* what the index holds: find the place again next time */
    close_file(follow);
    return -1;
}

/* --- the gateway's indexer thread ------------------------------------------------------------- */

struct st_mg_audit_indexer_t {
    mg_audit_index_t *index;
    mg_audit_follow_t *follow;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool poked, stopping, waiting;
    _Atomic uint64_t indexed, seq, errors;
};

static int64_t clock_us(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* Waits until poked (when `poke_ends` is set), stopped, or `wait_ms` have passed. Lock held. */
static void indexer_wait(mg_audit_indexer_t *indexer, int64_t wait_ms, bool poke_ends)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + (wait_ms % 1000) * 1000000;
    until.tv_sec += wait_ms / 1000 + ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    indexer->waiting = poke_ends;
    while (!indexer->stopping && !(poke_ends && indexer->poked)) {
        if (pthread_cond_timedwait(&indexer->wake, &indexer->lock, &until) == ETIMEDOUT)
            break;
    }
    indexer->waiting = false;
}

static void *indexer_main(void *arg)
{
    mg_audit_indexer_t *indexer = arg;
    struct sched_param param = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &param); /* refused (seccomp): normal priority */
    int64_t backoff_ms = 0;
    pthread_mutex_lock(&indexer->lock);
    while (!indexer->stopping) {
        indexer->poked = false;
        pthread_mutex_unlock(&indexer->lock);
        bool caught_up = false;
        mg_error_t err;
        uint64_t before = mg_audit_follow_seq(indexer->follow);
        int64_t wall = clock_us(CLOCK_MONOTONIC), cpu = clock_us(CLOCK_THREAD_CPUTIME_ID);
        int rc = mg_audit_follow_run(indexer->follow, CHUNK, &caught_up, NULL, &err);
        wall = clock_us(CLOCK_MONOTONIC) - wall;
        cpu = clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu;
        uint64_t after = mg_audit_follow_seq(indexer->follow);
        if (after > before)
            atomic_fetch_add_explicit(&indexer->indexed, after - before, memory_order_relaxed);
        atomic_store_explicit(&indexer->seq, after, memory_order_relaxed);
        if (rc != 0) {
            atomic_fetch_add_explicit(&indexer->errors, 1, memory_order_relaxed);
            mg_log(MG_LOG_ERROR, "audit.index_failed", "%s (retrying)", err.message);
        }
        bool preempted = wall > 2 * cpu + 1000;
        backoff_ms = !preempted ? 0 : backoff_ms == 0 ? BACKOFF_MIN_MS : backoff_ms * 2;
        if (backoff_ms > BACKOFF_MAX_MS)
            backoff_ms = BACKOFF_MAX_MS;
        pthread_mutex_lock(&indexer->lock);
        if (rc != 0 || (caught_up && !indexer->poked))
            indexer_wait(indexer, IDLE_WAKE_S * 1000, rc == 0);
        else if (backoff_ms > 0)
            indexer_wait(indexer, backoff_ms, false);
    }
    pthread_mutex_unlock(&indexer->lock);
    return NULL;
}

int mg_audit_indexer_start(const char *sqlite_path, const char *trail, mg_audit_indexer_t **out, mg_error_t *err)
{
    *out = NULL;
    mg_audit_indexer_t *indexer = calloc(1, sizeof(*indexer));
    if (indexer == NULL)
        return mg_error_set(err, "out of memory");
    pthread_condattr_t attr;
    if (mg_audit_index_open(sqlite_path, &indexer->index, err) != 0 ||
        mg_audit_follow_create(trail, indexer->index, &indexer->follow, err) != 0) {
        mg_audit_index_close(indexer->index);
        free(indexer);
        return -1;
    }
    atomic_store(&indexer->seq, mg_audit_follow_seq(indexer->follow));
    int rc = pthread_condattr_init(&attr);
    if (rc == 0 && (rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0 &&
        (rc = pthread_cond_init(&indexer->wake, &attr)) == 0 && (rc = pthread_mutex_init(&indexer->lock, NULL)) == 0 &&
        (rc = pthread_create(&indexer->thread, NULL, indexer_main, indexer)) != 0) {
        pthread_mutex_destroy(&indexer->lock);
        pthread_cond_destroy(&indexer->wake);
    }
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        mg_audit_follow_destroy(indexer->follow);
        mg_audit_index_close(indexer->index);
        free(indexer);
        return mg_error_set(err, "audit: cannot start the indexer thread: %s", strerror(rc));
    }
    pthread_setname_np(indexer->thread, "mg-audit-index");
    *out = indexer;
    return 0;
}

void mg_audit_indexer_poke(mg_audit_indexer_t *indexer)
{
    pthread_mutex_lock(&indexer->lock);
    indexer->poked = true;
    if (indexer->waiting)
        pthread_cond_signal(&indexer->wake);
    pthread_mutex_unlock(&indexer->lock);
}

void mg_audit_indexer_stats(mg_audit_indexer_t *indexer, uint64_t *indexed, uint64_t *seq, uint64_t *errors)
{
    *indexed = atomic_load_explicit(&indexer->indexed, memory_order_relaxed);
    *seq = atomic_load_explicit(&indexer->seq, memory_order_relaxed);
    *errors = atomic_load_explicit(&indexer->errors, memory_order_relaxed);
}

void mg_audit_indexer_stop(mg_audit_indexer_t *indexer)
{
    if (indexer == NULL)
        return;
    pthread_mutex_lock(&indexer->lock);
    indexer->stopping = true;
    pthread_cond_signal(&indexer->wake);
    pthread_mutex_unlock(&indexer->lock);
    pthread_join(indexer->thread, NULL);
    pthread_mutex_destroy(&indexer->lock);
    pthread_cond_destroy(&indexer->wake);
    mg_audit_follow_destroy(indexer->follow);
    mg_audit_index_close(indexer->index);
    free(indexer);
}
