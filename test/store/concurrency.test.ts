/**
 * Many processes and threads on one SQLite token store, through the module
 * (concurrency_worker.c), for each transport: two processes with two threads
 * each create, find, read and destroy at once; a change committed by one
 * process is visible to the other's next C_FindObjectsInit / C_GetAttributeValue;
 * SQLITE_BUSY never reaches the caller (busy_timeout absorbs it); and two
 * cross-process races on one object: destroy vs C_SetAttributeValue, and
 * C_SetAttributeValue of different attributes (no resurrection, no lost update).
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/backends/libcrypto';
import { MODULE_PATH, ROOT, TRANSPORTS, initialisedToken, sandbox, type Sandbox, type Transport } from '../helpers/module';

const BUILD = join(ROOT, 'build');
const WORKER = join(BUILD, 'craton_store_concurrency_worker');
const EMBEDDER = join(BUILD, 'libcraton_embedder.so');
const STRESS_SECONDS = 8;
/** What the module logs when the store fails, and SQLite's words for a lock it could not get. */
const STORE_TROUBLE = /craton-hsm (error|warn): (?!POST: the integrity test was skipped)|SQLITE_BUSY|database is locked|database table is locked/i;

interface Worker {
  readonly lines: string[];
  /** Resolves once the worker printed "ready". */
  readonly ready: Promise<void>;
  /** Resolves when the worker exits (killed by the watchdog after `limitMs`). */
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  go(): void;
  /** Sends one driver command and resolves with the worker's one-line answer. */
  ask(command: string): Promise<string>;
}

function startWorker(env: NodeJS.ProcessEnv, args: string[], limitMs = 60_000): Worker {
  const child = spawn(WORKER, [MODULE_PATH, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  let partial = '';
  let stderr = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const l of parts) {
      lines.push(l);
      if (l === 'ready') onReady();
      else waiters.shift()?.(l);
    }
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  // The test's own watchdog: a deadlocked worker is killed and the test fails on its signal.
  const watchdog = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      onReady();
      for (const w of waiters.splice(0)) w('closed');
      resolve({ code, signal, stderr });
    });
  });
  return {
    lines,
    ready,
    done,
    go: () => child.stdin.write('go\n'),
    ask: (command: string) =>
      new Promise<string>((resolve) => {
        waiters.push(resolve);
        child.stdin.write(`${command}\n`);
      }),
  };
}

function summary(lines: string[]): Record<string, string> {
  const line = lines.find((l) => l.startsWith('summary '));
  expect(line, `no summary line; last lines:\n${lines.slice(-10).join('\n')}`).toBeDefined();
  return Object.fromEntries(line!.slice(8).split(' ').map((kv) => kv.split('=') as [string, string]));
}

function listLabels(env: NodeJS.ProcessEnv): string[] {
  const out = execFileSync(WORKER, [MODULE_PATH, 'list'], { env, encoding: 'latin1', timeout: 60_000 });
  const lines = out.split('\n');
  expect(lines.filter((l) => l.startsWith('error ')), out.slice(-2000)).toEqual([]);
  const labels = lines.filter((l) => l.startsWith('label ')).map((l) => l.slice(6));
  expect(lines).toContain(`count ${labels.length}`);
  return labels;
}

/** Runs stress workers in pairs (A<->B, C<->D, ...) and checks the token afterwards. */
async function stressPairs(env: NodeJS.ProcessEnv, names: string[], seconds: number): Promise<Record<string, string>[]> {
  const workers = names.map((name, i) => startWorker(env, ['stress', name, names[i ^ 1]!, String(seconds)], (seconds + 50) * 1000));
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) w.go();
  const results = await Promise.all(workers.map((w) => w.done));
  const created = new Set<string>();
  const destroyed = new Set<string>();
  const summaries: Record<string, string>[] = [];
  workers.forEach((w, i) => {
    const r = results[i]!;
    const context = `${names[i]}: exit ${r.code}/${r.signal}\n${w.lines.filter((l) => !/^(created|destroyed) /.test(l)).join('\n').slice(-3000)}\n${r.stderr.slice(-2000)}`;
    expect(w.lines.filter((l) => l.startsWith('error ')), context).toEqual([]);
    expect(r.signal, `${context}\n(killed: a deadlock?)`).toBeNull();
    expect(r.code, context).toBe(0);
    expect(r.stderr, context).not.toMatch(STORE_TROUBLE);
    const s = summary(w.lines);
    summaries.push(s);
    let nCreated = 0;
    let nDestroyed = 0;
    for (const l of w.lines) {
      if (l.startsWith('created ')) {
        const label = l.slice(8);
        expect(created.has(label), `${label} created twice`).toBe(false);
        created.add(label);
        nCreated++;
      } else if (l.startsWith('destroyed ')) {
        const label = l.slice(10);
        expect(created.has(label), `${label} destroyed but never created`).toBe(true);
        expect(destroyed.has(label), `${label} destroyed twice`).toBe(false);
        destroyed.add(label);
        nDestroyed++;
      }
    }
    expect([nCreated, nDestroyed]).toEqual([Number(s.created), Number(s.destroyed)]);
  });
  // The token holds exactly created minus destroyed, each label once.
  const labels = listLabels(env);
  const onToken = new Set(labels);
  expect(onToken.size, 'a label appears twice on the token').toBe(labels.length);
  const expected = [...created].filter((l) => !destroyed.has(l)).sort();
  const missing = expected.filter((l) => !onToken.has(l));
  const extra = labels.filter((l) => !created.has(l) || destroyed.has(l));
  expect({ missing: missing.slice(0, 20), extra: extra.slice(0, 20) }).toEqual({ missing: [], extra: [] });
  expect(labels.length).toBe(expected.length);
  return summaries;
}

beforeAll(() => {
  if (!existsSync(WORKER) && existsSync(join(BUILD, 'build.ninja'))) {
    execFileSync('cmake', ['--build', BUILD, '--target', 'craton_store_concurrency_worker'], { stdio: 'inherit' });
  }
}, 300_000);

const skipFor = (t: Transport) => !existsSync(MODULE_PATH) || (t === 'embedded' && !existsSync(EMBEDDER));

describe.each(TRANSPORTS)('token store under concurrency (%s transport)', (transport) => {
  let box: Sandbox | undefined;
  const fresh = async (init = true) => {
    box = sandbox(transport);
    if (init) await initialisedToken(box.env);
    expect(existsSync(WORKER), `${WORKER} is not built (cmake --build build --target craton_store_concurrency_worker)`).toBe(true);
    return box.env;
  };
  afterEach(() => {
    box?.cleanup();
    box = undefined;
  });

  it.skipIf(skipFor(transport))(
    `two processes x two threads for ${STRESS_SECONDS} s: every call OK, nothing lost or duplicated, no deadlock`,
    async () => {
      const env = await fresh();
      const started = Date.now();
      const summaries = await stressPairs(env, ['A', 'B'], STRESS_SECONDS);
      for (const s of summaries) {
        // Each process saw the other's objects, and read some of them.
        expect(Number(s.cross_seen), JSON.stringify(s)).toBeGreaterThan(0);
        expect(Number(s.cross_reads), JSON.stringify(s)).toBeGreaterThan(0);
      }
      console.log(
        `[${transport}] 2 processes x 2 threads, ${STRESS_SECONDS} s (${((Date.now() - started) / 1000).toFixed(1)} s with checks): ` +
          summaries
            .map(
              (s) =>
                `${s.name}: ${s.ops} ops, ${s.created} created (${(Number(s.created) / Number(s.seconds)).toFixed(0)}/s), ${s.destroyed} destroyed, ` +
                `${s.cross_finds} finds of the other's objects seeing ${s.cross_seen}, ${s.cross_reads} read, ${s.handle_invalid} CKR_OBJECT_HANDLE_INVALID`,
            )
            .join('; '),
      );
    },
    90_000,
  );

  it.skipIf(skipFor(transport))(
    "a change committed by one process is visible to the other's next find and read",
    async () => {
      const env = await fresh();
      const a = startWorker(env, ['driver']);
      const b = startWorker(env, ['driver']);
      await Promise.all([a.ready, b.ready]);
      const INVALID = `rv 0x${(0x82).toString(16)}`; // CKR_OBJECT_HANDLE_INVALID
      for (let i = 0; i < 10; i++) {
        const created = await a.ask(`create x-${i}`);
        expect(created).toMatch(/^ok \d+$/);
        const ha = created.slice(3);
        const foundB = await b.ask(`find x-${i}`);
        expect(foundB).toMatch(/^found 1 \d+$/);
        const hb = foundB.split(' ')[2]!;
        expect(await b.ask(`get ${hb}`)).toBe(`label x-${i}`);
        // A renames it: B's old handle reads the new label, B's next find sees only the new one.
        expect(await a.ask(`set ${ha} y-${i}`)).toBe('ok');
        expect(await b.ask(`get ${hb}`)).toBe(`label y-${i}`);
        expect(await b.ask(`find y-${i}`)).toBe(`found 1 ${hb}`);
        expect(await b.ask(`find x-${i}`)).toBe('found 0');
        // And back the other way.
        expect(await b.ask(`set ${hb} z-${i}`)).toBe('ok');
        expect(await a.ask(`get ${ha}`)).toBe(`label z-${i}`);
        expect(await a.ask(`find z-${i}`)).toBe(`found 1 ${ha}`);
        // B destroys it: gone for A's handle and A's next find.
        expect(await b.ask(`destroy ${hb}`)).toBe('ok');
        expect(await a.ask(`get ${ha}`)).toBe(INVALID);
        expect(await a.ask(`find z-${i}`)).toBe('found 0');
      }
      await a.ask('quit');
      await b.ask('quit');
      const [ra, rb] = await Promise.all([a.done, b.done]);
      expect([ra.code, rb.code]).toEqual([0, 0]);
      expect(ra.stderr + rb.stderr).not.toMatch(STORE_TROUBLE);
    },
    60_000,
  );

  it.skipIf(skipFor(transport))(
    'SQLITE_BUSY never surfaces: four writing processes, and four processes opening a fresh store at once',
    async () => {
      // (a) Four processes, two threads each, all writing: every commit fights for the one write lock.
      const env = await fresh();
      const summaries = await stressPairs(env, ['A', 'B', 'C', 'D'], 4);
      const total = summaries.reduce((n, s) => n + Number(s.created), 0);
      console.log(
        `[${transport}] 4 processes x 2 threads, 4 s: ${total} objects created, ` +
          summaries.map((s) => `${s.name} ${(Number(s.created) / Number(s.seconds)).toFixed(0)}/s`).join(', ') +
          ', no SQLITE_BUSY',
      );
      box!.cleanup();
      // (b) The first open of a token file (schema, WAL switch) by several processes at the same moment.
      for (let round = 0; round < 8; round++) {
        const env2 = await fresh(false);
        const workers = [0, 1, 2, 3].map(() => startWorker(env2, ['open'], 30_000));
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.go();
        const results = await Promise.all(workers.map((w) => w.done));
        workers.forEach((w, i) => {
          const context = `${w.lines.join('\n')}\n${results[i]!.stderr}`;
          expect(w.lines.at(-1), context).toMatch(/^ok 0x[0-9a-f]+$/);
          expect(results[i]!.code, context).toBe(0);
          expect(results[i]!.stderr, context).not.toMatch(STORE_TROUBLE);
        });
        box!.cleanup();
      }
    },
    90_000,
  );
});

/**
 * Read-modify-write races between processes on one object. Both races are
 * timing-dependent, so each runs for a few seconds; with the store as it is
 * they show up within the first second.
 */
describe('cross-process races on one object (embedded transport)', () => {
  let box: Sandbox | undefined;
  afterEach(() => {
    box?.cleanup();
    box = undefined;
  });

  async function pair(args: [string[], string[]]): Promise<[Worker, Worker]> {
    box = sandbox('embedded');
    await initialisedToken(box.env);
    const first = startWorker(box.env, args[0]);
    await first.ready;
    const second = startWorker(box.env, args[1]);
    await second.ready;
    first.go();
    second.go();
    const results = await Promise.all([first.done, second.done]);
    for (const [i, w] of [first, second].entries()) {
      expect(w.lines.filter((l) => l.startsWith('error ')), w.lines.slice(-10).join('\n')).toEqual([]);
      expect(results[i]!.code).toBe(0);
      expect(results[i]!.stderr).not.toMatch(STORE_TROUBLE);
    }
    return [first, second];
  }

  it.skipIf(skipFor('embedded'))(
    'an object destroyed by one process stays destroyed under a concurrent C_SetAttributeValue from another',
    async () => {
      const [destroyer, setter] = await pair([
        ['race', 'destroyer', '4'],
        ['race', 'setter', '4'],
      ]);
      const d = summary(destroyer.lines);
      const s = summary(setter.lines);
      console.log(`[race destroy/set] ${d.ok} objects destroyed (CKR_OK); setter: ${s.ok} sets OK, ${s.handle_invalid} CKR_OBJECT_HANDLE_INVALID; left on the token: ${d.left}`);
      expect(Number(d.ok)).toBeGreaterThan(50);
      // Every race object was destroyed with CKR_OK and nobody creates them again.
      expect(destroyer.lines.filter((l) => l.startsWith('left ')), 'destroyed objects came back').toEqual([]);
    },
    60_000,
  );

  it.skipIf(skipFor('embedded'))(
    'deterministic: a destroy committed while a C_SetAttributeValue waits for the write lock is not undone',
    async () => {
      box = sandbox('embedded');
      await initialisedToken(box.env);
      const w = startWorker(box.env, ['driver']);
      await w.ready;
      const h = (await w.ask('create victim')).split(' ')[1];
      // Another connection (standing in for another process's C_DestroyObject) takes the write lock...
      const sqlite = loadAddon<{ open(p: string, ro: boolean): unknown; exec(db: unknown, sql: string): void; close(db: unknown): void }>(
        undefined,
        'craton_sqlite.node',
      ).addon;
      const db = sqlite.open(join(box.dir, 'tokens', 'token-0.sqlite'), false);
      sqlite.exec(db, 'PRAGMA busy_timeout = 10000');
      sqlite.exec(db, 'BEGIN IMMEDIATE');
      // ...the set looks the object up and waits for the lock...
      const set = w.ask(`set ${h} renamed`);
      await new Promise((r) => setTimeout(r, 300));
      // ...and the object is destroyed (what SqliteTokenStore.deleteObject commits) before it gets it.
      sqlite.exec(db, 'DELETE FROM objects');
      sqlite.exec(db, 'UPDATE token SET change_seq = change_seq + 1');
      sqlite.exec(db, 'COMMIT');
      sqlite.close(db);
      const rv = await set;
      const found = await w.ask('find renamed');
      await w.ask('quit');
      await w.done;
      expect({ set: rv, found }).toEqual({ set: 'rv 0x82', found: 'found 0' });
    },
    30_000,
  );

  it.skipIf(skipFor('embedded'))(
    'C_SetAttributeValue of different attributes by two processes loses neither change',
    async () => {
      const [labeller, tagger] = await pair([
        ['lost-update', 'labeller', '3'],
        ['lost-update', 'tagger', '3'],
      ]);
      const l = summary(labeller.lines);
      const t = summary(tagger.lines);
      console.log(`[race set/set] labeller ${l.rounds} sets, ${l.lost} undone; tagger ${t.rounds} sets, ${t.lost} undone`);
      expect([...labeller.lines, ...tagger.lines].filter((x) => x.startsWith('lost ')), 'a committed C_SetAttributeValue was undone').toEqual([]);
    },
    60_000,
  );
});
