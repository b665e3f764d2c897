// Bounded soak of `ds4 serve`: N requests, C at a time, a random mix of
// valid requests on every endpoint (stream and not), clients that hang up
// mid-stream or mid-upload, malformed and oversized bodies, bad auth, unknown
// paths and raw garbage. Every answer must have the expected status; the
// server must still answer /health at the end.
// Usage: node server_soak.js  (env: DS4_URL, DS4_KEY, SOAK_N, SOAK_C, SOAK_SEED,
// SOAK_MAX_MB = the server's --max-request-mb, SOAK_CTX = its --ctx)
'use strict';
const http = require('node:http');
const net = require('node:net');

const url = new URL(process.env.DS4_URL);
const KEY = process.env.DS4_KEY || 'sk-soak';
const N = +(process.env.SOAK_N || 300), C = +(process.env.SOAK_C || 8);
const MAX_MB = +(process.env.SOAK_MAX_MB || 1), CTX = +(process.env.SOAK_CTX || 1024);
let seed = +(process.env.SOAK_SEED || 1234);
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = a => a[Math.floor(rnd() * a.length)];

function request(path, { method = 'POST', body = '', headers = {}, abortAfterData = false } = {}) {
  return new Promise(resolve => {
    const buf = Buffer.from(body);
    const req = http.request({ host: url.hostname, port: url.port, path, method, agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': buf.length, Authorization: 'Bearer ' + KEY, ...headers } },
    res => {
      let data = '';
      res.on('data', d => {
        data += d;
        if (abortAfterData) { req.destroy(); resolve({ status: res.statusCode, aborted: true }); }
      });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
      res.on('error', () => resolve({ status: res.statusCode, aborted: true }));
    });
    req.on('error', e => resolve({ status: 0, error: e.code }));
    req.setTimeout(60000, () => { req.destroy(); resolve({ status: -1, error: 'timeout' }); });
    req.end(buf);
  });
}

function raw(bytes, waitMs = 300) {
  return new Promise(resolve => {
    const s = net.connect(+url.port, url.hostname, () => { s.write(bytes); setTimeout(() => { s.destroy(); resolve({ status: 'raw' }); }, waitMs); });
    s.on('data', () => {});
    s.on('error', () => resolve({ status: 'raw' }));
  });
}

const chat = (extra = {}) => JSON.stringify({ model: 'deepseek-chat', max_tokens: 1 + Math.floor(rnd() * 4), temperature: rnd(),
  messages: [{ role: 'user', content: pick(['ROMEO:', 'KING HENRY:', 'Speak.', 'é ü 日本']) }], ...extra });

const kinds = [
  ['chat', 200, () => request('/v1/chat/completions', { body: chat() })],
  ['chat-stream', 200, () => request('/v1/chat/completions', { body: chat({ stream: true, stream_options: { include_usage: true } }) })],
  ['chat-stream-hangup', 'any', () => request('/v1/chat/completions', { body: chat({ stream: true, max_tokens: 400 }), abortAfterData: true })],
  ['chat-tools', 200, () => request('/v1/chat/completions', { body: chat({ tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
    messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: '\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="a" string="false">nope</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>' }] }) })],
  ['completions', 200, () => request('/v1/completions', { body: JSON.stringify({ prompt: 'ROMEO:', max_tokens: 3, stream: rnd() < 0.5 }) })],
  ['messages-stream', 200, () => request('/v1/messages', { body: JSON.stringify({ model: 'deepseek-chat', max_tokens: 3, stream: true,
    messages: [{ role: 'user', content: 'KING:' }] }) })],
  ['responses', 200, () => request('/v1/responses', { body: JSON.stringify({ model: 'deepseek-chat', input: 'ROMEO:', max_output_tokens: 3, stream: rnd() < 0.5 }) })],
  ['malformed', 400, () => request('/v1/chat/completions', { body: pick(['{', '{"messages":', '[]', 'null', '{"messages":[{"role":1}]}',
    '{"messages":"x"}', '\u0000\u0001', '{"messages":[{"content":"x"}],"max_tokens":-4}', '{"input":[{"type":"bogus"}]}']) })],
  ['malformed-messages', 400, () => request('/v1/messages', { body: '{"messages":[{"role":"robot","content":"x"}]}' })],
  ['deep-json', 400, () => request('/v1/chat/completions', { body: '['.repeat(5000) })],
  ['overflow', 400, () => request('/v1/chat/completions', { body: chat({ messages: [{ role: 'user', content: 'word '.repeat(CTX * 2) }] }) })],
  ['oversized', 413, () => request('/v1/chat/completions', { body: 'x'.repeat(MAX_MB * 1048576 + 10) })],
  ['bad-auth', 401, () => request('/v1/chat/completions', { body: chat(), headers: { Authorization: 'Bearer nope' } })],
  ['not-found', 404, () => request('/v2/whatever', { body: '{}' })],
  ['get-models', 200, () => request('/v1/models', { method: 'GET' })],
  ['upload-hangup', 'any', () => raw('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"messages":[', 100)],
  ['garbage', 'any', () => raw(Buffer.from(Array.from({ length: 300 }, () => Math.floor(rnd() * 256))), 100)],
];

(async () => {
  const t0 = Date.now();
  const stats = {};
  const failures = [];
  let next = 0;
  async function worker() {
    while (next < N) {
      const i = next++;
      let k = pick(kinds);
      // the tool prompt is ~830 tokens: a cold prefill each time, so fewer of them
      while (k[0] === 'chat-tools' && rnd() > 0.2) k = pick(kinds);
      const [name, want, fn] = k;
      const t = Date.now();
      const r = await fn();
      const s = (stats[name] = stats[name] || { n: 0, statuses: {}, maxMs: 0 });
      s.n++;
      s.maxMs = Math.max(s.maxMs, Date.now() - t);
      s.statuses[r.status] = (s.statuses[r.status] || 0) + 1;
      const ok = want === 'any' ? r.status !== -1 && !(r.status >= 500) : r.status === want;
      if (!ok) failures.push(`#${i} ${name}: status ${r.status} ${r.error || ''} ${(r.body || '').slice(0, 200)}`);
    }
  }
  await Promise.all(Array.from({ length: C }, worker));
  const health = await request('/health', { method: 'GET' });
  const secs = (Date.now() - t0) / 1000;
  for (const [k, v] of Object.entries(stats)) console.log(`${k.padEnd(20)} ${String(v.n).padStart(4)}  max ${String(v.maxMs).padStart(6)} ms  ${JSON.stringify(v.statuses)}`);
  console.log(`soak: ${N} requests, ${C} concurrent, ${secs.toFixed(1)} s, ${failures.length} unexpected, /health ${health.status}`);
  for (const f of failures.slice(0, 20)) console.log('  ' + f);
  process.exit(failures.length || health.status !== 200 ? 1 : 0);
})();
