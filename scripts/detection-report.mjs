#!/usr/bin/env node
// detection-report.mjs - precision and recall of the guards' detectors, measured with `mcpgate scan`.
//
// usage: node scripts/detection-report.mjs [CORPUS_DIR] [--bin PATH]
//   CORPUS_DIR  default ../shared/corpora/dev relative to the repository root (see its SOURCES.md)
//   --bin PATH  the mcpgate binary (default $MCPGATE_BIN, else build/mcpgate)
//
// Datasets and how each is scored (docs/detection.md explains the choices):
//   pii        presidio_generated_small.json: labelled spans; a finding counts when it overlaps a labelled
//              span of its type (ipv4 and ipv6 are both IP_ADDRESS).
//   secrets    detect-secrets test_data files, line labels in tests/detection/detect-secrets-labels.json;
//              a line is flagged when a finding covers any of it.
//   injection  BIPIA text and code attack strings (positives) against BIPIA's benign e-mails and the
//              presidio texts (negatives); a document is flagged when it has an injection finding.
//   own cases  tests/detection/cases.jsonl: texts with their expected findings (type + matched text).
// Texts of one dataset are scanned in one process, joined by blank lines, and findings are mapped
// back to their text by byte offset: the database is compiled once per run, not once per text.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let bin = process.env.MCPGATE_BIN || path.join(root, 'build', 'mcpgate');
let corpus = path.resolve(root, '..', 'shared', 'corpora', 'dev');
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--bin') bin = path.resolve(args[++i]);
  else if (args[i] === '-h' || args[i] === '--help') {
    console.log('usage: node scripts/detection-report.mjs [CORPUS_DIR] [--bin PATH]');
    process.exit(0);
  } else corpus = path.resolve(args[i]);
}

const SEPARATOR = '\n\n\n';

// Scans each of `texts` for `kind`; returns one list of findings per text, offsets relative to it.
function scanAll(texts, kind) {
  const starts = [];
  let at = 0;
  for (const text of texts) {
    starts.push(at);
    at += Buffer.byteLength(text) + SEPARATOR.length;
  }
  const input = texts.join(SEPARATOR);
  const run = spawnSync(bin, ['scan', '--kind', kind, '-'], { input, maxBuffer: 1 << 28 });
  if (run.error || (run.status !== 0 && run.status !== 1))
    throw new Error(`mcpgate scan failed (${run.status}): ${run.error ?? run.stderr.toString()}`);
  const found = texts.map(() => []);
  for (const line of run.stdout.toString().split('\n')) {
    if (!line) continue;
    const finding = JSON.parse(line);
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= finding.offset) lo = mid;
      else hi = mid - 1;
    }
    found[lo].push({ ...finding, offset: finding.offset - starts[lo] });
  }
  return found;
}

const overlaps = (a, b) => a.start < b.end && b.start < a.end;
const byteOffset = (text, chars) => Buffer.byteLength([...text].slice(0, chars).join(''));
const ratio = (n, d) => (d === 0 ? 'n/a' : (n / d).toFixed(2));

function counter(table, type) {
  return (table[type] ??= { tp: 0, fp: 0, fn: 0, labelled: 0, found: 0 });
}

function printTable(title, table, note) {
  console.log(`\n### ${title}\n`);
  if (note) console.log(`${note}\n`);
  console.log('| detector | labelled | found | true pos. | false pos. | missed | precision | recall |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const [type, c] of Object.entries(table).sort()) {
    const recall = c.labelled === undefined || c.labelled === 0 ? 'n/a' : ratio(c.labelled - c.fn, c.labelled);
    console.log(`| ${type} | ${c.labelled || 0} | ${c.found} | ${c.tp} | ${c.fp} | ${c.fn} | ${ratio(c.tp, c.tp + c.fp)} | ${recall} |`);
  }
}

// ---- pii: presidio spans -------------------------------------------------------------------------
const presidio = JSON.parse(readFileSync(path.join(corpus, 'presidio_generated_small.json'), 'utf8'));
const presidioTypes = { EMAIL_ADDRESS: 'email', CREDIT_CARD: 'card_number', US_SSN: 'us_ssn', PHONE_NUMBER: 'phone', IP_ADDRESS: 'ip', IBAN_CODE: 'iban' };
const group = (type) => (type === 'ipv4' || type === 'ipv6' ? 'ip' : type);
{
  const table = {};
  for (const type of Object.values(presidioTypes)) counter(table, type);
  const found = scanAll(presidio.map((d) => d.full_text), 'pii');
  presidio.forEach((doc, i) => {
    const labels = doc.spans
      .filter((s) => presidioTypes[s.entity_type])
      .map((s) => ({ type: presidioTypes[s.entity_type], start: byteOffset(doc.full_text, s.start_position), end: byteOffset(doc.full_text, s.end_position) }));
    const predictions = found[i].map((f) => ({ type: group(f.type), start: f.offset, end: f.offset + f.length }));
    for (const p of predictions) {
      const c = counter(table, p.type);
      c.found++;
      if (labels.some((l) => l.type === p.type && overlaps(l, p))) c.tp++;
      else c.fp++;
    }
    for (const l of labels) {
      const c = counter(table, l.type);
      c.labelled++;
      if (!predictions.some((p) => p.type === l.type && overlaps(l, p))) c.fn++;
    }
  });
  printTable('Personal data: presidio-research generated_small.json (100 texts, span overlap)', table,
    'Types presidio labels that mcpgate has no detector for (PERSON, ADDRESS, LOCATION, ORGANIZATION, DATE_TIME, DOMAIN_NAME, US_DRIVER_LICENSE, TITLE) are left out.');
}

// ---- secrets: detect-secrets test_data, line labels -----------------------------------------------
{
  const labels = JSON.parse(readFileSync(path.join(root, 'tests', 'detection', 'detect-secrets-labels.json'), 'utf8')).files;
  const files = Object.keys(labels);
  const texts = files.map((f) => readFileSync(path.join(corpus, 'test_data', f), 'utf8'));
  const found = scanAll(texts, 'secrets');
  const table = {};
  const all = { tp: 0, fp: 0, fn: 0, labelled: 0, found: 0 };
  files.forEach((file, i) => {
    const text = Buffer.from(texts[i]);
    const lineStarts = [0];
    for (let b = 0; b < text.length; b++) if (text[b] === 0x0a) lineStarts.push(b + 1);
    const lineOf = (offset) => {
      let line = 0;
      while (line + 1 < lineStarts.length && lineStarts[line + 1] <= offset) line++;
      return line + 1;
    };
    const positive = new Set(labels[file]);
    const flagged = new Set();
    for (const f of found[i]) {
      const lines = new Set();
      for (let l = lineOf(f.offset); l <= lineOf(f.offset + f.length - 1); l++) lines.add(l);
      const c = counter(table, f.type);
      for (const l of lines) {
        c.found++;
        if (positive.has(l)) c.tp++;
        else c.fp++;
        flagged.add(l);
      }
    }
    for (const l of flagged) {
      all.found++;
      if (positive.has(l)) all.tp++;
      else all.fp++;
    }
    for (const l of positive) {
      all.labelled++;
      if (!flagged.has(l)) all.fn++;
    }
  });
  for (const c of Object.values(table)) c.labelled = undefined;
  table['(all secret detectors)'] = all;
  printTable(`Secrets: detect-secrets test_data (${files.length} files, lines)`, table,
    'Per detector: lines it flagged and how many of them are labelled secrets (recall is only meaningful for all detectors together: the labels do not say which detector should fire).');
}

// ---- injection: BIPIA attacks against benign e-mails and presidio texts ---------------------------
{
  const attacks = [];
  for (const [file, label] of [['text_attack_train.json', 'text'], ['code_attack_train.json', 'code']]) {
    const byCategory = JSON.parse(readFileSync(path.join(corpus, 'benchmark', file), 'utf8'));
    for (const strings of Object.values(byCategory)) for (const s of strings) attacks.push({ text: s, label });
  }
  const emails = readFileSync(path.join(corpus, 'benchmark', 'email', 'train.jsonl'), 'utf8')
    .split('\n').filter(Boolean).map((l) => JSON.parse(l).context);
  const benign = [...emails, ...presidio.map((d) => d.full_text)];
  const foundAttacks = scanAll(attacks.map((a) => a.text), 'injection');
  const foundBenign = scanAll(benign, 'injection');
  const table = {};
  const flaggedIn = (found, c, key) => found.forEach((list) => {
    for (const type of new Set(list.map((f) => f.type))) counter(table, type)[key]++;
  });
  flaggedIn(foundAttacks, null, 'tp');
  flaggedIn(foundBenign, null, 'fp');
  const all = { tp: 0, fp: 0, fn: 0, labelled: attacks.length, found: 0 };
  foundAttacks.forEach((list) => (list.length > 0 ? all.tp++ : all.fn++));
  foundBenign.forEach((list) => list.length > 0 && all.fp++);
  for (const c of Object.values(table)) {
    c.found = c.tp + c.fp;
    c.labelled = undefined;
  }
  for (const label of ['text', 'code']) {
    const subset = foundAttacks.filter((_, i) => attacks[i].label === label);
    table[`(all, BIPIA ${label} attacks only)`] = { tp: subset.filter((l) => l.length).length, fp: all.fp, fn: subset.filter((l) => !l.length).length, labelled: subset.length, found: subset.filter((l) => l.length).length + all.fp };
  }
  all.found = all.tp + all.fp;
  table['(all injection detectors)'] = all;
  printTable(`Injection: BIPIA attacks (${attacks.length} positives) vs. BIPIA e-mails + presidio texts (${benign.length} negatives), per document`, table,
    'Per detector: documents it fired on (true pos. = attack strings, false pos. = benign texts).');
}

// ---- the project's own labelled cases ------------------------------------------------------------
{
  const cases = readFileSync(path.join(root, 'tests', 'detection', 'cases.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const found = scanAll(cases.map((c) => c.text), 'all');
  const table = {};
  cases.forEach((item, i) => {
    const expected = item.expected.map((e) => {
      const chars = item.text.indexOf(e.match);
      if (chars < 0) throw new Error(`tests/detection/cases.jsonl line ${i + 1}: "${e.match}" is not in the text`);
      const start = Buffer.byteLength(item.text.slice(0, chars));
      return { type: e.type, start, end: start + Buffer.byteLength(e.match) };
    });
    const predictions = found[i].map((f) => ({ type: f.type, start: f.offset, end: f.offset + f.length }));
    for (const p of predictions) {
      const c = counter(table, p.type);
      c.found++;
      if (expected.some((e) => e.type === p.type && overlaps(e, p))) c.tp++;
      else c.fp++;
    }
    for (const e of expected) {
      const c = counter(table, e.type);
      c.labelled++;
      if (!predictions.some((p) => p.type === e.type && overlaps(e, p))) c.fn++;
    }
  });
  printTable(`Own labelled cases: tests/detection/cases.jsonl (${cases.length} texts, span overlap, all kinds)`, table);
}
