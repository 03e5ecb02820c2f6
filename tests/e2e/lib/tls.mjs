// TLS helpers for the e2e tests: a throwaway PKI made with the openssl CLI (server and client
// certificates), and a fetch that trusts it and may present a client certificate.
//
// Node 20's global fetch (undici) takes no CA option and reads NODE_EXTRA_CA_CERTS only at
// process start, so clients in the test process use `trustingFetch(ca)`: the fetch interface
// the SDK transport and the harness need, implemented on node:https with our CA.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function openssl(dir, ...args) {
  try {
    await run('openssl', args, { cwd: dir, timeout: 15_000 });
  } catch (err) {
    err.message = `openssl ${args.join(' ')} failed: ${err.stderr || err.message}`;
    throw err;
  }
}

/**
 * Make a CA and leaf certificates signed by it in `dir` (EC P-256, valid 2 days).
 * `leaves` maps a file stem to its subjectAltName value, e.g. {server: 'IP:127.0.0.1,DNS:localhost'}.
 * Returns {dir, ca: <path of ca.crt>, caPem, <stem>: {cert, key}} with absolute paths.
 */
export async function makePki(dir, leaves) {
  const pki = { dir, ca: join(dir, 'ca.crt') };
  await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=mcpgate-e2e throwaway CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  let serial = 1000;
  for (const [stem, san] of Object.entries(leaves)) {
    writeFileSync(join(dir, `${stem}.ext`), [
      `subjectAltName=${san}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'));
    await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', `${stem}.key`, '-out', `${stem}.csr`, '-subj', `/CN=mcpgate-e2e ${stem}`);
    await openssl(dir, 'x509', '-req', '-in', `${stem}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
      '-set_serial', String(serial++), '-days', '2', '-out', `${stem}.crt`, '-extfile', `${stem}.ext`);
    pki[stem] = { cert: join(dir, `${stem}.crt`), key: join(dir, `${stem}.key`) };
  }
  pki.caPem = readFileSync(pki.ca);
  return pki;
}

/**
 * Make a CA for client certificates in `dir`: `<stem>.crt` and `<stem>.key` (EC P-256, 2 days).
 * Returns {dir, stem, ca: <path of the certificate>}, to pass to makeClientCert.
 */
export async function makeClientCa(dir, stem, cn) {
  await openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${stem}.key`, '-out', `${stem}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  writeFileSync(join(dir, `${stem}.index`), '');
  writeFileSync(join(dir, `${stem}.serial`), '1000\n');
  writeFileSync(join(dir, `${stem}.cnf`), [
    '[ca]', 'default_ca = local', '[local]', `database = ${stem}.index`, 'new_certs_dir = .',
    `serial = ${stem}.serial`, 'default_md = sha256', 'policy = any', 'unique_subject = no',
    '[any]', 'commonName = optional', '',
  ].join('\n'));
  return { dir, stem, ca: join(dir, `${stem}.crt`) };
}

/**
 * A client certificate (extendedKeyUsage clientAuth) signed by `ca` (from makeClientCa), valid
 * for 2 days, or, with `expired`, for one day in January 2020 (`openssl ca` sets any dates, so
 * no fake clock is needed). `san` is a subjectAltName value ('URI:spiffe://acme/ci-bot,DNS:…').
 * Returns {cert, key} (absolute paths).
 */
export async function makeClientCert(ca, stem, { cn, san, expired = false }) {
  const { dir } = ca;
  writeFileSync(join(dir, `${stem}.ext`), [
    ...(san ? [`subjectAltName=${san}`] : []),
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth',
    '',
  ].join('\n'));
  await openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${stem}.key`, '-out', `${stem}.csr`, '-subj', `/CN=${cn}`);
  const dates = expired ? ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z'] : ['-days', '2'];
  await openssl(dir, 'ca', '-batch', '-notext', '-config', `${ca.stem}.cnf`, '-cert', `${ca.stem}.crt`,
    '-keyfile', `${ca.stem}.key`, '-in', `${stem}.csr`, '-out', `${stem}.crt`, '-extfile', `${stem}.ext`, ...dates);
  return { cert: join(dir, `${stem}.crt`), key: join(dir, `${stem}.key`) };
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

/**
 * A `fetch(url, init)` over node:https (HTTP/1.1) that trusts `ca` (PEM) and verifies the host
 * name as Node does. Supports what the SDK and the harness use: method, headers, a string or
 * Buffer body, and an AbortSignal. The Response body streams, so SSE works. With `client`
 * ({cert, key} paths, as makeClientCert returns) it presents that client certificate. Each
 * request is a new connection.
 */
export function trustingFetch(ca, client = null) {
  const identity = client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {};
  return (input, init = {}) => new Promise((resolve, reject) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = {};
    new Headers(init.headers ?? {}).forEach((v, k) => { headers[k] = v; });
    const req = request(url, { method: init.method ?? 'GET', headers, ca, ...identity, signal: init.signal, agent: false }, (res) => {
      const h = new Headers();
      for (let i = 0; i < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
      const status = res.statusCode;
      const noBody = NULL_BODY_STATUS.has(status) || (init.method ?? 'GET').toUpperCase() === 'HEAD';
      if (noBody) res.resume();
      resolve(new Response(noBody ? null : Readable.toWeb(res), { status, statusText: res.statusMessage, headers: h }));
    });
    req.on('error', reject);
    if (init.body !== undefined && init.body !== null) req.end(typeof init.body === 'string' ? init.body : Buffer.from(init.body));
    else req.end();
  });
}
