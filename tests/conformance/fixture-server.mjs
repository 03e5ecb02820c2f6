#!/usr/bin/env node
// Fixture MCP server for the MCP conformance suite
// (@modelcontextprotocol/conformance 0.1.x, "server" scenarios).
//
// Written against the official TypeScript SDK's low-level `Server` class so the
// wire format is fully under our control (e.g. the raw JSON Schema 2020-12
// inputSchema is sent verbatim).
//
// Usage:
//   node fixture-server.mjs --http PORT [--host 127.0.0.1]
//       Streamable HTTP at http://HOST:PORT/mcp, legacy stateful sessions
//       (Mcp-Session-Id, one Server instance per session, GET/DELETE supported,
//       resumable SSE through an in-memory event store). PORT 0 picks a free
//       port. Once bound, one line is printed on stdout:
//         {"event":"fixture.ready","url":"http://127.0.0.1:PORT/mcp","port":PORT}
//   node fixture-server.mjs --stdio
//       newline-delimited JSON-RPC on stdin/stdout; exits when stdin closes.
//
// All diagnostics go to stderr (stdout is the protocol channel in stdio mode).
// Set FIXTURE_DEBUG=1 for per-request logging.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest
} from '@modelcontextprotocol/sdk/types.js';

const DEBUG = process.env.FIXTURE_DEBUG === '1';
const log = (...a) => console.error('[fixture]', ...a);
const debug = (...a) => {
  if (DEBUG) log(...a);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// 1x1 red PNG and a minimal (empty) 8 kHz mono 16-bit WAV.
const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV_MIN = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=';

const EMPTY_OBJECT_SCHEMA = { type: 'object', properties: {} };

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

const TOOLS = [
  {
    name: 'test_simple_text',
    description: 'Returns a simple text content block',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_image_content',
    description: 'Returns an image content block (1x1 PNG)',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_audio_content',
    description: 'Returns an audio content block (audio/wav)',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_embedded_resource',
    description: 'Returns an embedded resource content block',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_multiple_content_types',
    description: 'Returns text, image and embedded resource content blocks',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_tool_with_logging',
    description: 'Sends three info log notifications while running',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    // not a conformance tool: the gateway's e2e tests (log levels across eras)
    name: 'test_log_levels',
    description: 'Sends one log notification at each of debug, info, warning and error while running',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    // not a conformance tool: the gateway's e2e tests (resource subscriptions across eras)
    name: 'test_touch_watched_resource',
    description:
      'Changes test://watched-resource; sends notifications/resources/updated when it is subscribed to, and says whether it is',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_error_handling',
    description: 'Always fails with isError: true',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_tool_with_progress',
    description: 'Reports progress 0/100, 50/100, 100/100',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_sampling',
    description: 'Asks the client for an LLM completion (sampling/createMessage)',
    inputSchema: {
      type: 'object',
      properties: {
        prompt: { type: 'string', description: 'The prompt to send to the LLM' }
      },
      required: ['prompt']
    }
  },
  {
    name: 'test_elicitation',
    description: 'Asks the client for user input (elicitation/create)',
    inputSchema: {
      type: 'object',
      properties: {
        message: { type: 'string', description: 'The message to show the user' }
      },
      required: ['message']
    }
  },
  {
    name: 'test_elicitation_sep1034_defaults',
    description: 'Elicitation with default values for every primitive type (SEP-1034)',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'test_elicitation_sep1330_enums',
    description: 'Elicitation with all enum schema variants (SEP-1330)',
    inputSchema: EMPTY_OBJECT_SCHEMA
  },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: {
        address: {
          type: 'object',
          properties: {
            street: { type: 'string' },
            city: { type: 'string' }
          }
        }
      },
      properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' }
      },
      additionalProperties: false
    }
  },
  {
    name: 'test_reconnection',
    description:
      'Closes the POST SSE stream mid-call (HTTP mode) and answers after the client reconnects (SEP-1699)',
    inputSchema: EMPTY_OBJECT_SCHEMA
  }
];

const text = (t) => ({ type: 'text', text: t });

function toolError(message) {
  return { isError: true, content: [text(message)] };
}

async function callTool(server, request, extra, state) {
  const name = request.params.name;
  const args = request.params.arguments ?? {};
  switch (name) {
    case 'test_simple_text':
      return { content: [text('This is a simple text response for testing.')] };

    case 'test_image_content':
      return { content: [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }] };

    case 'test_audio_content':
      return { content: [{ type: 'audio', data: WAV_MIN, mimeType: 'audio/wav' }] };

    case 'test_embedded_resource':
      return {
        content: [
          {
            type: 'resource',
            resource: {
              uri: 'test://embedded-resource',
              mimeType: 'text/plain',
              text: 'This is an embedded resource content.'
            }
          }
        ]
      };

    case 'test_multiple_content_types':
      return {
        content: [
          text('Multiple content types test:'),
          { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
          {
            type: 'resource',
            resource: {
              uri: 'test://mixed-content-resource',
              mimeType: 'application/json',
              text: JSON.stringify({ test: 'data', value: 123 })
            }
          }
        ]
      };

    case 'test_tool_with_logging': {
      // Sent as related notifications (on the tools/call response stream),
      // honouring the level set with logging/setLevel for this session.
      const sendLog = async (level, data) => {
        if (server.isMessageIgnored(level, extra.sessionId)) return;
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level, logger: 'fixture', data }
        });
      };
      await sendLog('info', 'Tool execution started');
      await sleep(50);
      await sendLog('info', 'Tool processing data');
      await sleep(50);
      await sendLog('info', 'Tool execution completed');
      return { content: [text('Tool with logging executed successfully')] };
    }

    case 'test_log_levels': {
      for (const level of ['debug', 'info', 'warning', 'error']) {
        if (server.isMessageIgnored(level, extra.sessionId)) continue;
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level, logger: 'fixture', data: `a ${level} message` }
        });
      }
      return { content: [text('logged at debug, info, warning and error')] };
    }

    case 'test_touch_watched_resource': {
      const uri = 'test://watched-resource';
      state.watched.version++;
      const subscribed = state.subscriptions.has(uri);
      if (subscribed) await server.sendResourceUpdated({ uri }); // unsolicited: the session's GET stream
      return { content: [text(subscribed ? `updated ${uri} (subscribed)` : `updated ${uri} (not subscribed)`)] };
    }

    case 'test_error_handling':
      return toolError('This tool intentionally returns an error for testing');

    case 'test_tool_with_progress': {
      const progressToken = request.params._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` }
          });
        }
        if (progress !== 100) await sleep(50);
      }
      return { content: [text(`Tool with progress executed (token: ${progressToken ?? 'none'})`)] };
    }

    case 'test_sampling': {
      if (!server.getClientCapabilities()?.sampling) {
        return toolError('Client does not support sampling');
      }
      if (typeof args.prompt !== 'string') {
        throw new McpError(ErrorCode.InvalidParams, 'test_sampling: "prompt" (string) is required');
      }
      const result = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: {
            messages: [{ role: 'user', content: { type: 'text', text: args.prompt } }],
            maxTokens: 100
          }
        },
        CreateMessageResultSchema
      );
      const c = result.content;
      const responseText = Array.isArray(c)
        ? c.map((b) => (b.type === 'text' ? b.text : `[${b.type}]`)).join('')
        : c?.type === 'text'
          ? c.text
          : `[${c?.type}]`;
      return { content: [text(`LLM response: ${responseText}`)] };
    }

    case 'test_elicitation': {
      if (!server.getClientCapabilities()?.elicitation) {
        return toolError('Client does not support elicitation');
      }
      if (typeof args.message !== 'string') {
        throw new McpError(ErrorCode.InvalidParams, 'test_elicitation: "message" (string) is required');
      }
      const result = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: args.message,
            requestedSchema: {
              type: 'object',
              properties: {
                username: { type: 'string', description: "User's response" },
                email: { type: 'string', description: "User's email address" }
              },
              required: ['username', 'email']
            }
          }
        },
        ElicitResultSchema
      );
      return {
        content: [
          text(`User response: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)
        ]
      };
    }

    case 'test_elicitation_sep1034_defaults': {
      if (!server.getClientCapabilities()?.elicitation) {
        return toolError('Client does not support elicitation');
      }
      const result = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: 'Please review and update the form fields with defaults',
            requestedSchema: {
              type: 'object',
              properties: {
                name: { type: 'string', description: 'User name', default: 'John Doe' },
                age: { type: 'integer', description: 'User age', default: 30 },
                score: { type: 'number', description: 'User score', default: 95.5 },
                status: {
                  type: 'string',
                  description: 'User status',
                  enum: ['active', 'inactive', 'pending'],
                  default: 'active'
                },
                verified: { type: 'boolean', description: 'Verification status', default: true }
              },
              required: []
            }
          }
        },
        ElicitResultSchema
      );
      return {
        content: [
          text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)
        ]
      };
    }

    case 'test_elicitation_sep1330_enums': {
      if (!server.getClientCapabilities()?.elicitation) {
        return toolError('Client does not support elicitation');
      }
      const result = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: 'Please select options from the enum fields',
            requestedSchema: {
              type: 'object',
              properties: {
                untitledSingle: {
                  type: 'string',
                  description: 'Untitled single-select enum',
                  enum: ['option1', 'option2', 'option3']
                },
                titledSingle: {
                  type: 'string',
                  description: 'Titled single-select enum',
                  oneOf: [
                    { const: 'value1', title: 'First Option' },
                    { const: 'value2', title: 'Second Option' },
                    { const: 'value3', title: 'Third Option' }
                  ]
                },
                legacyEnum: {
                  type: 'string',
                  description: 'Legacy titled enum (enumNames)',
                  enum: ['opt1', 'opt2', 'opt3'],
                  enumNames: ['Option One', 'Option Two', 'Option Three']
                },
                untitledMulti: {
                  type: 'array',
                  description: 'Untitled multi-select enum',
                  items: { type: 'string', enum: ['option1', 'option2', 'option3'] }
                },
                titledMulti: {
                  type: 'array',
                  description: 'Titled multi-select enum',
                  items: {
                    anyOf: [
                      { const: 'value1', title: 'First Choice' },
                      { const: 'value2', title: 'Second Choice' },
                      { const: 'value3', title: 'Third Choice' }
                    ]
                  }
                }
              },
              required: []
            }
          }
        },
        ElicitResultSchema
      );
      return {
        content: [
          text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)
        ]
      };
    }

    case 'json_schema_2020_12_tool':
      return { content: [text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`)] };

    case 'test_reconnection': {
      // In HTTP mode the SDK gives us closeSSEStream (only when an event store
      // is configured): close the POST stream, then answer; the answer is
      // stored in the event store and replayed when the client reconnects with
      // Last-Event-ID. In stdio mode this is a plain tool.
      if (typeof extra.closeSSEStream === 'function') {
        await sleep(50);
        extra.closeSSEStream();
        await sleep(200);
      }
      return {
        content: [
          text(
            'Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.'
          )
        ]
      };
    }

    default:
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
  }
}

// ---------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------

const RESOURCES = [
  {
    uri: 'test://static-text',
    name: 'static-text',
    title: 'Static text resource',
    description: 'A static text resource for testing',
    mimeType: 'text/plain'
  },
  {
    uri: 'test://static-binary',
    name: 'static-binary',
    title: 'Static binary resource',
    description: 'A static binary resource (1x1 PNG) for testing',
    mimeType: 'image/png'
  },
  {
    uri: 'test://watched-resource',
    name: 'watched-resource',
    title: 'Watched resource',
    description: 'A resource that can be subscribed to',
    mimeType: 'text/plain'
  }
];

const RESOURCE_TEMPLATES = [
  {
    uriTemplate: 'test://template/{id}/data',
    name: 'template-data',
    title: 'Template resource',
    description: 'A resource template with an {id} parameter',
    mimeType: 'application/json'
  }
];

const TEMPLATE_RE = /^test:\/\/template\/([^/]+)\/data$/;

function readResource(uri, watched) {
  switch (uri) {
    case 'test://static-text':
      return {
        contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }]
      };
    case 'test://static-binary':
      return { contents: [{ uri, mimeType: 'image/png', blob: PNG_1X1 }] };
    case 'test://watched-resource':
      return {
        contents: [{ uri, mimeType: 'text/plain', text: `Watched resource content (version ${watched.version})` }]
      };
  }
  const m = TEMPLATE_RE.exec(uri);
  if (m) {
    const id = decodeURIComponent(m[1]);
    return {
      contents: [
        {
          uri,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` })
        }
      ]
    };
  }
  // -32002 is the spec's "Resource not found" code.
  throw new McpError(-32002, 'Resource not found', { uri });
}

// ---------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------

const PROMPTS = [
  { name: 'test_simple_prompt', description: 'A simple prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true }
    ]
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds a resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }]
  },
  { name: 'test_prompt_with_image', description: 'A prompt that includes an image' }
];

function getPrompt(name, args = {}) {
  const requireArgs = (...names) => {
    const missing = names.filter((n) => typeof args[n] !== 'string');
    if (missing.length) {
      throw new McpError(ErrorCode.InvalidParams, `Missing required argument(s): ${missing.join(', ')}`);
    }
  };
  switch (name) {
    case 'test_simple_prompt':
      return { messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }] };
    case 'test_prompt_with_arguments':
      requireArgs('arg1', 'arg2');
      return {
        messages: [
          { role: 'user', content: text(`Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'`) }
        ]
      };
    case 'test_prompt_with_embedded_resource':
      requireArgs('resourceUri');
      return {
        messages: [
          {
            role: 'user',
            content: {
              type: 'resource',
              resource: {
                uri: args.resourceUri,
                mimeType: 'text/plain',
                text: 'Embedded resource content for testing.'
              }
            }
          },
          { role: 'user', content: text('Please process the embedded resource above.') }
        ]
      };
    case 'test_prompt_with_image':
      return {
        messages: [
          { role: 'user', content: { type: 'image', data: PNG_1X1, mimeType: 'image/png' } },
          { role: 'user', content: text('Please analyze the image above.') }
        ]
      };
  }
  throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
}

// ---------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------

const COMPLETIONS = {
  'ref/prompt:test_prompt_with_arguments:arg1': ['paris', 'park', 'party', 'test', 'testValue1'],
  'ref/prompt:test_prompt_with_arguments:arg2': ['world', 'wonder', 'testValue2'],
  'ref/resource:test://template/{id}/data:id': ['1', '2', '3', '123']
};

function complete(ref, argument) {
  const key =
    ref.type === 'ref/prompt' ? `ref/prompt:${ref.name}:${argument.name}` : `ref/resource:${ref.uri}:${argument.name}`;
  const all = COMPLETIONS[key] ?? [];
  const prefix = argument.value ?? '';
  const values = all.filter((v) => v.startsWith(prefix));
  return { completion: { values, total: values.length, hasMore: false } };
}

// ---------------------------------------------------------------------------
// Server factory (one per session / per stdio process)
// ---------------------------------------------------------------------------

function createServer() {
  const server = new Server(
    { name: 'mcpgate-conformance-fixture', title: 'mcpgate conformance fixture', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {}
      },
      instructions: 'Fixture server for the MCP conformance suite (mcpgate tests).'
    }
  );
  const subscriptions = new Set();
  const watched = { version: 1 };

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => callTool(server, request, extra, { subscriptions, watched }));

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: RESOURCE_TEMPLATES
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (request) => readResource(request.params.uri, watched));
  server.setRequestHandler(SubscribeRequestSchema, async (request, extra) => {
    const uri = request.params.uri;
    subscriptions.add(uri);
    debug(`subscribe ${uri} (session ${extra.sessionId ?? '-'})`);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request, extra) => {
    const uri = request.params.uri;
    subscriptions.delete(uri);
    debug(`unsubscribe ${uri} (session ${extra.sessionId ?? '-'})`);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, async (request) =>
    getPrompt(request.params.name, request.params.arguments)
  );

  server.setRequestHandler(CompleteRequestSchema, async (request) =>
    complete(request.params.ref, request.params.argument)
  );

  server.onerror = (err) => debug('server error:', err?.message ?? err);
  return server;
}

// ---------------------------------------------------------------------------
// Streamable HTTP (legacy stateful sessions)
// ---------------------------------------------------------------------------

// In-memory event store: enables SSE priming events, Last-Event-ID replay and
// extra.closeSSEStream (SEP-1699). Event ids sort in creation order.
function createEventStore() {
  const events = new Map(); // eventId -> { streamId, message }
  let seq = 0;
  return {
    async storeEvent(streamId, message) {
      const eventId = `${streamId}_${String(++seq).padStart(10, '0')}`;
      events.set(eventId, { streamId, message });
      return eventId;
    },
    async getStreamIdForEventId(eventId) {
      return events.get(eventId)?.streamId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const entry = events.get(lastEventId);
      if (!entry) return '';
      for (const [eventId, e] of events) {
        if (e.streamId === entry.streamId && eventId > lastEventId && Object.keys(e.message ?? {}).length > 0) {
          await send(eventId, e.message);
        }
      }
      return entry.streamId;
    }
  };
}

const LOCAL_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function hostnameOf(hostHeader) {
  try {
    return new URL(`http://${hostHeader}`).hostname.toLowerCase();
  } catch {
    return null;
  }
}

function sendJson(res, status, body) {
  if (res.headersSent) return res.end();
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

const rpcError = (code, message, id = null) => ({ jsonrpc: '2.0', error: { code, message }, id });

async function readBody(req, limit = 4 * 1024 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function runHttp(port, host) {
  const sessions = new Map(); // sessionId -> { transport, server }

  const httpServer = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    debug(req.method, url.pathname, req.headers['mcp-session-id'] ?? '');

    // DNS rebinding protection: only loopback Host / Origin.
    const hostOk = LOCAL_HOSTNAMES.has(hostnameOf(req.headers.host ?? '') ?? '');
    let originOk = true;
    if (req.headers.origin) {
      try {
        originOk = LOCAL_HOSTNAMES.has(new URL(req.headers.origin).hostname.toLowerCase());
      } catch {
        originOk = false;
      }
    }
    if (!hostOk || !originOk) {
      return sendJson(res, 403, rpcError(-32000, 'Forbidden: invalid Host or Origin header'));
    }

    if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true, sessions: sessions.size });
    if (url.pathname !== '/mcp') return sendJson(res, 404, rpcError(-32000, 'Not found'));

    try {
      const sessionId = req.headers['mcp-session-id'];
      if (req.method === 'POST') {
        let body;
        try {
          body = JSON.parse(await readBody(req));
        } catch (e) {
          return sendJson(res, e.status ?? 400, rpcError(-32700, `Parse error: ${e.message}`));
        }
        if (sessionId) {
          const s = sessions.get(sessionId);
          if (!s) return sendJson(res, 404, rpcError(-32001, 'Session not found'));
          return await s.transport.handleRequest(req, res, body);
        }
        if (!isInitializeRequest(body)) {
          return sendJson(res, 400, rpcError(-32000, 'Bad Request: no valid session ID provided'));
        }
        const server = createServer();
        const transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          eventStore: createEventStore(),
          retryInterval: 500,
          onsessioninitialized: (sid) => {
            sessions.set(sid, { transport, server });
            debug(`session ${sid} initialized (${sessions.size} open)`);
          }
        });
        transport.onclose = () => {
          const sid = transport.sessionId;
          if (sid && sessions.get(sid)?.transport === transport) {
            sessions.delete(sid);
            debug(`session ${sid} closed (${sessions.size} open)`);
          }
        };
        await server.connect(transport);
        return await transport.handleRequest(req, res, body);
      }
      if (req.method === 'GET' || req.method === 'DELETE') {
        if (!sessionId) return sendJson(res, 400, rpcError(-32000, 'Bad Request: no valid session ID provided'));
        const s = sessions.get(sessionId);
        if (!s) return sendJson(res, 404, rpcError(-32001, 'Session not found'));
        return await s.transport.handleRequest(req, res);
      }
      res.setHeader('allow', 'GET, POST, DELETE');
      return sendJson(res, 405, rpcError(-32000, 'Method not allowed'));
    } catch (err) {
      log('error handling request:', err?.stack ?? err);
      if (!res.headersSent) sendJson(res, 500, rpcError(-32603, 'Internal server error'));
      else res.end();
    }
  });

  httpServer.keepAliveTimeout = 5000;
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, resolve);
  });
  const bound = httpServer.address().port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(
    JSON.stringify({ event: 'fixture.ready', url: `http://${hostForUrl}:${bound}/mcp`, port: bound }) + '\n'
  );
  log(`listening on http://${hostForUrl}:${bound}/mcp`);

  const shutdown = async () => {
    for (const { transport, server } of sessions.values()) {
      await transport.close().catch(() => {});
      await server.close().catch(() => {});
    }
    httpServer.closeAllConnections?.();
    httpServer.close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

// ---------------------------------------------------------------------------
// stdio
// ---------------------------------------------------------------------------

async function runStdio() {
  const server = createServer();
  const transport = new StdioServerTransport();
  await server.connect(transport);
  log('stdio server ready');
  // The SDK transport does not react to EOF; exit when our parent goes away.
  const bye = () => process.exit(0);
  process.stdin.on('end', bye);
  process.stdin.on('close', bye);
  process.on('SIGTERM', bye);
  process.on('SIGINT', bye);
}

// ---------------------------------------------------------------------------

function usage(msg) {
  if (msg) console.error(`fixture-server: ${msg}`);
  console.error('usage: fixture-server.mjs --http PORT [--host ADDR] | --stdio');
  process.exit(2);
}

const argv = process.argv.slice(2);
let mode = null;
let port = null;
let host = '127.0.0.1';
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--stdio') mode = 'stdio';
  else if (a === '--http') {
    mode = 'http';
    port = Number(argv[++i]);
    if (!Number.isInteger(port) || port < 0 || port > 65535) usage('--http needs a port number (0 = any free port)');
  } else if (a === '--host') host = argv[++i] ?? usage('--host needs an address');
  else if (a === '-h' || a === '--help') usage();
  else usage(`unknown argument: ${a}`);
}
if (!mode) usage('one of --http PORT or --stdio is required');

process.on('unhandledRejection', (err) => log('unhandled rejection:', err?.stack ?? err));

if (mode === 'http') await runHttp(port, host);
else await runStdio();
