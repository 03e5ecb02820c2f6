#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_jwt and fuzz_jwks, and fuzz_jwt_keys.h, the fixed key set both
targets verify against.

    tests/fuzz/gen_jwt_corpus.py            # corpora from the keys already in fuzz_jwt_keys.h
    tests/fuzz/gen_jwt_corpus.py --new-keys # new keys first (every committed seed changes)

The keys are test keys, published here on purpose: the fuzz targets sign their own inputs with them
to reach the claims checks behind the signature. Only the Python standard library and the openssl
command line are used.
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "fuzz_jwt_keys.h")
NOW = 1767225600  # the targets' fixed clock, 2026-01-01T00:00:00Z
ISSUER = "https://idp.example.com"
AUDIENCE = "https://gw.example.com/mcp"
KEY_NAMES = ("rsa", "ec", "ed25519")


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(("openssl",) + args, input=data, check=True, capture_output=True).stdout


def new_keys():
    return {
        "rsa": openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048").decode(),
        "ec": openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256").decode(),
        "ed25519": openssl("genpkey", "-algorithm", "ED25519").decode(),
    }


def read_keys():
    text = open(HEADER).read()
    keys = {}
    for name in KEY_NAMES:
        match = re.search(r'FUZZ_JWT_%s_PEM\[\] =\n((?:    ".*";?\n)+)' % name.upper(), text)
        keys[name] = "".join(json.loads(line.strip().rstrip(";")) for line in match.group(1).splitlines())
    return keys


class Keys:
    def __init__(self, pems, workdir):
        self.pems = pems
        self.paths = {}
        for name, pem in pems.items():
            self.paths[name] = os.path.join(workdir, name + ".pem")
            with open(self.paths[name], "w") as f:
                f.write(pem)

    def public_der(self, name):
        return openssl("pkey", "-in", self.paths[name], "-pubout", "-outform", "DER")

    def jwks(self):
        modulus = openssl("rsa", "-in", self.paths["rsa"], "-noout", "-modulus").decode().strip().split("=")[1]
        ec_point = self.public_der("ec")[-65:]
        return {
            "keys": [
                {"kty": "RSA", "kid": "rsa", "use": "sig", "n": b64url(bytes.fromhex(modulus)), "e": "AQAB"},
                {"kty": "EC", "kid": "ec", "crv": "P-256", "x": b64url(ec_point[1:33]), "y": b64url(ec_point[33:])},
                {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "alg": "EdDSA", "x": b64url(self.public_der("ed25519")[-32:])},
                {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.public_der("ed25519")[-32:])},
                {"kty": "oct", "kid": "hmac", "k": b64url(b"a published secret")},
            ]
        }

    def sign(self, alg, data):
        with tempfile.NamedTemporaryFile() as f:
            f.write(data.encode())
            f.flush()
            if alg == "EdDSA":
                return openssl("pkeyutl", "-sign", "-inkey", self.paths["ed25519"], "-rawin", "-in", f.name)
            digest = "-sha" + alg[2:]
            if alg.startswith("RS"):
                return openssl("dgst", digest, "-sign", self.paths["rsa"], f.name)
            if alg.startswith("PS"):
                return openssl("dgst", digest, "-sign", self.paths["rsa"], "-sigopt", "rsa_padding_mode:pss",
                               "-sigopt", "rsa_pss_saltlen:digest", f.name)
            if alg == "ES256":
                return ecdsa_raw(openssl("dgst", digest, "-sign", self.paths["ec"], f.name), 32)
        return b""


def ecdsa_raw(der, size):
    """DER SEQUENCE { INTEGER r, INTEGER s } to r || s, each on `size` bytes (RFC 7518 section 3.4)."""
    assert der[0] == 0x30
    offset = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[offset] == 0x02
        length = der[offset + 1]
        out += der[offset + 2:offset + 2 + length].lstrip(b"\0").rjust(size, b"\0")
        offset += 2 + length
    return out


def claims(**changes):
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": NOW + 3600, "iat": NOW - 10,
               "groups": ["admins"], "scope": "tools:read tools:call"}
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def compact(value):
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def token(keys, header, payload, alg=None):
    alg = alg or (header.get("alg") if isinstance(header, dict) else None)
    signing_input = b64url(compact(header)) + "." + b64url(compact(payload))
    return signing_input + "." + b64url(keys.sign(alg, signing_input))


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def jwt_seeds(keys):
    seeds = {}
    for alg, kid in (("RS256", "rsa"), ("RS512", "rsa"), ("PS256", "rsa"), ("ES256", "ec"), ("EdDSA", "ed")):
        seeds["valid_" + alg.lower()] = token(keys, {"alg": alg, "typ": "JWT", "kid": kid}, claims())
    seeds["valid_eddsa_no_kid"] = token(keys, {"alg": "EdDSA", "typ": "at+jwt"}, claims())
    seeds["valid_scp_array"] = token(keys, {"alg": "ES256", "kid": "ec"},
                                     claims(scope=None, scp=["files.read", "files.write"], aud=["x", AUDIENCE]))
    seeds["expired"] = token(keys, {"alg": "ES256", "kid": "ec"}, claims(exp=NOW - 3600))
    seeds["not_yet_valid"] = token(keys, {"alg": "EdDSA", "kid": "ed"}, claims(nbf=NOW + 3600))
    seeds["wrong_audience"] = token(keys, {"alg": "RS256", "kid": "rsa"}, claims(aud="https://elsewhere"))
    seeds["missing_sub"] = token(keys, {"alg": "EdDSA", "kid": "ed"}, claims(sub=None))
    seeds["exp_string"] = token(keys, {"alg": "EdDSA", "kid": "ed"}, claims(exp=str(NOW + 3600)))
    seeds["duplicate_payload_key"] = token(keys, {"alg": "EdDSA", "kid": "ed"},
                                           '{"iss":"%s","sub":"a","sub":"b","exp":%d}' % (ISSUER, NOW + 60))
    seeds["alg_none"] = token(keys, {"alg": "none"}, claims())
    seeds["hs256_with_public_key"] = token(keys, {"alg": "HS256", "kid": "rsa"}, claims())
    seeds["rs256_with_ec_kid"] = token(keys, {"alg": "RS256", "kid": "ec"}, claims())
    seeds["unknown_kid"] = token(keys, {"alg": "RS256", "kid": "rotated"}, claims())
    seeds["crit"] = token(keys, {"alg": "EdDSA", "kid": "ed", "crit": ["b64"], "b64": False}, claims())
    seeds["typ_dpop"] = token(keys, {"alg": "EdDSA", "kid": "ed", "typ": "dpop+jwt"}, claims())
    valid = seeds["valid_es256"]
    head, payload, signature = valid.split(".")
    seeds["tampered_payload"] = head + "." + b64url(compact(claims(sub="mallory"))) + "." + signature
    seeds["padding"] = head + "==." + payload + "." + signature
    seeds["bad_characters"] = head + "." + payload.replace("e", "+", 1) + "." + signature
    seeds["two_parts"] = head + "." + payload
    seeds["jwe_five_parts"] = b64url('{"alg":"RSA-OAEP","enc":"A256GCM"}') + ".AAAA.AAAA.AAAA.AAAA"
    seeds["header_not_json"] = b64url("not json") + "." + payload + "." + signature
    seeds["empty"] = ""
    # Composition seeds: the target signs "<alg>\n<header>\n<payload>" itself (see fuzz_jwt.c).
    seeds["compose_eddsa"] = "EdDSA\n" + compact({"alg": "EdDSA", "kid": "ed"}) + "\n" + compact(claims())
    seeds["compose_rs256_groups"] = "RS256\n" + compact({"alg": "RS256", "kid": "rsa", "typ": "JWT"}) + "\n" + \
        compact(claims(groups="/acme/Team A", exp=NOW + 0.5, nbf=NOW - 1.5))
    seeds["compose_es256_no_kid"] = "ES256\n" + compact({"alg": "ES256"}) + "\n" + \
        compact(claims(scope=None, scp="a b", email="alice@example.com", roles=["r"]))
    seeds["compose_ps384_typ"] = "PS384\n" + compact({"alg": "PS384", "kid": "rsa", "typ": "application/at+jwt"}) + \
        "\n" + compact(claims(aud=[AUDIENCE]))
    return seeds


def jwks_seeds(keys, jwks):
    seeds = {"fixture.json": compact(jwks)}
    for key in jwks["keys"]:
        seeds["one_%s_%s.json" % (key["kty"].lower(), key.get("kid", "nokid"))] = compact({"keys": [key]})
    rsa = jwks["keys"][0]
    seeds["ignored_keys.json"] = compact({"keys": [
        dict(rsa, use="enc"), dict(rsa, key_ops=["encrypt"]), dict(rsa, d="AAAA"), dict(rsa, alg="ES256"),
        dict(rsa, alg="RSA-OAEP"), dict(rsa, n=rsa["n"] + "="), dict(rsa, n="AQAB"), dict(rsa, kid=7),
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, {"kty": "OKP", "crv": "X25519", "x": "AAAA"},
        jwks["keys"][2]]})
    seeds["bad_not_object.json"] = "[]"
    seeds["bad_keys_not_array.json"] = '{"keys":{}}'
    seeds["bad_duplicate.json"] = '{"keys":[],"keys":[]}'
    seeds["bad_truncated.json"] = compact(jwks)[:100]
    return seeds


def header_text(pems, jwks):
    lines = ["/*", " * fuzz_jwt_keys.h - the fixed key set of fuzz_jwt and fuzz_jwks, written by gen_jwt_corpus.py.",
             " * Test keys, public on purpose: the targets sign their own inputs with them. Never use them elsewhere.",
             " */", "#ifndef FUZZ_JWT_KEYS_H", "#define FUZZ_JWT_KEYS_H", "",
             "#define FUZZ_JWT_NOW %d" % NOW, '#define FUZZ_JWT_ISSUER "%s"' % ISSUER,
             '#define FUZZ_JWT_AUDIENCE "%s"' % AUDIENCE, ""]
    for name in KEY_NAMES:
        lines.append("static const char FUZZ_JWT_%s_PEM[] =" % name.upper())
        body = pems[name].splitlines(keepends=True)
        lines += ["    %s" % json.dumps(line) for line in body]
        lines[-1] += ";"
        lines.append("")
    lines.append("static const char FUZZ_JWT_JWKS[] =")
    lines.append("    %s;" % json.dumps(json.dumps(jwks, separators=(",", ":"))))
    lines += ["", "#endif", ""]
    return "\n".join(lines)


def main():
    pems = new_keys() if "--new-keys" in sys.argv or not os.path.exists(HEADER) else read_keys()
    with tempfile.TemporaryDirectory() as workdir:
        keys = Keys(pems, workdir)
        jwks = keys.jwks()
        with open(HEADER, "w") as f:
            f.write(header_text(pems, jwks))
        for name, data in jwt_seeds(keys).items():
            write(os.path.join(HERE, "corpus", "jwt"), name, data)
        for name, data in jwks_seeds(keys, jwks).items():
            write(os.path.join(HERE, "corpus", "jwks"), name, data)


if __name__ == "__main__":
    main()
