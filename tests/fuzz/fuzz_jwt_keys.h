/*
 * fuzz_jwt_keys.h - the fixed key set of fuzz_jwt and fuzz_jwks, written by gen_jwt_corpus.py.
 * Test keys, public on purpose: the targets sign their own inputs with them. Never use them elsewhere.
 */
#ifndef FUZZ_JWT_KEYS_H
#define FUZZ_JWT_KEYS_H

#define FUZZ_JWT_NOW 1767225600
#define FUZZ_JWT_ISSUER "https://idp.example.com"
#define FUZZ_JWT_AUDIENCE "https://gw.example.com/mcp"

static const char FUZZ_JWT_RSA_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCn05Pz1m6bt1wC\n"
    "R3PF9NfETuUKk/yX63elzVQ2nhl5FnYO4WmBqHTy434xrdkNrk+x7gYu/vJVIjle\n"
    "qs1OnWjrLQa7qegN1LQ3VgT6D5hBbLawpA8lrb+YQYDCS6duMwL4mtFT+U3PgROU\n"
    "kFOF+5mZExDCJV4qBmGDOK7Qznbe6igFkuGjnu9aTq1dMY6SLpElNRu9C6CpphUh\n"
    "wDY4P4fmQT8bYhqWHdheIg44xF+jD+NTG8sYOwgOo94iX906B8LW48wBsy7ifYk+\n"
    "45B6ZOJLYEDURyyTAq9X3yjSBIDrBdGG4LesBaRQow+DM+KWNhnFHrqsIYv45H5u\n"
    "G/czFm6PAgMBAAECggEAJULB4gzVUOhEWtMvXp+OOi0ECDW0CqzCS0MLs/alFC/K\n"
    "9WHRkXJryLN+hJwjCTkOw6PjppJ/DizDjQOiApbLQQ+lo4vFFDEJ9BE6mKRWuwve\n"
    "gdhi7owlcjH02u5+FWbo/XYuDJVY073GMaFbke86+nPzsA8o2W7CPqaalYyJctMw\n"
    "XzG6jj4X4JdPaYrp4WeUMd14c9Ho7ezvbTHv9QGGs8qJOpoeDM6qic2c/ujqWRpQ\n"
    "qMNFgBUlaGQ09E2aiulXqExDal4iti3FVhbLa2xmqYWQJ8vc+S5AaJZHg+qgO9rR\n"
    "n+0PD1X3YZ9TdBWqGT4rUqMs8w9iYJnH9pRmb8v9UQKBgQDqxf2298WfLLMSTRkM\n"
    "GCmlqWwah8049goSCP+WbnymxkfcV01puYSkZvF7K3gS+VinI//qhPyy5by/FLud\n"
    "xwNmXX4KhNVTYASUOIakqroTt3xb2sBX8Krx2hbeFMnUp7Q9rB/U1Gsl9E2xQhcT\n"
    "nyTH5t8iTZRUrbu+QMpTyhpB/wKBgQC3AAyiNql/6nvbgwxsjI4bRQDwXZJHk/pc\n"
    "qjie5E+MOE+l+OIAC1v2GyGkB5cjrXpdSRrnqwchyPGVZgGEDDEH6lxJWrUJyO10\n"
    "cTwbve+Ld5YilQwwBl5u4DeJTvT7F78XVFL1raZ/Y2uPwaAFQLGC1dstLuSG3Lyy\n"
    "V4UwKqazcQKBgQCzc69hIbbO2m3uOTxCAF4lIIFfLhpxxa8g5fvnUoC5QapABANK\n"
    "IuH+gCloyms3pZxb9apx6kD1xaEmNYTLLwmsPx5OkAY3epdFbIeOamldFM1bsLOB\n"
    "BJbF0rvT+PPlNmMRGPYjylI0aq7QJQJanzSQECrSn5YXu8xbuk5tCXhUpQKBgFve\n"
    "vXjuIjfiet2fs6wHAAx2ntsMzrP6eRTuK9Cw47KMTogPIz5MdZVe14umd9zkaWrN\n"
    "maE2PjVa0NVkyVwGVtMXd88np31LDtKHSlrPBqQonAmuc9jkSaI2FAttxRUNPdSz\n"
    "c5Z83/pR6hzYYsJgUP1S6V6MjRObW2vY/jdJIjkxAoGAPxnjQd4JcfsMHwkDcxmb\n"
    "opo9qiOH4HzQy/nfSaj0AHtdmALO36+loUuxmHdYy7xEEMY0hLoMWSRXHtPtqD38\n"
    "9922asRnEO2EzREJjNIfZ9U4nIsI3VNrDIz3p/Er2740EjTA+X6oi4I1hVthDoim\n"
    "7wp5wcFiQmgmd73EqjkBlGQ=\n"
    "-----END PRIVATE KEY-----\n";

static const char FUZZ_JWT_EC_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfIu9BuKkY+MeWa/J\n"
    "Rv6bA3LDfPH5MTcytOitV9OhgmGhRANCAASqsjgnCy/sWwtisnklpFzxtbFywlK5\n"
    "TTJjCWso1u9sRGvpRe10Ellw/qSUsFnlivGn3rGdi5WNNv9av5BASFp3\n"
    "-----END PRIVATE KEY-----\n";

static const char FUZZ_JWT_ED25519_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEILTja+IwDc+v7kAYifjKctBGKJ2cZ29+vO4GVbuv/SAF\n"
    "-----END PRIVATE KEY-----\n";

static const char FUZZ_JWT_JWKS[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa\",\"use\":\"sig\",\"n\":\"p9OT89Zum7dcAkdzxfTXxE7lCpP8l-t3pc1UNp4ZeRZ2DuFpgah08uN-Ma3ZDa5Pse4GLv7yVSI5XqrNTp1o6y0Gu6noDdS0N1YE-g-YQWy2sKQPJa2_mEGAwkunbjMC-JrRU_lNz4ETlJBThfuZmRMQwiVeKgZhgziu0M523uooBZLho57vWk6tXTGOki6RJTUbvQugqaYVIcA2OD-H5kE_G2Ialh3YXiIOOMRfow_jUxvLGDsIDqPeIl_dOgfC1uPMAbMu4n2JPuOQemTiS2BA1EcskwKvV98o0gSA6wXRhuC3rAWkUKMPgzPiljYZxR66rCGL-OR-bhv3MxZujw\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\",\"x\":\"qrI4Jwsv7FsLYrJ5JaRc8bWxcsJSuU0yYwlrKNbvbEQ\",\"y\":\"a-lF7XQSWXD-pJSwWeWK8afesZ2LlY02_1q_kEBIWnc\"},{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\",\"alg\":\"EdDSA\",\"x\":\"aRPJvueLlQoV8EwDY8r0-473l7pwQb8fCaZxIVRuteo\"},{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"aRPJvueLlQoV8EwDY8r0-473l7pwQb8fCaZxIVRuteo\"},{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"YSBwdWJsaXNoZWQgc2VjcmV0\"}]}";

#endif
