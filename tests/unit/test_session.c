/*
 * test_session.c - sealed legacy session ids: round trips, every way a token can be
 * wrong, strict validation of authentic plaintext, and the key file lifecycle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mcp/session.h"

static const char MALFORMED[] = "malformed session id";
static const char NOT_AUTHENTIC[] = "session id not authentic";

static mg_session_key_t test_key(unsigned char fill)
{
    mg_session_key_t key;
    memset(key.bytes, fill, sizeof(key.bytes));
    return key;
}

static void full_claims(mg_session_claims_t *claims)
{
    memset(claims, 0, sizeof(*claims));
    mg_session_claims_init(claims);
    strcpy(claims->principal, "user:alice@example.com");
    strcpy(claims->protocol_version, "2025-11-25");
    claims->client_info = json_pack("{s:s, s:s}", "name", "claude-code", "version", "1.2.3");
    claims->client_capabilities =
        json_pack("{s:{s:b}, s:{}, s:{}}", "roots", "listChanged", 1, "sampling", "elicitation");
    claims->upstream_sessions = json_pack("{s:s, s:s}", "github", "5f0c-upstream-id", "files", "abc");
    assert_non_null(claims->client_info);
    assert_non_null(claims->client_capabilities);
    assert_non_null(claims->upstream_sessions);
}

static int json_same(const json_t *a, const json_t *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && json_equal(a, b));
}

static void assert_claims_equal(const mg_session_claims_t *a, const mg_session_claims_t *b)
{
    assert_string_equal(a->sid, b->sid);
    assert_string_equal(a->principal, b->principal);
    assert_string_equal(a->protocol_version, b->protocol_version);
    assert_int_equal(a->issued_at, b->issued_at);
    assert_true(json_same(a->client_info, b->client_info));
    assert_true(json_same(a->client_capabilities, b->client_capabilities));
    assert_true(json_same(a->upstream_sessions, b->upstream_sessions));
}

static char *seal_or_fail(const mg_session_key_t *key, const mg_session_claims_t *claims)
{
    mg_error_t err = {{0}};
    char *token = NULL;
    if (mg_session_seal(key, claims, &token, &err) != 0)
        fail_msg("seal: %s", err.message);
    return token;
}

/* Asserts that token is refused with exactly `message` and leaves claims empty. */
static void assert_refused(const mg_session_key_t *key, const char *token, size_t len, const char *message)
{
    mg_session_claims_t claims;
    mg_error_t err = {{0}};
    memset(&claims, 0x5a, sizeof(claims));
    assert_int_equal(mg_session_open(key, token, len, &claims, &err), -1);
    assert_string_equal(err.message, message);
    assert_null(claims.client_info);
    assert_null(claims.client_capabilities);
    assert_null(claims.upstream_sessions);
    mg_session_claims_dispose(&claims);
}

/* Seals arbitrary plaintext exactly as session.c does, to reach the validation behind the AEAD. */
static char *seal_raw(const mg_session_key_t *key, const char *ad, const char *plaintext)
{
    size_t plaintext_len = strlen(plaintext);
    size_t sealed_len =
        crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + plaintext_len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
    unsigned char *sealed = malloc(sealed_len);
    size_t b64_size = sodium_base64_ENCODED_LEN(sealed_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *token = malloc(3 + b64_size);
    assert_non_null(sealed);
    assert_non_null(token);
    randombytes_buf(sealed, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, NULL,
                                               (const unsigned char *)plaintext, plaintext_len,
                                               (const unsigned char *)ad, strlen(ad), NULL, sealed, key->bytes);
    memcpy(token, "v1.", 3);
    sodium_bin2base64(token + 3, b64_size, sealed, sealed_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(sealed);
    return token;
}

static void test_round_trip_all_fields(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims, opened;
    mg_error_t err = {{0}};
    full_claims(&claims);
    char *token = seal_or_fail(&key, &claims);

    assert_memory_equal(token, "v1.", 3);
    for (const char *c = token; *c != '\0'; c++)
        assert_true(*c > 0x20 && *c < 0x7f);
    assert_int_equal(mg_session_open(&key, token, strlen(token), &opened, &err), 0);
    assert_claims_equal(&claims, &opened);

    free(token);
    mg_session_claims_dispose(&opened);
    mg_session_claims_dispose(&claims);
}

static void test_round_trip_minimal_claims(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims = {0}, opened;
    mg_error_t err = {{0}};
    mg_session_claims_init(&claims);
    strcpy(claims.principal, "anonymous");
    strcpy(claims.protocol_version, "2024-11-05");
    char *token = seal_or_fail(&key, &claims);
    assert_int_equal(mg_session_open(&key, token, strlen(token), &opened, &err), 0);
    assert_claims_equal(&claims, &opened);
    free(token);
    mg_session_claims_dispose(&opened);
}

static void test_claims_init(void **state)
{
    (void)state;
    mg_session_claims_t a = {0}, b = {0};
    int64_t before = (int64_t)time(NULL);
    mg_session_claims_init(&a);
    mg_session_claims_init(&b);
    assert_int_equal(strlen(a.sid), 32);
    assert_int_equal(strspn(a.sid, "0123456789abcdef"), 32);
    assert_string_not_equal(a.sid, b.sid);
    assert_true(a.issued_at >= before && a.issued_at <= (int64_t)time(NULL));
}

static void test_two_seals_differ(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims;
    full_claims(&claims);
    char *first = seal_or_fail(&key, &claims);
    char *second = seal_or_fail(&key, &claims);
    assert_string_not_equal(first, second);
    free(first);
    free(second);
    mg_session_claims_dispose(&claims);
}

/* Flip every bit position of every byte behind the prefix: nonce, ciphertext and tag. */
static void test_tampered_bytes_refused(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims;
    full_claims(&claims);
    char *token = seal_or_fail(&key, &claims);
    unsigned char sealed[MG_SESSION_MAX_TOKEN];
    size_t sealed_len;
    char altered[MG_SESSION_MAX_TOKEN + 1];

    assert_int_equal(sodium_base642bin(sealed, sizeof(sealed), token + 3, strlen(token) - 3, NULL, &sealed_len, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    for (size_t i = 0; i < sealed_len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            sealed[i] ^= (unsigned char)(1u << bit);
            memcpy(altered, "v1.", 3);
            sodium_bin2base64(altered + 3, sizeof(altered) - 3, sealed, sealed_len,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING);
            assert_refused(&key, altered, strlen(altered), NOT_AUTHENTIC);
            sealed[i] ^= (unsigned char)(1u << bit);
        }
    }
    free(token);
    mg_session_claims_dispose(&claims);
}

/* Replace every character of the wire form, prefix included. */
static void test_tampered_characters_refused(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims;
    full_claims(&claims);
    char *token = seal_or_fail(&key, &claims);
    size_t len = strlen(token);
    for (size_t i = 0; i < len; i++) {
        const char *replacements[] = {"A", "_", "=", "+", "\x01", "\xff"};
        char saved = token[i];
        for (size_t r = 0; r < sizeof(replacements) / sizeof(*replacements); r++) {
            if (replacements[r][0] == saved)
                continue;
            token[i] = replacements[r][0];
            mg_session_claims_t opened;
            mg_error_t err = {{0}};
            assert_int_equal(mg_session_open(&key, token, len, &opened, &err), -1);
            assert_true(strcmp(err.message, MALFORMED) == 0 || strcmp(err.message, NOT_AUTHENTIC) == 0);
        }
        token[i] = saved;
    }
    free(token);
    mg_session_claims_dispose(&claims);
}

static void test_other_key_refused(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7), other = test_key(8);
    mg_session_claims_t claims;
    full_claims(&claims);
    char *token = seal_or_fail(&key, &claims);
    assert_refused(&other, token, strlen(token), NOT_AUTHENTIC);
    free(token);
    mg_session_claims_dispose(&claims);
}

static void test_truncated_refused(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims;
    full_claims(&claims);
    char *token = seal_or_fail(&key, &claims);
    size_t len = strlen(token);
    for (size_t cut = 0; cut < len; cut++) {
        mg_session_claims_t opened;
        mg_error_t err = {{0}};
        assert_int_equal(mg_session_open(&key, token, cut, &opened, &err), -1);
        assert_true(strcmp(err.message, MALFORMED) == 0 || strcmp(err.message, NOT_AUTHENTIC) == 0);
    }
    free(token);
    mg_session_claims_dispose(&claims);
}

static void test_wrong_version_refused(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims;
    full_claims(&claims);
    char *token = seal_or_fail(&key, &claims);
    char *relabeled = strdup(token);
    relabeled[1] = '2';
    assert_refused(&key, relabeled, strlen(relabeled), MALFORMED);
    assert_refused(&key, token + 3, strlen(token) - 3, MALFORMED);
    free(relabeled);

    /* Sealed with another version as additional data but labelled v1: the AEAD catches the lie. */
    char *forged =
        seal_raw(&key, "v2", "{\"s\":\"00112233445566778899aabbccddeeff\",\"p\":\"a\",\"v\":\"2025-11-25\",\"t\":1}");
    assert_refused(&key, forged, strlen(forged), NOT_AUTHENTIC);
    free(forged);
    free(token);
    mg_session_claims_dispose(&claims);
}

static void test_empty_and_garbage_refused(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    assert_refused(&key, NULL, 0, MALFORMED);
    assert_refused(&key, "", 0, MALFORMED);
    assert_refused(&key, "v1.", 3, MALFORMED);
    assert_refused(&key, "v1.A", 4, MALFORMED);
    assert_refused(&key, "v1.AAAA", 7, MALFORMED); /* shorter than nonce + tag */
    assert_refused(&key, "v1.!!!!!!!!", 11, MALFORMED);
    assert_refused(&key, "Bearer xyz", 10, MALFORMED);
    assert_refused(&key, "v1.AA\0AAAA", 10, MALFORMED);

    /* Every byte outside the alphabet, in place of a character of a valid token: a regression test for
     * libsodium 1.0.18 reading bytes >= 0x80 as '_'. */
    mg_session_claims_t claims;
    full_claims(&claims);
    char *token = seal_or_fail(&key, &claims);
    size_t underscore = strcspn(token + 3, "_") + 3;
    for (int byte = 1; byte < 256; byte++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", byte) != NULL)
            continue;
        char *altered = strdup(token);
        altered[underscore < strlen(token) ? underscore : 3] = (char)byte;
        assert_refused(&key, altered, strlen(altered), MALFORMED);
        free(altered);
    }
    free(token);
    mg_session_claims_dispose(&claims);

    /* 40 zero bytes encode to 54 'A's: well-formed, the right size for nonce + tag, not authentic. */
    char zeros[3 + 54 + 1] = "v1.";
    memset(zeros + 3, 'A', 54);
    zeros[57] = '\0';
    assert_refused(&key, zeros, 57, NOT_AUTHENTIC);
    zeros[56] = 'B'; /* the final character now carries bits beyond the data: not canonical */
    assert_refused(&key, zeros, 57, MALFORMED);
    zeros[56] = 'A';
    char padded[3 + 56 + 1];
    snprintf(padded, sizeof(padded), "%s==", zeros);
    assert_refused(&key, padded, strlen(padded), MALFORMED);
}

static void test_huge_refused_before_decoding(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    size_t len = 1u << 20;
    char *huge = malloc(len);
    assert_non_null(huge);
    memset(huge, 'A', len);
    memcpy(huge, "v1.", 3);
    assert_refused(&key, huge, len, MALFORMED);
    assert_refused(&key, huge, MG_SESSION_MAX_TOKEN + 1, MALFORMED);
    free(huge);
}

static void test_oversized_claims_refused(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims = {0};
    mg_error_t err = {{0}};
    char *token = (char *)"sentinel";
    static char padding[MG_SESSION_MAX_TOKEN];
    size_t longest = 0;

    mg_session_claims_init(&claims);
    strcpy(claims.principal, "anonymous");
    strcpy(claims.protocol_version, "2025-11-25");
    /* Walk across the limit: every token that seals has at most MAX characters and opens again. */
    for (size_t pad = 5950; pad < 6100; pad++) {
        memset(padding, 'x', pad);
        padding[pad] = '\0';
        json_decref(claims.client_info);
        claims.client_info = json_pack("{s:s}", "name", padding);
        if (mg_session_seal(&key, &claims, &token, &err) == 0) {
            mg_session_claims_t opened;
            size_t len = strlen(token);
            assert_true(len <= MG_SESSION_MAX_TOKEN);
            longest = len > longest ? len : longest;
            assert_int_equal(mg_session_open(&key, token, len, &opened, &err), 0);
            assert_claims_equal(&claims, &opened);
            mg_session_claims_dispose(&opened);
            free(token);
        } else {
            assert_null(token);
            assert_non_null(strstr(err.message, "too large"));
            assert_non_null(strstr(err.message, "8192"));
        }
    }
    assert_true(longest > MG_SESSION_MAX_TOKEN - 4);
    assert_non_null(strstr(err.message, "too large"));
    mg_session_claims_dispose(&claims);
}

static void test_seal_refuses_invalid_claims(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
    mg_session_claims_t claims = {0};
    mg_error_t err = {{0}};
    char *token = NULL;

    mg_session_claims_init(&claims);
    strcpy(claims.principal, "anonymous");
    strcpy(claims.protocol_version, "2025-11-25");

    claims.sid[5] = 'G';
    assert_int_equal(mg_session_seal(&key, &claims, &token, &err), -1);
    assert_non_null(strstr(err.message, "sid"));
    assert_null(token);
    mg_session_claims_init(&claims);

    memset(claims.protocol_version, 'x', sizeof(claims.protocol_version)); /* no NUL */
    assert_int_equal(mg_session_seal(&key, &claims, &token, &err), -1);
    assert_non_null(strstr(err.message, "protocol_version"));
    strcpy(claims.protocol_version, "2025-11-25");

    strcpy(claims.principal, "bad \xff utf-8");
    assert_int_equal(mg_session_seal(&key, &claims, &token, &err), -1);
    assert_non_null(strstr(err.message, "UTF-8"));
    claims.principal[0] = '\0';
    assert_int_equal(mg_session_seal(&key, &claims, &token, &err), -1);
    assert_non_null(strstr(err.message, "principal"));
    strcpy(claims.principal, "anonymous");

    claims.upstream_sessions = json_pack("{s:i}", "github", 3);
    assert_int_equal(mg_session_seal(&key, &claims, &token, &err), -1);
    assert_non_null(strstr(err.message, "upstream_sessions"));
    json_decref(claims.upstream_sessions);
    claims.upstream_sessions = NULL;

    claims.client_info = json_pack("{s:s#}", "name", "a\0b", (size_t)3); /* open would refuse the NUL */
    assert_int_equal(mg_session_seal(&key, &claims, &token, &err), -1);
    mg_session_claims_dispose(&claims);

    claims.issued_at = -1;
    assert_int_equal(mg_session_seal(&key, &claims, &token, &err), -1);
    assert_non_null(strstr(err.message, "issued_at"));
}

/* Authentic plaintexts that do not describe valid claims are refused as malformed. */
static void test_authentic_invalid_plaintext_refused(void **state)
{
    (void)state;
    mg_session_key_t key = test_key(7);
#define SID "\"s\":\"00112233445566778899aabbccddeeff\""
#define REST "\"p\":\"alice\",\"v\":\"2025-11-25\",\"t\":1700000000"
    static const char *invalid[] = {
        "",
        "[]",
        "null",
        "{}",
        "{" REST "}",
        "{\"s\":\"00112233445566778899aabbccddeef\"," REST "}",
        "{\"s\":\"00112233445566778899aabbccddeeff0\"," REST "}",
        "{\"s\":\"00112233445566778899AABBCCDDEEFF\"," REST "}",
        "{\"s\":\"00112233445566778899aabbccddeefg\"," REST "}",
        "{\"s\":7," REST "}",
        "{" SID ",\"p\":\"\",\"v\":\"2025-11-25\",\"t\":1}",
        "{" SID ",\"p\":null,\"v\":\"2025-11-25\",\"t\":1}",
        "{" SID ",\"p\":\"a\\u0000b\",\"v\":\"2025-11-25\",\"t\":1}",
        "{" SID ",\"p\":\"a\",\"v\":\"0123456789abcdef0123456789abcdef\",\"t\":1}",
        "{" SID ",\"p\":\"a\",\"v\":\"2025-11-25\",\"t\":\"1\"}",
        "{" SID ",\"p\":\"a\",\"v\":\"2025-11-25\",\"t\":1.0}",
        "{" SID ",\"p\":\"a\",\"v\":\"2025-11-25\",\"t\":-1}",
        "{" SID ",\"p\":\"a\",\"v\":\"2025-11-25\",\"t\":99999999999999999999}",
        "{" SID ",\"p\":\"a\",\"v\":\"2025-11-25\"}",
        "{" SID "," REST ",\"ci\":[]}",
        "{" SID "," REST ",\"ci\":null}",
        "{" SID "," REST ",\"cc\":\"all\"}",
        "{" SID "," REST ",\"us\":{\"github\":1}}",
        "{" SID "," REST ",\"us\":[\"x\"]}",
        "{" SID "," REST ",\"x\":1}",
        "{" SID "," REST ",\"p\":\"mallory\"}",
        "{" SID "," REST "} trailing",
        "{" SID "," REST "}{}",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++) {
        char *token = seal_raw(&key, "v1", invalid[i]);
        assert_refused(&key, token, strlen(token), MALFORMED);
        free(token);
    }

    char principal[300];
    memset(principal, 'p', 256);
    principal[256] = '\0';
    char plaintext[512];
    snprintf(plaintext, sizeof(plaintext), "{" SID ",\"p\":\"%s\",\"v\":\"2025-11-25\",\"t\":1}", principal);
    char *token = seal_raw(&key, "v1", plaintext);
    assert_refused(&key, token, strlen(token), MALFORMED);
    free(token);

    /* The control: the longest principal that fits, with every optional member, opens. */
    principal[255] = '\0';
    snprintf(plaintext, sizeof(plaintext),
             "{" SID ",\"p\":\"%s\",\"v\":\"2025-11-25\",\"t\":0,\"ci\":{},\"cc\":{},\"us\":{\"a\":\"b\"}}", principal);
    token = seal_raw(&key, "v1", plaintext);
    mg_session_claims_t claims;
    mg_error_t err = {{0}};
    assert_int_equal(mg_session_open(&key, token, strlen(token), &claims, &err), 0);
    assert_int_equal(strlen(claims.principal), 255);
    assert_string_equal(json_string_value(json_object_get(claims.upstream_sessions, "a")), "b");
    mg_session_claims_dispose(&claims);
    free(token);
#undef SID
#undef REST
}

/* --- key file ----------------------------------------------------------------------- */

static char *make_temp_dir(void)
{
    char *dir = strdup("/tmp/test_session.XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, len, file), len);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void remove_tree(const char *dir)
{
    char command[PATH_MAX + 16];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
}

static void test_key_created_then_reloaded(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char state_dir[PATH_MAX], key_path[PATH_MAX];
    mg_session_key_t created, reloaded, zero = {{0}};
    mg_error_t err = {{0}};
    struct stat st;

    snprintf(state_dir, sizeof(state_dir), "%s/nested/state/", dir);
    snprintf(key_path, sizeof(key_path), "%s/nested/state/session.key", dir);
    if (mg_session_key_load_or_create(state_dir, &created, &err) != 0)
        fail_msg("%s", err.message);
    assert_memory_not_equal(created.bytes, zero.bytes, sizeof(zero.bytes));

    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, MG_SESSION_KEY_BYTES);
    snprintf(key_path, sizeof(key_path), "%s/nested", dir);
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);

    if (mg_session_key_load_or_create(state_dir, &reloaded, &err) != 0)
        fail_msg("%s", err.message);
    assert_memory_equal(created.bytes, reloaded.bytes, sizeof(created.bytes));

    /* Only the key is left behind, no temporary file. */
    snprintf(key_path, sizeof(key_path), "ls -A '%s/nested/state' | grep -qv '^session.key$'", dir);
    assert_int_not_equal(system(key_path), 0);
    remove_tree(dir);
    free(dir);
}

static void test_key_wrong_size_refused(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char key_path[PATH_MAX];
    unsigned char bytes[33] = {0};
    mg_session_key_t key;
    mg_error_t err = {{0}};

    snprintf(key_path, sizeof(key_path), "%s/session.key", dir);
    write_file(key_path, bytes, 31, 0600);
    assert_int_equal(mg_session_key_load_or_create(dir, &key, &err), -1);
    assert_non_null(strstr(err.message, "exactly 32 bytes, found 31"));
    assert_non_null(strstr(err.message, key_path));

    write_file(key_path, bytes, 33, 0600);
    assert_int_equal(mg_session_key_load_or_create(dir, &key, &err), -1);
    assert_non_null(strstr(err.message, "found 33"));

    write_file(key_path, bytes, 0, 0600);
    assert_int_equal(mg_session_key_load_or_create(dir, &key, &err), -1);
    assert_non_null(strstr(err.message, "found 0"));
    remove_tree(dir);
    free(dir);
}

static void test_key_too_permissive_refused(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char key_path[PATH_MAX];
    unsigned char bytes[32] = {1};
    mg_session_key_t key;
    mg_error_t err = {{0}};

    snprintf(key_path, sizeof(key_path), "%s/session.key", dir);
    write_file(key_path, bytes, sizeof(bytes), 0644);
    assert_int_equal(mg_session_key_load_or_create(dir, &key, &err), -1);
    assert_non_null(strstr(err.message, "chmod 600"));
    assert_non_null(strstr(err.message, "0644"));

    assert_int_equal(chmod(key_path, 0640), 0);
    assert_int_equal(mg_session_key_load_or_create(dir, &key, &err), -1);

    assert_int_equal(chmod(key_path, 0400), 0);
    assert_int_equal(mg_session_key_load_or_create(dir, &key, &err), 0);
    assert_memory_equal(key.bytes, bytes, sizeof(bytes));
    remove_tree(dir);
    free(dir);
}

static void test_key_not_a_file_refused(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char path[PATH_MAX];
    mg_session_key_t key;
    mg_error_t err = {{0}};

    snprintf(path, sizeof(path), "%s/session.key", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(mg_session_key_load_or_create(dir, &key, &err), -1);
    assert_non_null(strstr(err.message, "not a regular file"));

    snprintf(path, sizeof(path), "%s/file", dir);
    write_file(path, "x", 1, 0600);
    assert_int_equal(mg_session_key_load_or_create(path, &key, &err), -1);
    assert_non_null(strstr(err.message, "not a directory"));
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_fields),
        cmocka_unit_test(test_round_trip_minimal_claims),
        cmocka_unit_test(test_claims_init),
        cmocka_unit_test(test_two_seals_differ),
        cmocka_unit_test(test_tampered_bytes_refused),
        cmocka_unit_test(test_tampered_characters_refused),
        cmocka_unit_test(test_other_key_refused),
        cmocka_unit_test(test_truncated_refused),
        cmocka_unit_test(test_wrong_version_refused),
        cmocka_unit_test(test_empty_and_garbage_refused),
        cmocka_unit_test(test_huge_refused_before_decoding),
        cmocka_unit_test(test_oversized_claims_refused),
        cmocka_unit_test(test_seal_refuses_invalid_claims),
        cmocka_unit_test(test_authentic_invalid_plaintext_refused),
        cmocka_unit_test(test_key_created_then_reloaded),
        cmocka_unit_test(test_key_wrong_size_refused),
        cmocka_unit_test(test_key_too_permissive_refused),
        cmocka_unit_test(test_key_not_a_file_refused),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
