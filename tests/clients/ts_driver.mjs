#!/usr/bin/env node
// Real-client integration driver using the TypeScript SDK @modelcontextprotocol/sdk 1.32.2.
//
// Runs: initialize -> tools/list (assert `echo`) -> tools/call echo -> resources/read
// -> resources/subscribe + touch_resource + wait for notifications/resources/updated
// -> prompts/get.  Prints a JSON summary on stdout; exit 0 only if every step passed.
//
// Usage:
//   node ts_driver.mjs --url http://127.0.0.1:8765/mcp [--subscribe-uri test://watched]
//   node ts_driver.mjs [--subscribe-uri ...] -- /path/to/server --stdio      (bonus: stdio)
//
// The SDK is loaded from $MCP_TS_SDK_DIR, else ./ts/node_modules/@modelcontextprotocol/sdk
// next to this file, else the bare specifier (if run inside a project that depends on it).
//
// Protocol era: SDK 1.32.2 only speaks the initialize handshake (LATEST_PROTOCOL_VERSION =
// '2025-11-25'); it has no server/discover, no subscriptions/listen, no 2026-07-28 support.
// --era is accepted for symmetry with py_driver.py but only 2025-11-25 is valid.

import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

// ---- fixture names exposed by the server under test (edit here) -----------
const ECHO_TOOL = 'greet';
const ECHO_ARGS = { name: 'hello' };
const ECHO_EXPECTED = 'Hello, hello!';
const STATIC_RESOURCE = 'test://static-text';
const DEFAULT_SUBSCRIBE_URI = 'test://watched-resource';
const TOUCH_TOOL = 'test_update_resource'; // called with {"uri": <subscribe uri>}
const PROMPT_NAME = 'test_simple_prompt';
const NOTIFY_TIMEOUT_MS = 5000;
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const out = { url: null, cmd: [], era: '2025-11-25', subscribeUri: DEFAULT_SUBSCRIBE_URI, timeoutMs: 10000, verbose: false, env: {}, inheritEnv: false };
  const dd = argv.indexOf('--');
  if (dd >= 0) { out.cmd = argv.slice(dd + 1); argv = argv.slice(0, dd); }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--url') out.url = next();
    else if (a === '--era') out.era = next();
    else if (a === '--subscribe-uri') out.subscribeUri = next();
    else if (a === '--timeout-ms') out.timeoutMs = Number(next());
    else if (a === '--env') { const kv = next(); const i = kv.indexOf('='); out.env[kv.slice(0, i)] = kv.slice(i + 1); }
    else if (a === '--inherit-env') out.inheritEnv = true;
    else if (a === '-v' || a === '--verbose') out.verbose = true;
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  if (!!out.url === (out.cmd.length > 0)) usage('give exactly one of --url or a stdio command after --');
  if (out.era !== '2025-11-25') usage(`--era ${out.era}: @modelcontextprotocol/sdk 1.32.2 only supports the 2025-11-25 handshake era`);
  return out;
}

function usage(msg) {
  if (msg) console.error(`ts_driver: ${msg}`);
  console.error('usage: node ts_driver.mjs (--url URL | -- CMD ARGS...) [--era 2025-11-25] [--subscribe-uri URI] [--timeout-ms N] [--env K=V]... [--inherit-env] [-v]');
  process.exit(2);
}

async function loadSdk() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [process.env.MCP_TS_SDK_DIR, path.join(here, 'ts', 'node_modules', '@modelcontextprotocol', 'sdk')].filter(Boolean);
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'dist', 'esm', 'client', 'index.js'))) {
      const imp = (p) => import(pathToFileURL(path.join(dir, 'dist', 'esm', p)).href);
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      return { version: pkg.version, ...(await imp('client/index.js')), ...(await imp('client/streamableHttp.js')), ...(await imp('client/stdio.js')), types: await imp('types.js') };
    }
  }
  const b = '@modelcontextprotocol/sdk';
  return { version: 'unknown', ...(await import(`${b}/client/index.js`)), ...(await import(`${b}/client/streamableHttp.js`)), ...(await import(`${b}/client/stdio.js`)), types: await import(`${b}/types.js`) };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const sdk = await loadSdk();
  const { Client, StreamableHTTPClientTransport, StdioClientTransport, types } = sdk;
  const summary = {
    driver: `typescript-sdk-${sdk.version}`,
    node: process.version,
    transport: args.url ? 'http' : 'stdio',
    target: args.url ?? args.cmd.join(' '),
    requested_era: args.era,
    steps: [],
  };
  const reqOpts = { timeout: args.timeoutMs };

  // notifications/resources/updated arrive as unsolicited server notifications
  // (HTTP: on the standalone GET SSE stream the transport opens after notifications/initialized).
  const rawUpdates = [];
  const waiters = [];
  const client = new Client({ name: 'mcpflow-ts-driver', version: '0.1.0' }, { capabilities: {} });
  client.setNotificationHandler(types.ResourceUpdatedNotificationSchema, async (n) => {
    rawUpdates.push(n.params.uri);
    for (const w of waiters.splice(0)) w(n.params.uri);
  });
  const transportErrors = [];
  client.onerror = (e) => transportErrors.push(String(e?.message ?? e));

  const waitForUpdate = (uri, ms) => new Promise((resolve, reject) => {
    if (rawUpdates.includes(uri)) return resolve();
    const t = setTimeout(() => reject(new Error(`no notifications/resources/updated for ${uri} within ${ms} ms (saw ${JSON.stringify(rawUpdates)})`)), ms);
    const w = (u) => { if (u === uri) { clearTimeout(t); resolve(); } else waiters.push(w); };
    waiters.push(w);
  });

  async function step(name, fn) {
    const t0 = performance.now();
    const rec = { step: name };
    try { rec.detail = await fn(); rec.ok = true; }
    catch (e) { rec.ok = false; rec.error = `${e?.name ?? 'Error'}: ${e?.message ?? e}`; if (args.verbose) rec.stack = e?.stack; }
    rec.ms = Math.round((performance.now() - t0) * 10) / 10;
    summary.steps.push(rec);
    return rec;
  }

  let transport;
  const connected = await step('connect', async () => {
    transport = args.url
      ? new StreamableHTTPClientTransport(new URL(args.url))
      // NB: StdioClientTransport passes only HOME/LOGNAME/PATH/SHELL/TERM/USER plus `env`.
      : new StdioClientTransport({ command: args.cmd[0], args: args.cmd.slice(1), stderr: 'inherit',
          env: { ...(args.inheritEnv ? process.env : {}), ...args.env } });
    await client.connect(transport, reqOpts);
    // HTTP transport records the negotiated version (sent as MCP-Protocol-Version afterwards)
    const pv = transport.protocolVersion ?? null;
    if (args.url && pv !== args.era) throw new Error(`negotiated ${pv}, wanted ${args.era}`);
    summary.negotiated_protocol_version = pv; // null on stdio: the stdio transport does not record it
    summary.handshake = 'initialize';
    summary.server_info = client.getServerVersion();
    summary.server_capabilities = client.getServerCapabilities();
    if (args.url) summary.session_id = transport.sessionId ?? null;
    return { protocol_version: pv };
  });

  if (connected.ok) {
    await step('tools/list', async () => {
      const names = [];
      let cursor;
      for (let i = 0; i < 50; i++) {
        const res = await client.listTools(cursor ? { cursor } : undefined, reqOpts);
        names.push(...res.tools.map((t) => t.name));
        cursor = res.nextCursor;
        if (!cursor) break;
      }
      if (!names.includes(ECHO_TOOL)) throw new Error(`tool ${ECHO_TOOL} not in ${JSON.stringify(names)}`);
      return { tools: names };
    });

    await step('tools/call echo', async () => {
      const res = await client.callTool({ name: ECHO_TOOL, arguments: { ...ECHO_ARGS } }, undefined, reqOpts);
      if (res.isError) throw new Error(`isError result: ${JSON.stringify(res)}`);
      const texts = res.content.filter((c) => c.type === 'text').map((c) => c.text);
      if (texts.length !== 1 || texts[0] !== ECHO_EXPECTED) throw new Error(`expected ["${ECHO_EXPECTED}"], got ${JSON.stringify(texts)}`);
      return { text: texts[0] };
    });

    await step('resources/read', async () => {
      const res = await client.readResource({ uri: STATIC_RESOURCE }, reqOpts);
      const texts = res.contents.filter((c) => typeof c.text === 'string').map((c) => c.text);
      if (!texts.length || !texts[0]) throw new Error(`no/empty text contents: ${JSON.stringify(res)}`);
      return { uri: STATIC_RESOURCE, text: texts[0].slice(0, 200) };
    });

    await step('subscribe+updated', async () => {
      const uri = args.subscribeUri;
      await client.subscribeResource({ uri }, reqOpts);
      const t0 = performance.now();
      const waiting = waitForUpdate(uri, NOTIFY_TIMEOUT_MS);
      await client.callTool({ name: TOUCH_TOOL, arguments: { uri } }, undefined, reqOpts);
      await waiting;
      const latency = Math.round((performance.now() - t0) * 10) / 10;
      let unsub = 'ok';
      try { await client.unsubscribeResource({ uri }, reqOpts); } catch (e) { unsub = `failed: ${e?.message ?? e}`; }
      return { mechanism: 'resources/subscribe', uri, latency_ms: latency, unsubscribe: unsub };
    });

    await step('prompts/get', async () => {
      const res = await client.getPrompt({ name: PROMPT_NAME }, reqOpts);
      if (!res.messages?.length) throw new Error('prompt returned no messages');
      return { messages: res.messages.length, first_role: res.messages[0].role, first_content_type: res.messages[0].content?.type };
    });
  }

  try {
    if (args.url && transport?.sessionId) await transport.terminateSession(); // DELETE the session
  } catch (e) { summary.terminate_session_error = String(e?.message ?? e); }
  try { await client.close(); } catch { /* ignore */ }

  summary.raw_resource_updated_uris = rawUpdates;
  if (transportErrors.length) summary.transport_errors = transportErrors;
  const expected = ['connect', 'tools/list', 'tools/call echo', 'resources/read', 'subscribe+updated', 'prompts/get'];
  summary.ok = expected.every((n) => summary.steps.some((s) => s.step === n && s.ok)) && summary.steps.every((s) => s.ok);
  console.log(JSON.stringify(summary, null, 2));
  process.exit(summary.ok ? 0 : 1);
}

main().catch((e) => {
  console.log(JSON.stringify({ driver: 'typescript-sdk', ok: false, fatal: String(e?.stack ?? e) }, null, 2));
  process.exit(1);
});
