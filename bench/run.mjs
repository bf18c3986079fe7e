#!/usr/bin/env node
// npm run bench: builds bench/p11bench.c, sets up a throw-away SoftHSMv2 token
// and a throw-away Craton token store, runs p11bench against Craton (embedded
// runtime), Craton (process runtime) and SoftHSMv2, interleaved, for
// BENCH_ROUNDS rounds, and writes a Markdown table (medians, min-max) to
// bench/results/latest.md plus the raw data to bench/results/latest.json
// (only when the run had no failures, so a broken run never replaces good data).
//
// It reports numbers only: it never judges them. Exit status is 0 unless
// something failed to build, set up or run (or a PKCS#11 call returned an error).
//
// The find operations search two more throw-away tokens per module, filled
// once per run before the rounds (labelled bench-1k and bench-10k, holding
// 1,000 and 10,000 public data objects); the population time is reported too.
//
// The crypto operations (group "crypto") log in as the user and use an EC
// P-256 key pair, an RSA-2048 key pair and an AES-256 key: token objects made
// once per token before the rounds (p11bench --keygen; the time is reported),
// or with BENCH_KEYS=session, session objects each p11bench run generates at
// its start. The target for every crypto row is Craton embedded >= SoftHSMv2
// (printed met/MISSED, never enforced).
//
// Environment:
//   BENCH_ROUNDS    rounds per target (default 3)
//   BENCH_SECONDS   measured seconds per (operation, threads) (default 1.5)
//   BENCH_WARMUP    warm-up seconds before each measurement (default 0.3)
//   BENCH_THREADS   comma-separated thread counts (default 1,2)
//   BENCH_OPS       operations and/or groups (default: all): getinfo,session,random,digest
//                   (group "calls"), find1k,find10k (group "find"), create (group "create"),
//                   ecsign,ecverify,rsasign,rsaverify,gcm1k,gcm1m,digest,digest1m,ecgen,aesgen
//                   (group "crypto"; digest is in both calls and crypto, measured once)
//   BENCH_KEYS      token (default) or session: what the crypto keys are
//   BENCH_SPLIT     1: time the two calls of two-call ops separately (Init vs the call)
//                   and print the split under the table (adds two clock reads per op)
//   BENCH_POPULATE_BUDGET  seconds allowed for filling one find token per module
//                   (default 300); a token not full by then is used as it is, and
//                   the output says how many objects it holds
//   BENCH_TARGETS   subset of embedded,process,softhsm (default: all)
//   CRATON_HSM_MODULE   the Craton module (default build/libcraton_hsm.so)
//   SOFTHSM2_MODULE     the SoftHSMv2 module (default: searched in the usual places)
//   CC              C compiler (default cc)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const SOURCE = join(HERE, 'p11bench.c');
const BINARY = join(ROOT, 'build', 'bench', 'p11bench');
const RESULTS = join(HERE, 'results');
const SO_PIN = '12345678';
const USER_PIN = '1234';
const LABEL = 'bench';

const ROUNDS = positiveInt('BENCH_ROUNDS', 3);
const SECONDS = positiveNumber('BENCH_SECONDS', 1.5);
const WARMUP = nonNegativeNumber('BENCH_WARMUP', 0.3);
const THREADS = (process.env.BENCH_THREADS || '1,2').split(',').map((s) => Number(s.trim()));
const GROUPS = [
  { id: 'calls', title: 'Per-call overhead', ops: ['getinfo', 'session', 'random', 'digest'] },
  { id: 'find', title: 'Object search: find one data object by CKA_CLASS + CKA_LABEL (public token objects, no login)', ops: ['find1k', 'find10k'] },
  { id: 'create', title: 'Object creation: C_CreateObject of a token data object (C_DestroyObject not timed)', ops: ['create'] },
  { id: 'crypto', title: 'Crypto', ops: ['ecsign', 'ecverify', 'rsasign', 'rsaverify', 'gcm1k', 'gcm1m', 'digest', 'digest1m', 'ecgen', 'aesgen'] },
];
const OPS = [];
// Which rows the table shows: every row of a group named in BENCH_OPS, and an
// operation named on its own in the first group that has it (digest is in both
// calls and crypto: it is measured once and shown in each group selected).
const SELECTED_GROUPS = new Set();
const NAMED_OPS = new Set();
for (const name of (process.env.BENCH_OPS || GROUPS.map((g) => g.id).join(',')).split(',').map((s) => s.trim()).filter(Boolean)) {
  const group = GROUPS.find((g) => g.id === name);
  if (group) SELECTED_GROUPS.add(group.id);
  else NAMED_OPS.add(name);
  for (const op of group ? group.ops : [name]) if (!OPS.includes(op)) OPS.push(op);
}
const shownIn = (group, op) => OPS.includes(op) && (SELECTED_GROUPS.has(group.id) || (NAMED_OPS.has(op) && GROUPS.find((g) => g.ops.includes(op)) === group));
// The find tokens: their label suffix and how many objects they should hold.
const FIND_TOKENS = { find1k: { suffix: '-1k', objects: 1000 }, find10k: { suffix: '-10k', objects: 10000 } };
const POPULATE_BUDGET = positiveNumber('BENCH_POPULATE_BUDGET', 300);
const KEYS = process.env.BENCH_KEYS || 'token';
if (KEYS !== 'token' && KEYS !== 'session') fail('BENCH_KEYS must be token or session');
const SPLIT = !!process.env.BENCH_SPLIT && process.env.BENCH_SPLIT !== '0';
// Operations that use the crypto keys (and so log in); digest does not.
const KEYED_OPS = ['ecsign', 'ecverify', 'rsasign', 'rsaverify', 'gcm1k', 'gcm1m'];
const CRYPTO_OPS = [...KEYED_OPS, 'digest1m', 'ecgen', 'aesgen'];
// Input bytes per op, for MB/s (10^6 bytes per second) on the large rows.
const MIB = 1 << 20;
const OP_BYTES = { gcm1m: MIB, digest1m: MIB };
const CRATON_MODULE = resolve(process.env.CRATON_HSM_MODULE || join(ROOT, 'build', 'libcraton_hsm.so'));

const OP_TITLES = {
  getinfo: 'C_GetInfo',
  session: 'C_OpenSession + C_CloseSession',
  random: 'C_GenerateRandom (32 B)',
  digest: 'C_DigestInit + C_Digest (SHA-256, 64 B)',
  find1k: 'C_FindObjectsInit + C_FindObjects + C_FindObjectsFinal among 1,000 objects',
  find10k: 'C_FindObjectsInit + C_FindObjects + C_FindObjectsFinal among 10,000 objects',
  create: 'C_CreateObject (CKA_TOKEN=true, label, 64 B CKA_VALUE)',
  ecsign: 'ECDSA P-256 sign: C_SignInit + C_Sign (CKM_ECDSA, 32 B hash)',
  ecverify: 'ECDSA P-256 verify: C_VerifyInit + C_Verify (CKM_ECDSA, 32 B hash)',
  rsasign: 'RSA-2048 sign: C_SignInit + C_Sign (CKM_SHA256_RSA_PKCS, 64 B)',
  rsaverify: 'RSA-2048 verify: C_VerifyInit + C_Verify (CKM_SHA256_RSA_PKCS, 64 B)',
  gcm1k: 'AES-256-GCM encrypt 1 KiB: C_EncryptInit + C_Encrypt',
  gcm1m: 'AES-256-GCM encrypt 1 MiB: C_EncryptInit + C_Encrypt',
  digest1m: 'C_DigestInit + C_Digest (SHA-256, 1 MiB)',
  ecgen: 'C_GenerateKeyPair (EC P-256, session objects)',
  aesgen: 'C_GenerateKey (AES-256, session object)',
};
const ALL_TARGETS = [
  { id: 'embedded', title: 'Craton embedded' },
  { id: 'process', title: 'Craton process' },
  { id: 'softhsm', title: 'SoftHSMv2' },
];
const wanted = (process.env.BENCH_TARGETS || 'embedded,process,softhsm').split(',').map((s) => s.trim());
const TARGETS = ALL_TARGETS.filter((t) => wanted.includes(t.id));

function positiveInt(name, fallback) {
  const v = process.env[name] ? Number(process.env[name]) : fallback;
  if (!Number.isInteger(v) || v < 1) fail(`${name} must be a positive integer`);
  return v;
}
function positiveNumber(name, fallback) {
  const v = process.env[name] ? Number(process.env[name]) : fallback;
  if (!(v > 0)) fail(`${name} must be a positive number`);
  return v;
}
function nonNegativeNumber(name, fallback) {
  const v = process.env[name] ? Number(process.env[name]) : fallback;
  if (!(v >= 0)) fail(`${name} must be a non-negative number`);
  return v;
}
function fail(msg) {
  console.error(`bench: ${msg}`);
  process.exit(1);
}
function log(msg) {
  process.stderr.write(`bench: ${msg}\n`);
}

for (const t of THREADS) if (!Number.isInteger(t) || t < 1 || t > 256) fail('BENCH_THREADS must list integers from 1 to 256');
for (const op of OPS) if (!OP_TITLES[op]) fail(`unknown operation in BENCH_OPS: ${op} (operations: ${Object.keys(OP_TITLES).join(',')}; groups: ${GROUPS.map((g) => g.id).join(',')})`);
if (OPS.length === 0) fail('BENCH_OPS selects nothing');
if (TARGETS.length === 0) fail('BENCH_TARGETS selects nothing (use embedded,process,softhsm)');

// ------------------------------------------------------------------ helpers

function run(cmd, args, env, timeoutMs = 60_000) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: Math.ceil(timeoutMs), maxBuffer: 16 << 20 });
  return {
    code: r.error ? -1 : r.status ?? -1,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error ? String(r.error.message) : ''),
  };
}

function must(what, r) {
  if (r.code !== 0) fail(`${what} failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}):\n${r.stdout}${r.stderr}`);
  return r;
}

function findSoftHsm() {
  if (process.env.SOFTHSM2_MODULE) return process.env.SOFTHSM2_MODULE;
  const candidates = [
    '/usr/lib/softhsm/libsofthsm2.so',
    `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/softhsm/libsofthsm2.so`,
    '/usr/local/lib/softhsm/libsofthsm2.so',
    '/usr/lib64/pkcs11/libsofthsm2.so',
    '/opt/homebrew/lib/softhsm/libsofthsm2.so',
  ];
  return candidates.find((p) => existsSync(p)) ?? null;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const fmtInt = (x) => Math.round(x).toLocaleString('en-US');
function fmtRate(cell) {
  if (!cell) return 'n/a';
  if (cell.values.length === 1) return fmtInt(cell.median);
  return `${fmtInt(cell.median)} (${fmtInt(cell.min)}–${fmtInt(cell.max)})`;
}
function fmtRatio(a, b) {
  if (!a || !b || !b.median) return 'n/a';
  const r = a.median / b.median;
  const digits = r >= 10 ? 0 : r >= 1 ? 2 : Math.max(2, 1 - Math.floor(Math.log10(r)));
  const text = r.toFixed(Math.min(digits, 6));
  return r < 1 && r > 0 ? `${text} (1/${fmtInt(1 / r)})` : text;
}

function machineFacts(softhsmPath) {
  let cpu = 'unknown';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) cpu = m[1].trim();
  } catch {}
  if (cpu === 'unknown' && os.cpus()[0]) cpu = os.cpus()[0].model;
  const nproc = run('nproc', [], process.env).stdout.trim() || String(os.availableParallelism?.() ?? os.cpus().length);
  const git = run('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], process.env).stdout.trim();
  const dirty = run('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], process.env).stdout.trim() !== '';
  const softhsmVersion = softhsmPath ? run('softhsm2-util', ['--version'], process.env).stdout.trim() : '';
  return {
    date: new Date().toISOString(),
    nproc: Number(nproc),
    cpu,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    git: git ? `${git}${dirty ? ' (modified)' : ''}` : 'unknown',
    softhsm: softhsmVersion || null,
  };
}

// ------------------------------------------------------------------- build

function buildP11bench() {
  mkdirSync(dirname(BINARY), { recursive: true });
  const fresh = existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs;
  if (fresh) return;
  const cc = process.env.CC || 'cc';
  log(`building ${BINARY}`);
  must('compiling p11bench', run(cc, ['-O2', '-g', '-Wall', '-std=gnu11', '-pthread', '-o', BINARY, SOURCE, '-ldl'], process.env));
}

// ------------------------------------------------------------------- main

const failures = [];
const softhsmPath = TARGETS.some((t) => t.id === 'softhsm') ? findSoftHsm() : null;
if (TARGETS.some((t) => t.id === 'softhsm') && !softhsmPath) {
  failures.push('SoftHSMv2 not found (install softhsm2 or set SOFTHSM2_MODULE)');
  log(failures.at(-1));
}
const usesCraton = TARGETS.some((t) => t.id !== 'softhsm');
if (usesCraton && !existsSync(CRATON_MODULE)) fail(`${CRATON_MODULE} does not exist: run npm run build first`);

buildP11bench();
const facts = machineFacts(softhsmPath);
const tmp = mkdtempSync(join(os.tmpdir(), 'craton-bench-'));
const cleanup = () => rmSync(tmp, { recursive: true, force: true });
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

try {
  const findOps = OPS.filter((op) => FIND_TOKENS[op]);
  const tokenLabels = [LABEL, ...findOps.map((op) => LABEL + FIND_TOKENS[op].suffix)];

  // SoftHSMv2: its own config file and token directory.
  const softEnv = { ...process.env, SOFTHSM2_CONF: join(tmp, 'softhsm2.conf') };
  let softhsmReady = !!softhsmPath;
  if (softhsmPath) {
    mkdirSync(join(tmp, 'softhsm-tokens'));
    writeFileSync(
      softEnv.SOFTHSM2_CONF,
      `directories.tokendir = ${join(tmp, 'softhsm-tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
    );
    for (const label of tokenLabels) {
      const r = run('softhsm2-util', ['--module', softhsmPath, '--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', USER_PIN], softEnv);
      if (r.code !== 0) {
        failures.push(`softhsm2-util --init-token (${label}) failed: ${r.stderr.trim() || r.stdout.trim()}`);
        log(failures.at(-1));
        softhsmReady = false;
        break;
      }
    }
  }

  // Craton: a token store of its own (one slot per token), initialised through the module itself.
  const cratonConfig = join(tmp, 'craton_hsm.toml');
  writeFileSync(cratonConfig, `[slots]\ncount = ${tokenLabels.length}\n\n[storage]\npath = ${JSON.stringify(join(tmp, 'craton-tokens'))}\n`);
  const cratonEnv = (runtime) => ({ ...process.env, CRATON_HSM_CONFIG: cratonConfig, CRATON_HSM_RUNTIME: runtime });
  const cratonSetupRuntime = usesCraton ? TARGETS.find((t) => t.id !== 'softhsm').id : null;
  if (usesCraton) {
    for (const label of tokenLabels) {
      must(`initialising the Craton token ${label}`, run(BINARY, [CRATON_MODULE, '--init', '--label', label, '--so-pin', SO_PIN, '--pin', USER_PIN], cratonEnv(cratonSetupRuntime)));
    }
  }

  const plan = {
    embedded: { module: CRATON_MODULE, env: cratonEnv('embedded') },
    process: { module: CRATON_MODULE, env: cratonEnv('process') },
    softhsm: { module: softhsmReady ? softhsmPath : null, env: softEnv },
  };

  // Fill the find tokens once per module (Craton's two runtimes share one store),
  // smallest first, timing it. A module that is too slow is capped by the budget.
  const population = []; // { module, token, objects, created, seconds, ops_per_s, capped, count_seconds }
  const populateModules = [
    ...(usesCraton ? [{ id: 'craton', title: 'Craton', module: CRATON_MODULE, env: cratonEnv(cratonSetupRuntime), runtime: cratonSetupRuntime }] : []),
    ...(plan.softhsm.module && TARGETS.some((t) => t.id === 'softhsm') ? [{ id: 'softhsm', title: 'SoftHSMv2', module: softhsmPath, env: softEnv }] : []),
  ];
  for (const m of populateModules) {
    for (const op of findOps) {
      const { suffix, objects } = FIND_TOKENS[op];
      const token = LABEL + suffix;
      log(`filling ${m.title} token ${token} with ${fmtInt(objects)} data objects (budget ${POPULATE_BUDGET} s)`);
      const r = run(BINARY, [m.module, '--label', token, '--populate', String(objects), '--populate-budget', String(POPULATE_BUDGET), '--tag', m.id],
        m.env, (POPULATE_BUDGET + 120) * 1000);
      const line = r.stdout.split('\n').find((l) => l.trim());
      let rec = null;
      try {
        rec = line ? JSON.parse(line) : null;
      } catch {}
      if (r.code !== 0 || !rec) {
        failures.push(`${m.id}: filling ${token} failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}): ${r.stderr.trim()}`);
        log(failures.at(-1));
        if (m.id === 'softhsm') plan.softhsm.module = null;
        else fail(failures.join('\n'));
        break;
      }
      population.push({ module: m.id, runtime: m.runtime ?? null, ...rec });
      log(`  ${fmtInt(rec.created)} created in ${rec.seconds.toFixed(1)} s (${fmtInt(rec.ops_per_s)}/s), token holds ${fmtInt(rec.objects)}${rec.capped ? ' (CAPPED by BENCH_POPULATE_BUDGET)' : ''}`);
    }
  }

  // The crypto keys as token objects: made once per token (Craton's two runtimes share one store).
  const keygen = []; // { module, runtime, generated, ec_seconds, rsa_seconds, aes_seconds }
  if (KEYS === 'token' && OPS.some((op) => KEYED_OPS.includes(op))) {
    for (const m of populateModules) {
      if (m.id === 'softhsm' && !plan.softhsm.module) continue;
      const r = run(BINARY, [m.module, '--label', LABEL, '--pin', USER_PIN, '--keygen', '--tag', m.id], m.env, 300_000);
      const line = r.stdout.split('\n').find((l) => l.trim());
      let rec = null;
      try {
        rec = line ? JSON.parse(line) : null;
      } catch {}
      if (r.code !== 0 || !rec) {
        failures.push(`${m.id}: generating the crypto token keys failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}): ${r.stderr.trim()}`);
        log(failures.at(-1));
        if (m.id === 'softhsm') plan.softhsm.module = null;
        else fail(failures.join('\n'));
        continue;
      }
      keygen.push({ module: m.id, runtime: m.runtime ?? null, ...rec });
      log(`${m.title}: crypto token keys generated (EC P-256 ${(rec.ec_seconds * 1000).toFixed(1)} ms, RSA-2048 ${(rec.rsa_seconds * 1000).toFixed(1)} ms, AES-256 ${(rec.aes_seconds * 1000).toFixed(1)} ms)`);
    }
  }

  const perRun = OPS.length * THREADS.length * (SECONDS + WARMUP);
  log(`${ROUNDS} round(s) × ${TARGETS.length} target(s), about ${Math.ceil(perRun * ROUNDS * TARGETS.length)} s`);

  const samples = []; // { target, round, op, threads, ops_per_s, ... }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of TARGETS) {
      const p = plan[target.id];
      if (!p.module) continue;
      const args = [p.module, '--label', LABEL, '--seconds', String(SECONDS), '--warmup', String(WARMUP),
        '--threads', THREADS.join(','), '--ops', OPS.join(','), '--tag', target.id, '--pin', USER_PIN, '--keys', KEYS,
        ...(SPLIT ? ['--split'] : [])];
      // create destroys what it created after each measurement (untimed); allow for that.
      const r = run(BINARY, args, p.env, (perRun * 2 + 120) * 1000);
      for (const line of r.stdout.split('\n')) {
        if (!line.trim()) continue;
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          failures.push(`${target.id}: unparsable output line: ${line}`);
          continue;
        }
        if (rec.errors > 0) failures.push(`${target.id}: ${rec.call} with ${rec.threads} thread(s): ${rec.errors} error(s), first ${rec.first_error}${rec.first_error === '0x8b000001' ? ' (a find did not return exactly one object)' : ''}`);
        samples.push({ target: target.id, round, ...rec });
      }
      if (r.code !== 0) {
        failures.push(`${target.id}: p11bench exited ${r.code}${r.signal ? ` (${r.signal})` : ''} in round ${round}: ${r.stderr.trim()}`);
      }
      const got = samples.filter((s) => s.target === target.id && s.round === round);
      log(`round ${round}/${ROUNDS} ${target.title}: ` + got.map((s) => `${s.op}×${s.threads} ${fmtInt(s.ops_per_s)}/s`).join(', '));
    }
  }

  // ---------------------------------------------------------------- report
  const cell = (target, op, threads) => {
    const values = samples.filter((s) => s.target === target && s.op === op && s.threads === threads && s.errors === 0).map((s) => s.ops_per_s);
    if (values.length === 0) return null;
    return { values, median: median(values), min: Math.min(...values), max: Math.max(...values) };
  };
  // Objects a find token actually held, per target (differs from nominal only when capped).
  const heldBy = (target, op) => {
    const s = samples.find((x) => x.target === target && x.op === op && x.objects !== undefined);
    return s ? s.objects : null;
  };
  const opTitle = (op) => {
    if (!FIND_TOKENS[op]) return OP_TITLES[op];
    const notes = TARGETS.map((t) => [t, heldBy(t.id, op)])
      .filter(([, n]) => n !== null && n !== FIND_TOKENS[op].objects)
      .map(([t, n]) => `${t.title}: only ${fmtInt(n)}, population capped`);
    return OP_TITLES[op] + (notes.length ? ` (${notes.join('; ')})` : '');
  };
  const fmtCell = (c, op) => {
    const text = fmtRate(c);
    if (!c || !OP_BYTES[op]) return text;
    return `${text}; ${fmtInt((c.median * OP_BYTES[op]) / 1e6)} MB/s`;
  };
  const rows = [];
  for (const group of GROUPS) {
    for (const op of group.ops.filter((o) => shownIn(group, o))) {
      for (const threads of THREADS) {
        const c = Object.fromEntries(ALL_TARGETS.map((t) => [t.id, TARGETS.includes(t) ? cell(t.id, op, threads) : null]));
        rows.push({ group: group.id, op, threads, title: opTitle(op), cells: c });
      }
    }
  }
  const header = ['Operation', 'Threads', 'Craton embedded ops/s', 'Craton process ops/s', 'SoftHSMv2 ops/s', 'embedded / SoftHSM', 'process / SoftHSM'];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const group of GROUPS) {
    const groupRows = rows.filter((r) => r.group === group.id);
    if (groupRows.length === 0) continue;
    const groupTitle = group.id === 'crypto'
      ? `${group.title} (logged in as the user; sign, verify and GCM keys are ${KEYS === 'token' ? 'token objects made before the rounds' : 'session objects made at the start of each run'}; key generation makes session objects, destroyed untimed)`
      : group.title;
    lines.push(`| **${groupTitle}** |${' |'.repeat(header.length - 1)}`);
    for (const r of groupRows) {
      lines.push(`| ${r.title} | ${r.threads} | ${fmtCell(r.cells.embedded, r.op)} | ${fmtCell(r.cells.process, r.op)} | ${fmtCell(r.cells.softhsm, r.op)} | ${fmtRatio(r.cells.embedded, r.cells.softhsm)} | ${fmtRatio(r.cells.process, r.cells.softhsm)} |`);
    }
  }
  const table = lines.join('\n');

  // The project's targets for the object rows, as ratios of medians (reported, not enforced).
  const row = (op, threads) => rows.find((r) => r.op === op && r.threads === threads);
  const ratio = (a, b) => (a && b && b.median ? a.median / b.median : null);
  const targets = [];
  const t1 = THREADS.includes(1) ? 1 : THREADS[0];
  if (row('find1k', t1)) {
    targets.push({ name: `find among 1,000: Craton embedded / SoftHSMv2 (${t1} thread)`, want: 100,
      value: ratio(row('find1k', t1).cells.embedded, row('find1k', t1).cells.softhsm) });
  }
  if (row('find1k', t1) && row('find10k', t1)) {
    targets.push({ name: `find among 10,000 / find among 1,000, Craton embedded (${t1} thread)`, want: 0.5,
      value: ratio(row('find10k', t1).cells.embedded, row('find1k', t1).cells.embedded) });
  }
  if (row('create', t1)) {
    targets.push({ name: `create: Craton embedded / SoftHSMv2 (${t1} thread)`, want: 2,
      value: ratio(row('create', t1).cells.embedded, row('create', t1).cells.softhsm) });
  }
  for (const r of rows.filter((x) => x.group === 'crypto')) {
    targets.push({ name: `crypto: ${r.title}, ${r.threads} thread${r.threads > 1 ? 's' : ''}: Craton embedded / SoftHSMv2`, want: 1,
      value: ratio(r.cells.embedded, r.cells.softhsm) });
  }
  const fmtTargetValue = (v) => (v === null ? 'n/a' : v >= 10 ? v.toFixed(0) : v.toFixed(2));
  const targetLines = targets.map((t) =>
    `- ${t.name}: ${fmtTargetValue(t.value)}× (target ≥ ${t.want}×: ${t.value === null ? 'not measured' : t.value >= t.want ? 'met' : 'MISSED'})`);
  const keygenLines = keygen.map((k) =>
    `- ${k.module === 'craton' ? `Craton (${k.runtime})` : 'SoftHSMv2'}: EC P-256 key pair ${(k.ec_seconds * 1000).toFixed(1)} ms, RSA-2048 key pair ${(k.rsa_seconds * 1000).toFixed(1)} ms, AES-256 key ${(k.aes_seconds * 1000).toFixed(1)} ms (${k.generated} generated)`);
  // BENCH_SPLIT: median microseconds per op in the first (Init) and the second call.
  const splitLines = [];
  if (SPLIT) {
    const header2 = ['Operation', 'Threads', ...TARGETS.map((t) => `${t.title}: Init µs + call µs`)];
    splitLines.push(`| ${header2.join(' | ')} |`, `|${header2.map((_, i) => (i < 2 ? ' --- ' : ' ---: ')).join('|')}|`);
    for (const r of rows.filter((x, i, all) => all.findIndex((y) => y.op === x.op && y.threads === x.threads) === i)) {
      const parts = TARGETS.map((t) => {
        const ss = samples.filter((s) => s.target === t.id && s.op === r.op && s.threads === r.threads && s.init_us !== undefined);
        if (!ss.length) return 'n/a';
        return `${median(ss.map((s) => s.init_us)).toFixed(1)} + ${median(ss.map((s) => s.call_us)).toFixed(1)}`;
      });
      if (parts.every((p) => p === 'n/a')) continue;
      splitLines.push(`| ${r.title} | ${r.threads} | ${parts.join(' | ')} |`);
    }
  }
  const populationLines = population.map((p) =>
    `- ${p.module === 'craton' ? `Craton (${p.runtime})` : 'SoftHSMv2'}: token ${p.token} filled with ${fmtInt(p.created)} objects in ${p.seconds.toFixed(1)} s (${fmtInt(p.ops_per_s)} creates/s, one thread, one session), holds ${fmtInt(p.objects)}${p.capped ? `, CAPPED: BENCH_POPULATE_BUDGET=${POPULATE_BUDGET} s ran out` : ''}`);

  const md = [
    '# Craton HSM call-rate benchmark',
    '',
    `Median ops/s over ${ROUNDS} round(s), min–max in parentheses; ${SECONDS} s measured after ${WARMUP} s warm-up per cell. Ratios are of the medians. Produced by \`npm run bench\` (see bench/README.md).`,
    '',
    table,
    '',
    ...(targets.length ? ['Targets (ratios of the medians above):', '', ...targetLines, ''] : []),
    ...(population.length ? ['Find tokens, filled once per run before the rounds (one op of the find rows = C_FindObjectsInit({CKA_CLASS=CKO_DATA, CKA_LABEL}) + C_FindObjects + C_FindObjectsFinal, asserted to return exactly 1 object; all objects are CKO_DATA, so the label is what selects):', '', ...populationLines, ''] : []),
    ...(splitLines.length > 2 ? ['Per-call split (BENCH_SPLIT=1): median over the rounds of the mean wall-clock microseconds per op spent in the first call (C_*Init) and in the second (C_Sign, C_Verify, C_Encrypt, C_Digest), per thread:', '', ...splitLines, ''] : []),
    ...(keygen.length ? ['Crypto token keys, generated once per token before the rounds (p11bench --keygen, one C_GenerateKeyPair / C_GenerateKey each):', '', ...keygenLines, ''] : []),
    ...(OPS.some((op) => CRYPTO_OPS.includes(op)) ? ['Crypto rows: one op = both calls named; ECDSA signs a fixed 32-byte hash, RSA signs 64 bytes with CKM_SHA256_RSA_PKCS (the module hashes), verify checks a signature made before the measurement, GCM uses a fresh 12-byte IV per op, no AAD and a 128-bit tag; MB/s = 10^6 bytes of input per second. Private and secret keys are CKA_PRIVATE, CKA_SENSITIVE and not extractable.', ''] : []),
    ...(OPS.includes('create') ? ['Create rows: one op = one C_CreateObject of a public token data object with a unique label and a 64-byte CKA_VALUE in a R/W session per thread; the objects are destroyed after each measurement, untimed (C_DestroyObject is not counted).', ''] : []),
    `- Date: ${facts.date}`,
    `- Machine: ${facts.cpu}, ${facts.nproc} CPU(s), ${facts.kernel}, load average at start ${facts.loadavg.join(' ')}, at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `- Node.js: ${facts.node}`,
    `- Craton: ${CRATON_MODULE} (git ${facts.git})`,
    `- SoftHSMv2: ${softhsmPath ?? 'not found'}${facts.softhsm ? ` (${facts.softhsm}, file object store)` : ''}`,
    ...(failures.length ? ['', '**Failures:**', '', ...failures.map((f) => `- ${f}`)] : []),
    '',
  ].join('\n');

  process.stdout.write(`\n${md}\n`);
  if (failures.length) {
    // A partial run must not replace the last good results.
    log(`not updating ${join(RESULTS, 'latest.md')}: the run had failures`);
  } else {
    mkdirSync(RESULTS, { recursive: true });
    const json = {
      facts: { ...facts, loadavg_end: os.loadavg().map((x) => Number(x.toFixed(2))) },
      keygen,
      settings: { keys: KEYS, split: SPLIT, rounds: ROUNDS, seconds: SECONDS, warmup: WARMUP, threads: THREADS, ops: OPS, targets: TARGETS.map((t) => t.id), craton: CRATON_MODULE, softhsm: softhsmPath, populate_budget: POPULATE_BUDGET },
      groups: GROUPS.map((g) => ({ ...g, ops: g.ops.filter((o) => shownIn(g, o)) })).filter((g) => g.ops.length),
      targets,
      population,
      rows,
      samples,
    };
    writeFileSync(join(RESULTS, 'latest.md.tmp'), md);
    writeFileSync(join(RESULTS, 'latest.json.tmp'), JSON.stringify(json, null, 2) + '\n');
    renameSync(join(RESULTS, 'latest.md.tmp'), join(RESULTS, 'latest.md'));
    renameSync(join(RESULTS, 'latest.json.tmp'), join(RESULTS, 'latest.json'));
    log(`wrote ${join(RESULTS, 'latest.md')} and latest.json`);
  }
} finally {
  cleanup();
}

if (failures.length) {
  log(`${failures.length} failure(s):\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
