/*
 * writer.c - the audit trail's queue and writer thread: numbering, linking, batching, syncing, rotating.
 *
 * Queue. A ring of entries under one mutex. Emitters hold the lock for a few stores; the writer
 * takes everything queued at once, so the lock is never held across I/O and one wake-up drains a
 * burst. A full ring makes emitters wait on `room` (counted as backpressure): losing a record
 * would break the promise that every decision is recorded, and a gateway that cannot write its
 * trail should slow down rather than go on unrecorded. The writer is only signalled when it sleeps.
 *
 * Batches. The writer builds the lines of everything it took in one buffer and writes it with one
 * write(2) (records and the checkpoints that fall between them), then syncs as audit.fsync says,
 * then counts the records as written (and, once synced, as durable for mg_audit_flush) and pokes
 * the indexer (indexer.c), which reads the lines back into the SQLite index on its own thread, at
 * idle priority. A failed write or sync cuts the file back to its last good size
 * and rewinds the chain, and the same records are tried again a second later: nothing is lost or
 * written twice, and meanwhile the queue fills and backpressure reaches the request path.
 *
 * Rotation. Before a line would take the file past rotate.size, or once rotate.interval has passed
 * since the file was opened (not since its first record: a restart starts the interval again), the
 * batch so far is committed, a checkpoint is written when there is a signing key, the file is
 * synced and renamed to <file>.<UTC time>[.<n>] (renameat2 RENAME_NOREPLACE, so an existing
 * rotated file is never overwritten), and a new file is opened. The chain state lives in memory
 * and simply carries on into the new file, so the first line of the new file links to the last one
 * of the old. If the rename fails the writer keeps appending to the current file and tries again
 * a second later.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "obs/log.h"

#define RETRY_US 1000000
#define IDLE_WAKE_US 1000000
/* A few queued records wait up to LINGER_US for more, until LINGER_BATCH are queued, so that one
 * write serves many; a flush or shutdown ends the wait. */
#define LINGER_US 2000
#define LINGER_BATCH 256
#define STOP_ATTEMPTS 3
/* Room kept for a record's seq, prev and digest, and for the checkpoints that may follow it in the
 * same file (a periodic one and the one written at rotation), so that rotate.size is a bound. */
#define RECORD_OVERHEAD 256
#define CHECKPOINT_MAX 400

struct st_mg_audit_t {
    /* settings, from the configuration */
    char *path;
    char *sqlite_path; /* NULL: no index */
    mg_audit_fsync_t fsync;
    int64_t fsync_interval_us;
    mg_audit_arguments_t arguments;
    bool signing;
    unsigned char secret_key[crypto_sign_SECRETKEYBYTES];
    char key_id[MG_AUDIT_KEY_ID_TEXT];
    uint64_t checkpoint_every, rotate_size, rotate_interval_us;

    /* shared, under lock */
    pthread_mutex_t lock;
    pthread_cond_t wake, room, progress;
    mg_audit_entry_t *ring;
    size_t capacity, head, count;
    bool ready, started, stopping, writer_done, writer_waiting; /* ready: created completely */
    bool lingering; /* the writer waits for a batch to fill: emits do not wake it before LINGER_BATCH */
    uint64_t flush_target, synced;
    mg_audit_stats_t stats;
    pthread_t thread;

    /* the writer's own */
    int fd;
    uint64_t file_size;
    int64_t file_opened_us, next_rotation_us, last_sync_us;
    bool dirty; /* written since the last sync */
    mg_audit_chain_t chain, committed_chain;
    mg_audit_indexer_t *indexer;
    mg_bytes_t buffer;
    size_t batch_records; /* record lines in buffer */
    mg_audit_entry_t *work;
};

static int64_t monotonic_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t wrote = write(fd, data, len);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            return -1;
        data += wrote;
        len -= (size_t)wrote;
    }
    return 0;
}

static void count_error(mg_audit_t *audit, uint64_t *counter)
{
    pthread_mutex_lock(&audit->lock);
    (*counter)++;
    pthread_mutex_unlock(&audit->lock);
}

static void sync_file(mg_audit_t *audit)
{
    if (fsync(audit->fd) != 0) {
        mg_log(MG_LOG_ERROR, "audit.sync_failed", "%s: fsync: %s", audit->path, strerror(errno));
        count_error(audit, &audit->stats.write_errors);
        return;
    }
    audit->dirty = false;
    audit->last_sync_us = monotonic_us();
    pthread_mutex_lock(&audit->lock);
    audit->synced = audit->stats.written;
    pthread_cond_broadcast(&audit->progress);
    pthread_mutex_unlock(&audit->lock);
}

/* Writes the batch buffer; see the file comment for what happens on failure. */
static int commit(mg_audit_t *audit, bool force_sync)
{
    if (audit->buffer.len == 0)
        return 0;
    bool sync = force_sync || audit->fsync == MG_AUDIT_FSYNC_ALWAYS;
    if (write_all(audit->fd, audit->buffer.base, audit->buffer.len) != 0 || (sync && fsync(audit->fd) != 0)) {
        mg_log(MG_LOG_ERROR, "audit.write_failed", "%s: %s (retrying)", audit->path, strerror(errno));
        if (ftruncate(audit->fd, (off_t)audit->file_size) != 0)
            mg_log(MG_LOG_ERROR, "audit.write_failed", "%s: cannot cut back a partial write: %s", audit->path,
                   strerror(errno));
        audit->chain = audit->committed_chain;
        audit->buffer.len = 0;
        audit->batch_records = 0;
        count_error(audit, &audit->stats.write_errors);
        return -1;
    }
    audit->file_size += audit->buffer.len;
    audit->committed_chain = audit->chain;
    pthread_mutex_lock(&audit->lock);
    audit->stats.written += audit->batch_records;
    audit->stats.last_seq = audit->chain.seq;
    pthread_mutex_unlock(&audit->lock);
    audit->dirty = !sync;
    if (sync) {
        audit->last_sync_us = monotonic_us();
        pthread_mutex_lock(&audit->lock);
        audit->synced = audit->stats.written;
        pthread_cond_broadcast(&audit->progress);
        pthread_mutex_unlock(&audit->lock);
    }
    audit->buffer.len = 0;
    audit->batch_records = 0;
    if (audit->indexer != NULL)
        mg_audit_indexer_poke(audit->indexer);
    return 0;
}

static void append_checkpoint(mg_audit_t *audit)
{
    mg_audit_checkpoint_append(&audit->buffer, &audit->chain, mg_audit_now_us(), audit->secret_key, audit->key_id);
    pthread_mutex_lock(&audit->lock);
    audit->stats.checkpoints++;
    pthread_mutex_unlock(&audit->lock);
}

static void append_record(mg_audit_t *audit, const mg_audit_entry_t *entry)
{
    mg_audit_chain_t *chain = &audit->chain;
    char head[128], prev[MG_AUDIT_HASH_HEX];
    size_t at = audit->buffer.len;
    mg_audit_hex(chain->last_line, prev);
    int head_len =
        snprintf(head, sizeof(head), "{\"seq\":%llu,\"prev\":\"%s\",", (unsigned long long)chain->seq + 1, prev);
    mg_bytes_append(&audit->buffer, head, (size_t)head_len);
    mg_bytes_append(&audit->buffer, entry->text, entry->body_len);
    if (entry->has_digest) {
        unsigned char digest[MG_AUDIT_HASH_BYTES];
        char hex[MG_AUDIT_HASH_HEX];
        mg_audit_hash(entry->text + entry->digest_at, entry->digest_len, digest);
        mg_audit_hex(digest, hex);
        mg_bytes_append(&audit->buffer, ",\"arguments_sha256\":\"", 21);
        mg_bytes_append(&audit->buffer, hex, 64);
        mg_bytes_append(&audit->buffer, "\"", 1);
    }
    mg_bytes_append(&audit->buffer, "}", 1);
    size_t len = audit->buffer.len - at;
    chain->seq++;
    mg_audit_hash(audit->buffer.base + at, len, chain->last_line);
    memcpy(chain->last_record, chain->last_line, MG_AUDIT_HASH_BYTES);
    chain->last_is_checkpoint = false;
    chain->since_checkpoint++;
    mg_bytes_append(&audit->buffer, "\n", 1);
    audit->batch_records++;
}

static int open_file(mg_audit_t *audit, mg_error_t *err)
{
    int fd = open(audit->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return mg_error_set(err, "%s: cannot open: %s", audit->path, strerror(saved));
    }
    if (audit->fd >= 0)
        close(audit->fd);
    audit->fd = fd;
    audit->file_size = (uint64_t)st.st_size;
    audit->file_opened_us = mg_audit_now_us();
    return 0;
}

/* Commits what is buffered, closes the current file under its rotated name and opens a new one. */
static int rotate(mg_audit_t *audit)
{
    char name[4096];
    mg_error_t err;
    int64_t now = mg_audit_now_us();
    if (audit->signing && !audit->chain.last_is_checkpoint && audit->chain.seq > 0)
        append_checkpoint(audit);
    if (commit(audit, true) != 0)
        return -1;
    if (audit->dirty)
        sync_file(audit);
    int rc = -1;
    for (unsigned n = 0; n < 1000 && rc != 0; n++) {
        mg_audit_rotated_name(audit->path, now, n, name, sizeof(name));
        rc = renameat2(AT_FDCWD, audit->path, AT_FDCWD, name, RENAME_NOREPLACE);
        if (rc != 0 && errno != EEXIST)
            break;
    }
    if (rc != 0 || open_file(audit, &err) != 0) {
        mg_log(MG_LOG_ERROR, "audit.rotate_failed", "%s: %s (writing on, retrying in a second)", audit->path,
               rc != 0 ? strerror(errno) : err.message);
        audit->next_rotation_us = now + RETRY_US;
        count_error(audit, &audit->stats.write_errors);
        return -1;
    }
    char directory[4096];
    snprintf(directory, sizeof(directory), "%s", audit->path);
    char *slash = strrchr(directory, '/');
    if (slash != NULL) { /* the rename and the new file survive a crash */
        *(slash == directory ? slash + 1 : slash) = '\0';
        int dir_fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0) {
            (void)fsync(dir_fd);
            close(dir_fd);
        }
    }
    mg_log(MG_LOG_INFO, "audit.rotated", "%s -> %s after seq %llu", audit->path, name,
           (unsigned long long)audit->chain.seq);
    pthread_mutex_lock(&audit->lock);
    audit->stats.rotations++;
    pthread_mutex_unlock(&audit->lock);
    return 0;
}

static bool rotation_due(const mg_audit_t *audit, size_t upcoming)
{
    uint64_t size = audit->file_size + audit->buffer.len;
    if (size == 0)
        return false;
    int64_t now = mg_audit_now_us();
    if (now < audit->next_rotation_us)
        return false;
    if (audit->rotate_size > 0 && size + upcoming > audit->rotate_size)
        return true;
    return audit->rotate_interval_us > 0 && now - audit->file_opened_us >= (int64_t)audit->rotate_interval_us;
}

/* Writes entries[0..n); *done receives how many are in the file (all of them when it returns 0). */
static int write_entries(mg_audit_t *audit, mg_audit_entry_t *entries, size_t n, size_t *done)
{
    *done = 0;
    for (size_t i = 0; i < n; i++) {
        if (rotation_due(audit, entries[i].body_len + RECORD_OVERHEAD + (audit->signing ? 2 * CHECKPOINT_MAX : 0))) {
            if (commit(audit, false) != 0)
                return -1;
            *done = i;
            (void)rotate(audit); /* on failure: go on in the current file */
        }
        append_record(audit, &entries[i]);
        if (audit->signing && audit->chain.since_checkpoint >= audit->checkpoint_every)
            append_checkpoint(audit);
    }
    if (commit(audit, false) != 0)
        return -1;
    *done = n;
    return 0;
}

static void write_batch(mg_audit_t *audit, size_t n, bool stopping)
{
    size_t written = 0;
    for (int attempt = 1; written < n; attempt++) {
        size_t done;
        int rc = write_entries(audit, audit->work + written, n - written, &done);
        for (size_t i = written; i < written + done; i++)
            mg_audit_entry_dispose(&audit->work[i]);
        written += done;
        if (rc == 0)
            break;
        if (stopping && attempt >= STOP_ATTEMPTS) {
            mg_log(MG_LOG_ERROR, "audit.lost", "%s: stopping after %d failed attempts; %zu records not written",
                   audit->path, attempt, n - written);
            for (size_t i = written; i < n; i++)
                mg_audit_entry_dispose(&audit->work[i]);
            break;
        }
        usleep(RETRY_US);
    }
}

/* What the writer has to do without new records: sync on the interval, rotate on time. */
static int64_t idle_deadline(const mg_audit_t *audit)
{
    int64_t deadline = monotonic_us() + IDLE_WAKE_US;
    if (audit->dirty && audit->fsync == MG_AUDIT_FSYNC_INTERVAL &&
        audit->last_sync_us + audit->fsync_interval_us < deadline)
        deadline = audit->last_sync_us + audit->fsync_interval_us;
    return deadline;
}

static void housekeeping(mg_audit_t *audit, bool flush_wanted)
{
    if (audit->dirty && (flush_wanted || (audit->fsync == MG_AUDIT_FSYNC_INTERVAL &&
                                          monotonic_us() - audit->last_sync_us >= audit->fsync_interval_us)))
        sync_file(audit);
    if (flush_wanted && !audit->dirty) {
        pthread_mutex_lock(&audit->lock);
        audit->synced = audit->stats.written;
        pthread_cond_broadcast(&audit->progress);
        pthread_mutex_unlock(&audit->lock);
    }
    if (rotation_due(audit, 0))
        (void)rotate(audit);
}

/* With the lock held: lets a small batch grow (LINGER_US, LINGER_BATCH). */
static size_t linger_batch(const mg_audit_t *audit)
{
    return audit->capacity / 2 < LINGER_BATCH ? audit->capacity / 2 + 1 : LINGER_BATCH; /* a small queue fills first */
}

static void linger(mg_audit_t *audit)
{
    size_t batch = linger_batch(audit);
    if (audit->count == 0 || audit->count >= batch || audit->stopping || audit->flush_target > audit->synced)
        return;
    int64_t deadline = monotonic_us() + LINGER_US;
    struct timespec until = {.tv_sec = deadline / 1000000, .tv_nsec = (deadline % 1000000) * 1000};
    audit->lingering = true;
    while (audit->count < batch && !audit->stopping && audit->flush_target <= audit->synced) {
        audit->writer_waiting = true;
        int rc = pthread_cond_timedwait(&audit->wake, &audit->lock, &until);
        audit->writer_waiting = false;
        if (rc == ETIMEDOUT)
            break;
    }
    audit->lingering = false;
}

static void *writer_main(void *arg)
{
    mg_audit_t *audit = arg;
    pthread_mutex_lock(&audit->lock);
    for (;;) {
        while (audit->count == 0 && !audit->stopping && audit->flush_target <= audit->synced) {
            int64_t deadline = idle_deadline(audit);
            struct timespec until = {.tv_sec = deadline / 1000000, .tv_nsec = (deadline % 1000000) * 1000};
            audit->writer_waiting = true;
            int rc = pthread_cond_timedwait(&audit->wake, &audit->lock, &until);
            audit->writer_waiting = false;
            if (rc == ETIMEDOUT)
                break;
        }
        linger(audit);
        size_t n = audit->count;
        for (size_t i = 0; i < n; i++)
            audit->work[i] = audit->ring[(audit->head + i) % audit->capacity];
        audit->head = (audit->head + n) % audit->capacity;
        audit->count = 0;
        audit->stats.queue_depth = 0;
        if (n > 0)
            pthread_cond_broadcast(&audit->room);
        bool stopping = audit->stopping, flush_wanted = audit->flush_target > audit->synced;
        pthread_mutex_unlock(&audit->lock);
        write_batch(audit, n, stopping);
        housekeeping(audit, flush_wanted);
        pthread_mutex_lock(&audit->lock);
        if (audit->stopping && audit->count == 0)
            break;
    }
    pthread_mutex_unlock(&audit->lock);
    if (audit->signing && !audit->chain.last_is_checkpoint && audit->chain.seq > 0) {
        append_checkpoint(audit);
        (void)commit(audit, true);
    }
    if (audit->dirty)
        sync_file(audit);
    pthread_mutex_lock(&audit->lock);
    audit->writer_done = true;
    pthread_cond_broadcast(&audit->progress);
    pthread_cond_broadcast(&audit->room);
    pthread_mutex_unlock(&audit->lock);
    return NULL;
}

static int init_sync(mg_audit_t *audit, mg_error_t *err)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0 || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_mutex_init(&audit->lock, NULL) != 0 || pthread_cond_init(&audit->wake, &attr) != 0 ||
        pthread_cond_init(&audit->room, NULL) != 0 || pthread_cond_init(&audit->progress, NULL) != 0)
        return mg_error_set(err, "audit: cannot initialize its locks");
    pthread_condattr_destroy(&attr);
    return 0;
}

int mg_audit_create(const mg_config_audit_t *config, mg_audit_t **out, mg_error_t *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return mg_error_set(err, "audit: libsodium cannot start");
    mg_audit_t *audit = calloc(1, sizeof(*audit));
    if (audit == NULL)
        return mg_error_set(err, "out of memory");
    audit->fd = -1;
    audit->capacity = config->queue > 0 ? config->queue : 65536;
    audit->path = strdup(config->file);
    audit->ring = calloc(audit->capacity, sizeof(*audit->ring));
    audit->work = calloc(audit->capacity, sizeof(*audit->work));
    audit->sqlite_path = config->sqlite != NULL ? strdup(config->sqlite) : NULL;
    if (audit->path == NULL || audit->ring == NULL || audit->work == NULL ||
        (config->sqlite != NULL && audit->sqlite_path == NULL)) {
        mg_audit_destroy(audit);
        return mg_error_set(err, "out of memory");
    }
    if (init_sync(audit, err) != 0) {
        free(audit->path);
        free(audit->sqlite_path);
        free(audit->ring);
        free(audit->work);
        free(audit);
        return -1;
    }
    audit->fsync = config->fsync;
    audit->fsync_interval_us = (int64_t)config->fsync_interval_ms * 1000;
    audit->arguments = config->arguments;
    audit->checkpoint_every = config->checkpoint_every > 0 ? config->checkpoint_every : 1000;
    audit->rotate_size = config->rotate_size;
    audit->rotate_interval_us = config->rotate_interval_s * 1000000;
    audit->stats.queue_capacity = audit->capacity;
    audit->last_sync_us = monotonic_us();
    if (config->has_signing_key) {
        unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
        crypto_sign_seed_keypair(public_key, audit->secret_key, config->signing_seed);
        mg_audit_key_id(public_key, audit->key_id);
        audit->signing = true;
    }
    size_t torn = 0;
    if (mg_audit_chain_recover(audit->path, &audit->chain, &torn, err) != 0 || open_file(audit, err) != 0) {
        mg_audit_destroy(audit);
        return -1;
    }
    if (torn > 0)
        mg_log(MG_LOG_WARN, "audit.torn_line", "%s: cut off %zu bytes of a line left half-written by a crash",
               audit->path, torn);
    audit->committed_chain = audit->chain;
    audit->stats.last_seq = audit->chain.seq;
    audit->ready = true;
    *out = audit;
    return 0;
}

int mg_audit_start(mg_audit_t *audit, mg_error_t *err)
{
    mg_audit_indexer_t *indexer = NULL;
    if (audit->sqlite_path != NULL && mg_audit_indexer_start(audit->sqlite_path, audit->path, &indexer, err) != 0)
        return -1;
    pthread_mutex_lock(&audit->lock);
    assert(!audit->started);
    audit->indexer = indexer; /* before the writer runs: it pokes the indexer */
    int rc = pthread_create(&audit->thread, NULL, writer_main, audit);
    audit->started = rc == 0;
    if (rc == 0)
        pthread_setname_np(audit->thread, "mg-audit");
    pthread_mutex_unlock(&audit->lock);
    return rc == 0 ? 0 : mg_error_set(err, "audit: cannot start the writer thread: %s", strerror(rc));
}

int mg_audit_emit(mg_audit_t *audit, const mg_audit_event_t *event, mg_error_t *err)
{
    mg_audit_entry_t entry;
    if (mg_audit_record_make(event, audit->arguments, &entry, err) != 0)
        return -1;
    pthread_mutex_lock(&audit->lock);
    if (audit->count == audit->capacity && !audit->stopping) {
        audit->stats.backpressure_waits++;
        while (audit->count == audit->capacity && !audit->stopping)
            pthread_cond_wait(&audit->room, &audit->lock);
    }
    if (audit->stopping) {
        pthread_mutex_unlock(&audit->lock);
        mg_audit_entry_dispose(&entry);
        return mg_error_set(err, "audit: the trail is closing");
    }
    audit->ring[(audit->head + audit->count) % audit->capacity] = entry;
    audit->count++;
    audit->stats.emitted++;
    audit->stats.queue_depth = audit->count;
    if (audit->writer_waiting && (!audit->lingering || audit->count >= linger_batch(audit)))
        pthread_cond_signal(&audit->wake);
    pthread_mutex_unlock(&audit->lock);
    return 0;
}

int mg_audit_flush(mg_audit_t *audit, mg_error_t *err)
{
    pthread_mutex_lock(&audit->lock);
    uint64_t target = audit->stats.emitted;
    if (!audit->started || audit->writer_done) {
        pthread_mutex_unlock(&audit->lock);
        return mg_error_set(err, "audit: the writer is not running");
    }
    if (audit->flush_target < target)
        audit->flush_target = target;
    pthread_cond_signal(&audit->wake);
    while (audit->synced < target && !audit->writer_done)
        pthread_cond_wait(&audit->progress, &audit->lock);
    int rc = audit->synced >= target ? 0 : mg_error_set(err, "audit: the writer stopped before the flush completed");
    pthread_mutex_unlock(&audit->lock);
    return rc;
}

void mg_audit_stats(mg_audit_t *audit, mg_audit_stats_t *out)
{
    pthread_mutex_lock(&audit->lock);
    *out = audit->stats;
    out->queue_depth = audit->count;
    pthread_mutex_unlock(&audit->lock);
    if (audit->indexer != NULL)
        mg_audit_indexer_stats(audit->indexer, &out->indexed, &out->index_seq, &out->index_errors);
}

void mg_audit_destroy(mg_audit_t *audit)
{
    if (audit == NULL)
        return;
    if (audit->ready) {
        pthread_mutex_lock(&audit->lock);
        audit->stopping = true;
        bool started = audit->started;
        pthread_cond_broadcast(&audit->wake);
        pthread_cond_broadcast(&audit->room);
        pthread_mutex_unlock(&audit->lock);
        if (started)
            pthread_join(audit->thread, NULL);
        else
            writer_main(audit); /* never started: drain on this thread */
        pthread_mutex_destroy(&audit->lock);
        pthread_cond_destroy(&audit->wake);
        pthread_cond_destroy(&audit->room);
        pthread_cond_destroy(&audit->progress);
    }
    for (size_t i = 0; audit->ring != NULL && i < audit->count; i++)
        mg_audit_entry_dispose(&audit->ring[(audit->head + i) % audit->capacity]);
    if (audit->fd >= 0)
        close(audit->fd);
    mg_audit_indexer_stop(audit->indexer); /* after the writer: its last batch may poke it */
    mg_bytes_dispose(&audit->buffer);
    sodium_memzero(audit->secret_key, sizeof(audit->secret_key));
    free(audit->work);
    free(audit->ring);
    free(audit->path);
    free(audit->sqlite_path);
    free(audit);
}
