// An OTLP/HTTP trace receiver for e2e tests: POST /v1/traces with the JSON encoding, decoded with the
// official opentelemetry-proto code (the protobufjs module generated from opentelemetry-proto that
// @opentelemetry/otlp-transformer ships), not by hand.
//
// Each request body goes through ExportTraceServiceRequest.fromObject → encode (protobuf wire format)
// → decode → toObject, and every member the gateway sent must come back with the same value: a member
// the schema does not define, or a value of the wrong type, fails the request (HTTP 400) and is
// recorded in `errors`. The OTLP JSON mapping differs from protobuf's in one place, which is handled
// first: trace and span ids are hex, not base64 (OTLP specification, "JSON Protobuf Encoding").
import { createRequire } from 'node:module';
import http from 'node:http';
import { once } from 'node:events';

const require = createRequire(import.meta.url);
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const { ExportTraceServiceRequest } = root.opentelemetry.proto.collector.trace.v1;

const ID_FIELDS = { traceId: 32, spanId: 16, parentSpanId: 16 };

/** The body with hex ids turned into base64 (protobuf JSON); throws on ids that are not lowercase hex. */
function idsToBase64(body) {
  const copy = structuredClone(body);
  for (const resourceSpans of copy.resourceSpans ?? []) {
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        for (const [field, hexLength] of Object.entries(ID_FIELDS)) {
          if (!(field in span)) continue;
          if (typeof span[field] !== 'string' || !new RegExp(`^[0-9a-f]{${hexLength}}$`).test(span[field])) {
            throw new Error(`span ${field} ${JSON.stringify(span[field])} is not ${hexLength} lowercase hex digits`);
          }
          span[field] = Buffer.from(span[field], 'hex').toString('base64');
        }
      }
    }
  }
  return copy;
}

/** Every member of `sent` is in `decoded` with the same value (`decoded` may hold defaults besides). */
function assertRoundTrip(sent, decoded, path = '') {
  if (Array.isArray(sent)) {
    if (!Array.isArray(decoded) || decoded.length !== sent.length) throw new Error(`${path}: array changed in decoding`);
    sent.forEach((item, i) => assertRoundTrip(item, decoded[i], `${path}[${i}]`));
    return;
  }
  if (sent !== null && typeof sent === 'object') {
    if (decoded === null || typeof decoded !== 'object') throw new Error(`${path}: object expected`);
    for (const [key, value] of Object.entries(sent)) {
      if (!(key in decoded)) throw new Error(`${path}.${key}: not a field of the OTLP schema`);
      assertRoundTrip(value, decoded[key], `${path}.${key}`);
    }
    return;
  }
  if (sent !== decoded) throw new Error(`${path}: ${JSON.stringify(sent)} decodes as ${JSON.stringify(decoded)}`);
}

/** Decodes one OTLP/HTTP JSON body; returns the ExportTraceServiceRequest message or throws. */
export function decodeOtlpJson(text) {
  const body = idsToBase64(JSON.parse(text));
  const error = ExportTraceServiceRequest.verify(ExportTraceServiceRequest.fromObject(body));
  if (error) throw new Error(`not a valid ExportTraceServiceRequest: ${error}`);
  const wire = ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(body)).finish();
  const message = ExportTraceServiceRequest.decode(wire);
  const decoded = ExportTraceServiceRequest.toObject(message, { longs: String, enums: Number, bytes: String, defaults: true });
  assertRoundTrip(body, decoded);
  return message;
}

const attributeValue = (value) => value.stringValue ?? value.intValue?.toString() ?? value.boolValue ?? value.doubleValue;

/** Spans of a decoded message as plain objects with hex ids and an attributes map. */
function flatten(message) {
  const spans = [];
  for (const resourceSpans of message.resourceSpans) {
    const resource = Object.fromEntries(resourceSpans.resource.attributes.map((a) => [a.key, attributeValue(a.value)]));
    for (const scopeSpans of resourceSpans.scopeSpans) {
      for (const span of scopeSpans.spans) {
        spans.push({
          resource,
          scope: scopeSpans.scope?.name,
          traceId: Buffer.from(span.traceId).toString('hex'),
          spanId: Buffer.from(span.spanId).toString('hex'),
          parentSpanId: span.parentSpanId?.length ? Buffer.from(span.parentSpanId).toString('hex') : null,
          name: span.name,
          kind: span.kind,
          start: BigInt(span.startTimeUnixNano.toString()),
          end: BigInt(span.endTimeUnixNano.toString()),
          attributes: Object.fromEntries(span.attributes.map((a) => [a.key, attributeValue(a.value)])),
          status: { code: span.status?.code ?? 0, message: span.status?.message ?? '' },
        });
      }
    }
  }
  return spans;
}

/** Starts a receiver on a free loopback port. `.endpoint` is its /v1/traces URL. */
export async function startOtlpReceiver() {
  const receiver = { spans: [], errors: [], posts: [], endpoint: null };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      receiver.posts.push({ path: req.url, headers: req.headers });
      try {
        if (req.method !== 'POST' || req.url !== '/v1/traces') throw new Error(`${req.method} ${req.url}`);
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
          throw new Error(`content-type ${req.headers['content-type']}`);
        }
        receiver.spans.push(...flatten(decodeOtlpJson(text)));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      } catch (err) {
        receiver.errors.push(`${err.message}\n${text.slice(0, 2000)}`);
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 3, message: err.message }));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.endpoint = `http://127.0.0.1:${server.address().port}/v1/traces`;
  receiver.trace = (traceId) => receiver.spans.filter((s) => s.traceId === traceId);
  receiver.close = async () => { server.closeAllConnections?.(); server.close(); await once(server, 'close').catch(() => {}); };
  return receiver;
}
