// Compares ds4's token ids with the reference implementation (Hugging Face
// tokenizers) on a corpus.
//
//   node tokenizer_check.js TOKENIZER_JSON CORPUS_JSONL DS4_OUTPUT_JSONL [TEXT_FILE DS4_IDS]
//
// CORPUS_JSONL: one {"text": ...} or {"hex": ...} per line (hex = raw bytes,
// possibly invalid UTF-8; they reach the reference as Buffer.toString('utf8'),
// which replaces each maximal invalid subpart by U+FFFD, the rule ds4 uses).
// DS4_OUTPUT_JSONL: `ds4 tokenize --batch CORPUS_JSONL --roundtrip` output,
// one {"ids": [...], "text": ...} per corpus line. Both the ids and the
// decoded text must match exactly. TEXT_FILE / DS4_IDS: a whole file and
// `ds4 tokenize -f TEXT_FILE` output (comma-separated ids), compared as one
// text. Exit status 0 only when everything matches.
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

function readJsonl(path) {
  return fs.readFileSync(path, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
}

function textOf(entry) {
  if (typeof entry === 'string') return entry;
  if (entry.hex !== undefined) return Buffer.from(entry.hex, 'hex').toString('utf8');
  return entry.text;
}

function show(s) {
  const j = JSON.stringify(s);
  return j.length > 160 ? j.slice(0, 160) + '…' : j;
}

async function main() {
  const [tokPath, corpusPath, oursPath] = process.argv.slice(2);
  if (!oursPath) {
    console.error('usage: node tokenizer_check.js TOKENIZER_JSON CORPUS_JSONL DS4_OUTPUT_JSONL');
    process.exit(2);
  }
  const tok = Tokenizer.fromFile(tokPath);
  const corpus = readJsonl(corpusPath);
  const ours = readJsonl(oursPath);
  if (ours.length !== corpus.length) {
    console.error(`ds4 produced ${ours.length} lines for ${corpus.length} corpus entries`);
    process.exit(1);
  }
  let idOk = 0, rtOk = 0, shown = 0, tokens = 0;
  for (let i = 0; i < corpus.length; i++) {
    const text = textOf(corpus[i]);
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const ref = Array.from(enc.getIds());
    tokens += ref.length;
    const got = ours[i].ids;
    const same = ref.length === got.length && ref.every((v, k) => v === got[k]);
    if (same) idOk++;
    else if (shown++ < 10) {
      let k = 0;
      while (k < ref.length && ref[k] === got[k]) k++;
      console.log(`ID MISMATCH line ${i + 1}: ${show(text)}\n  ref:  ${JSON.stringify(ref.slice(k, k + 12))} ` +
        `(from token ${k})\n  ds4:  ${JSON.stringify(got.slice(k, k + 12))}`);
    }
    if (ours[i].text === undefined || ours[i].text === text) rtOk++;
    else if (shown++ < 10) console.log(`ROUND-TRIP MISMATCH line ${i + 1}: ${show(text)} -> ${show(ours[i].text)}`);
  }
  const n = corpus.length;
  console.log(`${tokPath}: ids exact ${idOk}/${n} (${(100 * idOk / n).toFixed(2)}%), ` +
    `round-trip ${rtOk}/${n}, ${tokens} reference tokens`);
  let fileOk = true;
  const [textFile, idsFile] = process.argv.slice(5);
  if (textFile) {
    const text = fs.readFileSync(textFile, 'utf8');
    const t0 = Date.now();
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const secs = (Date.now() - t0) / 1000;
    const ref = Array.from(enc.getIds());
    const got = fs.readFileSync(idsFile, 'utf8').trim().split(',').map(Number);
    let k = 0;
    while (k < ref.length && ref[k] === got[k]) k++;
    fileOk = k === ref.length && got.length === ref.length;
    console.log(`${textFile}: ${fileOk ? 'identical' : `DIFFERS at token ${k}`} (${ref.length} reference ` +
      `tokens, ${got.length} from ds4; reference took ${secs.toFixed(2)} s)`);
  }
  process.exit(idOk === n && rtOk === n && fileOk ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
