// End-to-end check of `ds4 serve` with the official client libraries.
// Usage: node server_sdk.js  (env: DS4_URL base URL, DS4_KEY api key,
// DS4_BIN + DS4_MODEL to count prompt tokens with `ds4 tokenize`).
'use strict';
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');

const URL_ = process.env.DS4_URL;
const KEY = process.env.DS4_KEY || 'sk-test';
const openai = new OpenAI({ baseURL: URL_ + '/v1', apiKey: KEY, maxRetries: 0, timeout: 60000 });
const anthropic = new Anthropic({ baseURL: URL_, apiKey: KEY, maxRetries: 0, timeout: 60000 });

const BOS = '<｜begin▁of▁sentence｜>', USER = '<｜User｜>', ASSIST = '<｜Assistant｜>';
function countTokens(text) {
  const out = execFileSync(process.env.DS4_BIN, ['tokenize', '-m', process.env.DS4_MODEL, '--json', '-p', text]);
  return JSON.parse(out.toString()).ids.length;
}

const WEATHER_DSML = '\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name="get_weather">\n' +
  '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n' +
  '<｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>\n' +
  '</｜DSML｜invoke>\n</｜DSML｜tool_calls>';
const weatherParams = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } };

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test('models list', async () => {
  const page = await openai.models.list();
  assert.equal(page.data[0].id, 'deepseek-v4-flash');
});

let chatText;
test('chat non-stream, usage matches the tokenizer', async () => {
  const r = await openai.chat.completions.create({
    model: 'deepseek-chat', messages: [{ role: 'user', content: 'ROMEO:' }], max_tokens: 12, temperature: 0 });
  const m = r.choices[0].message;
  assert.equal(typeof m.content, 'string');
  assert.ok(m.content.length > 0);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 12);
  assert.equal(r.usage.prompt_tokens, countTokens(BOS + USER + 'ROMEO:' + ASSIST + '</think>'));
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  chatText = m.content;
});

test('chat stream with include_usage equals the non-stream reply', async () => {
  const stream = await openai.chat.completions.create({
    model: 'deepseek-chat', messages: [{ role: 'user', content: 'ROMEO:' }], max_tokens: 12, temperature: 0,
    stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usage = c.usage;
    if (c.choices.length) {
      text += c.choices[0].delta.content || '';
      if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
    }
  }
  assert.ok(chunks > 3);
  assert.equal(text, chatText);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 12);
});

test('chat stream helper (runner) final message', async () => {
  const runner = openai.beta.chat.completions.stream({
    model: 'deepseek-chat', messages: [{ role: 'user', content: 'ROMEO:' }], max_tokens: 12, temperature: 0 });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, chatText);
});

test('completions: raw text, usage matches the tokenizer', async () => {
  const r = await openai.completions.create({ model: 'x', prompt: 'ROMEO:', max_tokens: 10, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.ok(r.choices[0].text.length > 0);
  assert.equal(r.usage.prompt_tokens, countTokens(BOS + 'ROMEO:'));
  const s = await openai.completions.create({ model: 'x', prompt: 'ROMEO:', max_tokens: 10, temperature: 0, stream: true });
  let t = '';
  for await (const c of s) t += c.choices[0]?.text || '';
  assert.equal(t, r.choices[0].text);
});

test('responses non-stream and stream', async () => {
  const r = await openai.responses.create({ model: 'deepseek-chat', input: 'ROMEO:', max_output_tokens: 10, temperature: 0 });
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'incomplete');
  assert.ok(r.output_text.length > 0);
  assert.equal(r.usage.output_tokens, 10);
  const s = await openai.responses.create({ model: 'deepseek-chat', input: 'ROMEO:', max_output_tokens: 10, temperature: 0, stream: true });
  const types = [];
  let text = '';
  for await (const ev of s) {
    types.push(ev.type);
    assert.equal(ev.sequence_number, types.length - 1);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
  }
  assert.equal(types[0], 'response.created');
  assert.equal(types[1], 'response.in_progress');
  assert.equal(types[types.length - 1], 'response.incomplete');
  assert.equal(text, r.output_text);
  const helper = openai.responses.stream({ model: 'deepseek-chat', input: 'ROMEO:', max_output_tokens: 10, temperature: 0 });
  const fin = await helper.finalResponse();
  const finText = fin.output.filter(o => o.type === 'message').flatMap(o => o.content).map(c => c.text).join('');
  assert.equal(finText, r.output_text);
});

test('anthropic messages non-stream and stream', async () => {
  const m = await anthropic.messages.create({ model: 'deepseek-chat', max_tokens: 10, temperature: 0,
    messages: [{ role: 'user', content: 'ROMEO:' }] });
  assert.equal(m.type, 'message');
  assert.equal(m.stop_reason, 'max_tokens');
  assert.equal(m.usage.output_tokens, 10);
  const text = m.content.filter(b => b.type === 'text').map(b => b.text).join('');
  const stream = anthropic.messages.stream({ model: 'deepseek-chat', max_tokens: 10, temperature: 0,
    messages: [{ role: 'user', content: 'ROMEO:' }] });
  let streamed = '';
  stream.on('text', t => { streamed += t; });
  const fin = await stream.finalMessage();
  assert.equal(streamed, text);
  assert.equal(fin.stop_reason, 'max_tokens');
  assert.equal(fin.usage.output_tokens, 10);
});

test('anthropic count_tokens matches the tokenizer', async () => {
  const r = await anthropic.messages.countTokens({ model: 'deepseek-chat', system: 'Be brief.',
    messages: [{ role: 'user', content: 'ROMEO:' }] });
  assert.equal(r.input_tokens, countTokens(BOS + 'Be brief.' + USER + 'ROMEO:' + ASSIST + '</think>'));
});

test('anthropic thinking stream: thinking block then text', async () => {
  const stream = anthropic.messages.stream({ model: 'deepseek-reasoner', max_tokens: 8, temperature: 0,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    messages: [{ role: 'user', content: 'ROMEO:' }, { role: 'assistant', content: [{ type: 'thinking', thinking: 'x', signature: 's' }] }] });
  const fin = await stream.finalMessage();
  assert.ok(fin.content.length >= 1);
});

test('tool round trip: openai chat (non-stream and stream)', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: weatherParams } }];
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const r = await openai.chat.completions.create({ model: 'deepseek-chat', tools, max_tokens: 20, temperature: 0,
    messages: [...messages, { role: 'assistant', content: WEATHER_DSML }] });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  const call = r.choices[0].message.tool_calls[0];
  assert.match(call.id, /^call_[0-9a-f]{32}$/);
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', days: 3 });
  const runner = openai.beta.chat.completions.stream({ model: 'deepseek-chat', tools, max_tokens: 20, temperature: 0,
    messages: [...messages, { role: 'assistant', content: WEATHER_DSML }] });
  const fin = await runner.finalChatCompletion();
  assert.deepEqual(JSON.parse(fin.choices[0].message.tool_calls[0].function.arguments), { city: 'Paris', days: 3 });
  // the result goes back; the model answers in text
  const r2 = await openai.chat.completions.create({ model: 'deepseek-chat', tools, max_tokens: 8, temperature: 0,
    messages: [...messages, r.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' }] });
  assert.equal(r2.choices[0].finish_reason, 'length');
  assert.ok(r2.choices[0].message.content.length > 0);
  // the replayed tool turn renders byte-identical (exact DSML replay), so the
  // whole first prompt is reused from the live session
  assert.equal(r2.usage.prompt_tokens_details.cached_tokens, r.usage.prompt_tokens);
});

test('tool round trip: anthropic', async () => {
  const tools = [{ name: 'get_weather', description: 'weather', input_schema: weatherParams }];
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const stream = anthropic.messages.stream({ model: 'deepseek-chat', tools, max_tokens: 20, temperature: 0,
    messages: [...messages, { role: 'assistant', content: WEATHER_DSML }] });
  const m = await stream.finalMessage();
  assert.equal(m.stop_reason, 'tool_use');
  const use = m.content.find(b => b.type === 'tool_use');
  assert.match(use.id, /^toolu_[0-9a-f]{32}$/);
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, { city: 'Paris', days: 3 });
  const m2 = await anthropic.messages.create({ model: 'deepseek-chat', tools, max_tokens: 8, temperature: 0,
    messages: [...messages, { role: 'assistant', content: m.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny, 21C' }] }] });
  assert.equal(m2.stop_reason, 'max_tokens');
  assert.ok(m2.usage.cache_read_input_tokens > 0, JSON.stringify(m2.usage));
  // results alone that no longer answer the live turn: 409 in Anthropic's shape
  await assert.rejects(anthropic.messages.create({ model: 'deepseek-chat', tools, max_tokens: 4,
    messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] }] }),
    e => e.status === 409 && e.error?.type === 'error');
});

test('tool round trip: responses', async () => {
  const tools = [{ type: 'function', name: 'get_weather', parameters: weatherParams, strict: false }];
  const input = [{ role: 'user', content: 'Weather in Paris?' }];
  const r = await openai.responses.create({ model: 'deepseek-chat', tools, max_output_tokens: 20, temperature: 0,
    input: [...input, { role: 'assistant', content: WEATHER_DSML }] });
  const call = r.output.find(o => o.type === 'function_call');
  assert.ok(call, JSON.stringify(r.output));
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris', days: 3 });
  // only the result (as Codex sends it): the live tool turn continues
  // (source responses-tool-output: EOS, the result and the generation prefix)
  const output = { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21C' };
  const ro = await openai.responses.create({ model: 'deepseek-chat', tools, max_output_tokens: 4, temperature: 0,
    input: [output] });
  assert.equal(ro.status, 'incomplete');
  assert.equal(ro.usage.input_tokens_details.cached_tokens, r.usage.input_tokens);
  assert.ok(ro.usage.input_tokens > r.usage.input_tokens);
  // the live state moved on: the same results alone can no longer be placed
  await assert.rejects(openai.responses.create({ model: 'deepseek-chat', tools, max_output_tokens: 4, input: [output] }),
    e => e.status === 409 && /tool results/.test(e.message));
  // the full history after a fresh tool turn takes the same source
  const r1 = await openai.responses.create({ model: 'deepseek-chat', tools, max_output_tokens: 20, temperature: 0,
    input: [...input, { role: 'assistant', content: WEATHER_DSML }] });
  const call1 = r1.output.find(o => o.type === 'function_call');
  const r2 = await openai.responses.create({ model: 'deepseek-chat', tools, max_output_tokens: 8, temperature: 0,
    input: [...input, { type: 'function_call', call_id: call1.call_id, name: call1.name, arguments: call1.arguments },
      { type: 'function_call_output', call_id: call1.call_id, output: 'sunny, 21C' }] });
  assert.equal(r2.status, 'incomplete');
  assert.ok(r2.output_text.length > 0);
  assert.equal(r2.usage.input_tokens_details.cached_tokens, r1.usage.input_tokens);
});

test('responses: hidden reasoning of a tool turn keeps the live session (responses-visible)', async () => {
  const tools = [{ type: 'function', name: 'get_weather', parameters: weatherParams, strict: false }];
  const input = [{ role: 'user', content: 'Weather in Paris?' }];
  // a thinking tool turn (prefilled: reasoning, then the call); no summary
  // is requested, so the client never sees the reasoning
  const r = await openai.responses.create({ model: 'deepseek-reasoner', tools, max_output_tokens: 20,
    input: [...input, { type: 'reasoning', summary: [{ type: 'summary_text', text: 'Use the tool.' }] },
      { role: 'assistant', content: WEATHER_DSML }] });
  assert.ok(!r.output.some(o => o.type === 'reasoning'), JSON.stringify(r.output));
  const call = r.output.find(o => o.type === 'function_call');
  const r2 = await openai.responses.create({ model: 'deepseek-reasoner', tools, max_output_tokens: 4,
    input: [...input, { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
      { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21C' }] });
  assert.equal(r2.status, 'incomplete');
  assert.equal(r2.usage.input_tokens_details.cached_tokens, r.usage.input_tokens);
});

test('errors: 400 and 401 through the SDKs', async () => {
  await assert.rejects(openai.chat.completions.create({ model: 'x', messages: [{ role: 'wizard', content: 'x' }] }),
    e => e.status === 400 && /wizard/.test(e.message));
  await assert.rejects(anthropic.messages.create({ model: 'x', max_tokens: 5, messages: [] }),
    e => e.status === 400 && e.error?.type === 'error' && e.error?.error?.type === 'invalid_request_error');
  const bad = new OpenAI({ baseURL: URL_ + '/v1', apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), e => e.status === 401);
  const badA = new Anthropic({ baseURL: URL_, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(badA.messages.create({ model: 'x', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
    e => e.status === 401 && e.error?.error?.type === 'authentication_error');
});

test('a client that aborts a stream does not stall the server', async () => {
  const ac = new AbortController();
  const stream = await openai.chat.completions.create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'KING:' }],
    max_tokens: 2000, temperature: 0, stream: true }, { signal: ac.signal });
  let n = 0;
  try { for await (const c of stream) { if (++n === 3) ac.abort(); } } catch (e) { /* aborted */ }
  assert.ok(n >= 3); // chunks already buffered may still arrive after the abort
  const t0 = Date.now();
  const r = await openai.chat.completions.create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'ROMEO:' }], max_tokens: 2 });
  assert.equal(r.usage.completion_tokens, 2);
  assert.ok(Date.now() - t0 < 20000);
});

(async () => {
  let failed = 0;
  for (const [name, fn] of tests) {
    try { await fn(); console.log('ok   ' + name); }
    catch (e) { failed++; console.log('FAIL ' + name + '\n     ' + (e.stack || e).toString().split('\n').slice(0, 6).join('\n     ')); }
  }
  console.log(`${tests.length - failed}/${tests.length} passed`);
  process.exit(failed ? 1 : 0);
})();
