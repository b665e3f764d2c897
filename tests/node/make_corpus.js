// Writes tests/tokenizer/corpus.jsonl, the tokenizer exactness corpus: one
// JSON object per line, {"text": "..."} or {"hex": "..."} for raw bytes that
// are not valid UTF-8. Deterministic (seeded PRNG); rerun after editing:
//   node tests/node/make_corpus.js > tests/tokenizer/corpus.jsonl
'use strict';
const P = require('./corpus_parts.js');

const out = [];
const seen = new Set();
function add(s) {
  if (typeof s !== 'string' || seen.has(s)) return;
  seen.add(s);
  out.push({ text: s });
}
function addHex(hex) {
  if (seen.has('hex:' + hex)) return;
  seen.add('hex:' + hex);
  out.push({ hex });
}

// xorshift32: reproducible pseudo-random choices.
let state = 0x9e3779b9;
function rnd(n) {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state % n;
}
function pick(a) { return a[rnd(a.length)]; }

// 1. Prose: whole paragraphs, then each sentence on its own.
for (const lang of [P.english, P.italian, P.chinese, P.japanese]) {
  for (const para of lang) {
    add(para);
    for (const s of para.split(/(?<=[.!?。！？])\s*/u)) if (s.length > 1) add(s);
  }
}

// 2. Source code: whole snippets and line by line (indentation, operators).
for (const code of P.code) {
  add(code);
  for (const line of code.split('\n')) if (line.trim().length) add(line);
}

// 3. Digits and numbers.
for (const s of P.numbers) add(s);
for (let len = 1; len <= 24; len++) {
  let d = '';
  for (let i = 0; i < len; i++) d += String(rnd(10));
  add(d);
  add('x' + d + 'y');
  add(' ' + d + ' ');
}

// 4. Whitespace runs and mixed newlines.
const ws = [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\r\n', '\r\n\r\n', '\r', ' \n', '\n ', ' \t\n',
  '\u00a0', '\u3000', '\u2003', '\u2028', '\u0085', '\u000b', '\u000c', '\u180e', '\u200b', '\ufeff'];
for (const w of ws) {
  add(w);
  add('a' + w + 'b');
  add('word' + w);
  add(w + 'word');
  add('x' + w + w + 'y');
  add('1' + w + '2');
  add('.' + w + ',');
}
for (let i = 0; i < 40; i++) {
  let s = '';
  const n = 2 + rnd(8);
  for (let k = 0; k < n; k++) s += pick(ws) + pick(['', 'a', 'Word', '1', '!', '中', '\u00e9', '']);
  add(s);
}

// 5. Emoji and other 4-byte UTF-8, scripts, combining marks.
for (const s of P.unicode) add(s);

// 5b. Characters newer than Unicode 14 in a few contexts.
for (const cp of P.newerCodePoints) {
  const c = String.fromCodePoint(cp);
  add('a' + c + 'b');
  add(' ' + c + ' x');
  add(c + c + '1');
}

// 6. Special tokens embedded in text (and near-misses).
const specials = ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜User｜>', '<｜Assistant｜>',
  '<think>', '</think>', '｜DSML｜', '<｜▁pad▁｜>', '<|EOT|>', '<｜fim▁hole｜>', '<｜tool▁sep｜>',
  '<｜place▁holder▁no▁7｜>'];
for (const sp of specials) {
  add(sp);
  add('Hello' + sp + 'world');
  add(' ' + sp + ' ');
  add(sp + sp);
  add('\n' + sp + '\n');
  add(sp.slice(0, sp.length - 1));           // truncated: not a special token
  add('x' + sp.slice(1));                     // missing its first character
}
for (const s of P.chats) add(s);

// 7. Random mixtures of everything above (short).
const atoms = ['the', ' The', 'città', ' perché', '中文', '日本語', 'ひらがな', 'カタカナ', '한국어', '123',
  '4567', '3.14', '-', '--', '...', '!', '?!', '"', "'s", "'ll", '(', ')', '{', '}', '[', ']', '<', '>',
  '=>', '::', '#', '$', '%', '&', '*', '+', '_', '__init__', '@', '\\', '/', '|', '~', '`', '^', ' ', '  ',
  '\n', '\r\n', '\t', '😀', '👍🏽', '🇮🇹', '𝔘𝔫𝔦', '𐍈', 'é', 'e\u0301', 'ß', 'İ', 'ﬁ', 'Ⅻ', '½', '²',
  '٣', '४', '<think>', '<｜User｜>', 'ALLCAPS', 'camelCase', 'snake_case', 'http://x.y/z?q=1'];
for (let i = 0; i < 150; i++) {
  let s = '';
  const n = 1 + rnd(12);
  for (let k = 0; k < n; k++) s += pick(atoms);
  add(s);
}

// 8. Invalid UTF-8 (raw bytes): replaced by U+FFFD per maximal subpart.
for (const h of P.invalidHex) addHex(h);

for (const o of out) process.stdout.write(JSON.stringify(o) + '\n');
process.stderr.write(`corpus: ${out.length} entries\n`);
