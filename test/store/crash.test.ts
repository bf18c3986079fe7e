/**
 * Crash safety of the SQLite token store: a C writer (crash_writer.c, embedded
 * transport, so the runtime dies with it) creates, rewrites and destroys public
 * token objects and is SIGKILLed at a random moment, at least 200 times. After
 * every kill the store must open cleanly and hold exactly the acknowledged
 * changes: nothing acknowledged lost, nothing destroyed back, no half-made
 * object. The one change in flight at the kill may or may not be there, but
 * only whole. Checked by the next writer's own pass over the token (through the
 * module) and, every few kills, by opening the file directly with SqliteTokenStore
 * plus PRAGMA integrity_check.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKO } from '../../src/generated/constants';
import { loadAddon, loadLibcryptoBackend } from '../../src/backends/libcrypto';
import { SqliteTokenStore } from '../../src/store/sqlite-token-store';
import { MODULE_PATH, ROOT, initialisedToken, sandbox, type Sandbox } from '../helpers/module';

const BUILD = join(ROOT, 'build');
const WRITER = join(BUILD, 'craton_store_crash_writer');
const EMBEDDER = join(BUILD, 'libcraton_embedder.so');
const KILLS = Number(process.env.CRATON_CRASH_KILLS ?? 200);
/** The loop gives up (and fails) rather than run away on a slow machine. */
const LOOP_BUDGET_MS = 150_000;
/** Every this many kills the test also opens the file itself. */
const DIRECT_CHECK_EVERY = 5;

/** Same pattern as pattern_len/pattern_fill in p11util.h. */
function pattern(n: number, k: number): Uint8Array {
  const len = 1 + ((n * 37 + k * 101) % 3000);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (n * 31 + k * 17 + i * 7 + (i >> 8)) & 0xff;
  return out;
}

function parseLabel(label: string): { n: number; k: number } | null {
  const m = /^obj-(\d+)(?:-r(\d+))?$/.exec(label);
  return m ? { n: Number(m[1]), k: m[2] === undefined ? 0 : Number(m[2]) } : null;
}

type Pending = { op: 'create' | 'destroy'; n: number } | { op: 'set'; n: number; k: number } | null;

interface Seen {
  k: number;
  uid: string;
}

/** What the writer acknowledged, and the one change it had announced but not acknowledged. */
class Model {
  readonly live = new Map<number, number>(); // n -> revision k
  readonly uid = new Map<number, string>();
  readonly destroyed = new Set<number>();
  pending: Pending = null;
  nextN = 1;
  acks = 0;
  inFlightPresent = 0;
  inFlightAbsent = 0;

  line(l: string): void {
    const w = l.split(' ');
    const n = Number(w[w[0] === 'begin' ? 2 : 1]);
    switch (w[0]) {
      case 'begin':
        expect(this.pending, `a second change began before the first was acknowledged: ${l}`).toBeNull();
        this.pending = w[1] === 'set' ? { op: 'set', n, k: Number(w[3]) } : { op: w[1] as 'create' | 'destroy', n };
        if (w[1] === 'create') this.nextN = Math.max(this.nextN, n + 1);
        return;
      case 'created':
        expect(this.pending).toEqual({ op: 'create', n });
        this.live.set(n, 0);
        break;
      case 'set':
        expect(this.pending).toEqual({ op: 'set', n, k: Number(w[2]) });
        this.live.set(n, Number(w[2]));
        break;
      case 'destroyed':
        expect(this.pending).toEqual({ op: 'destroy', n });
        this.live.delete(n);
        this.destroyed.add(n);
        break;
      default:
        throw new Error(`unexpected writer line: ${l}`);
    }
    this.pending = null;
    this.acks++;
  }

  /**
   * Checks what is on the token against the model. The change in flight at
   * the kill is settled here: whichever way it went, it becomes acknowledged.
   */
  check(seen: Map<number, Seen>, where: string): void {
    const p = this.pending;
    if (p) {
      const s = seen.get(p.n);
      if (p.op === 'create') {
        if (s) {
          expect(s.k, `${where}: in-flight create of ${p.n} came back as revision ${s.k}`).toBe(0);
          this.live.set(p.n, 0);
        }
      } else if (p.op === 'set') {
        expect(s, `${where}: object ${p.n} vanished while a set was in flight`).toBeDefined();
        expect([p.k - 1, p.k], `${where}: object ${p.n} has revision ${s?.k} after an in-flight set to ${p.k}`).toContain(s?.k);
        this.live.set(p.n, s!.k);
      } else if (!s) {
        this.live.delete(p.n);
        this.destroyed.add(p.n);
      }
      if (s) this.inFlightPresent++;
      else this.inFlightAbsent++;
      this.pending = null;
    }
    for (const [n, s] of seen) {
      expect(this.destroyed.has(n), `${where}: destroyed object ${n} is back`).toBe(false);
      expect(this.live.has(n), `${where}: object ${n} was never acknowledged (and was not in flight)`).toBe(true);
      expect(s.k, `${where}: object ${n} has revision ${s.k}, acknowledged ${this.live.get(n)}`).toBe(this.live.get(n));
      const uid = this.uid.get(n);
      if (uid === undefined) this.uid.set(n, s.uid);
      else expect(s.uid, `${where}: object ${n} changed its CKA_UNIQUE_ID`).toBe(uid);
    }
    for (const n of this.live.keys()) expect(seen.has(n), `${where}: acknowledged object ${n} (revision ${this.live.get(n)}) is missing`).toBe(true);
  }
}

const DATA_ATTRIBUTES = [
  CKA.CKA_CLASS,
  CKA.CKA_TOKEN,
  CKA.CKA_PRIVATE,
  CKA.CKA_MODIFIABLE,
  CKA.CKA_COPYABLE,
  CKA.CKA_DESTROYABLE,
  CKA.CKA_LABEL,
  CKA.CKA_UNIQUE_ID,
  CKA.CKA_APPLICATION,
  CKA.CKA_OBJECT_ID,
  CKA.CKA_VALUE,
].sort((a, b) => a - b);

interface SqliteAddon {
  open(path: string, readonly: boolean): unknown;
  close(db: unknown): void;
  prepare(db: unknown, sql: string): unknown;
  finalize(stmt: unknown): void;
  all(stmt: unknown, params: unknown[]): unknown[][];
}

/** Opens the token file directly (not through the module) and reads every object. */
function directCheck(tokensDir: string): Map<number, Seen> {
  const file = join(tokensDir, 'token-0.sqlite');
  const sqlite = loadAddon<SqliteAddon>(undefined, 'craton_sqlite.node').addon;
  const db = sqlite.open(file, false);
  try {
    const stmt = sqlite.prepare(db, 'PRAGMA integrity_check');
    const rows = sqlite.all(stmt, []);
    sqlite.finalize(stmt);
    expect(rows.map((r) => String(r[0])), 'PRAGMA integrity_check').toEqual(['ok']);
  } finally {
    sqlite.close(db);
  }
  const store = new SqliteTokenStore(tokensDir, 0, 'unused', backend);
  const seen = new Map<number, Seen>();
  const dec = new TextDecoder();
  try {
    const index = store.objects();
    for (const id of index.ids()) {
      const a = index.get(id)!;
      const label = dec.decode(a.get(CKA.CKA_LABEL) as Uint8Array);
      const parsed = parseLabel(label);
      expect(parsed, `direct: object ${id} has label ${label}`).not.toBeNull();
      const { n, k } = parsed!;
      expect([...a.keys()].sort((x, y) => x - y), `direct: attributes of ${label}`).toEqual(DATA_ATTRIBUTES);
      expect(a.get(CKA.CKA_CLASS)).toBe(CKO.CKO_DATA);
      expect([a.get(CKA.CKA_TOKEN), a.get(CKA.CKA_PRIVATE), a.get(CKA.CKA_MODIFIABLE), a.get(CKA.CKA_COPYABLE), a.get(CKA.CKA_DESTROYABLE)]).toEqual([
        true,
        false,
        true,
        true,
        true,
      ]);
      expect(dec.decode(a.get(CKA.CKA_APPLICATION) as Uint8Array)).toBe('crash');
      expect(dec.decode(a.get(CKA.CKA_UNIQUE_ID) as Uint8Array)).toBe(id);
      expect(Buffer.from(a.get(CKA.CKA_VALUE) as Uint8Array).equals(Buffer.from(pattern(n, k))), `direct: CKA_VALUE of ${label}`).toBe(true);
      expect(seen.has(n), `direct: two objects for n=${n}`).toBe(false);
      seen.set(n, { k, uid: id });
    }
  } finally {
    store.close();
  }
  return seen;
}

interface WriterRun {
  lines: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  killedAfterReady: boolean;
}

/**
 * One writer run. Kills it `delayMs` after it is ready (its pass over the
 * token done), or, with `early`, `delayMs` after it started, wherever it is.
 */
function writerRun(env: NodeJS.ProcessEnv, args: string[], onLine: (l: string) => void, delayMs: number, early: boolean): Promise<WriterRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(WRITER, [MODULE_PATH, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let partial = '';
    let stderr = '';
    let killedAfterReady = false;
    let ready = false;
    let timer: NodeJS.Timeout | null = null;
    const kill = () => {
      killedAfterReady = ready;
      child.kill('SIGKILL');
    };
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer hung: ${lines.slice(-5).join(' | ')} ${stderr}`));
    }, 30_000);
    if (early) timer = setTimeout(kill, delayMs);
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const l of parts) {
        lines.push(l);
        try {
          onLine(l);
        } catch (e) {
          child.kill('SIGKILL');
          reject(e);
          return;
        }
        if (l.startsWith('ready ')) {
          ready = true;
          if (!early) timer = setTimeout(kill, delayMs);
        }
      }
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      resolve({ lines, code, signal, stderr, killedAfterReady });
    });
  });
}

const backend = loadLibcryptoBackend();

beforeAll(() => {
  if (!existsSync(WRITER) && existsSync(join(BUILD, 'build.ninja'))) {
    execFileSync('cmake', ['--build', BUILD, '--target', 'craton_store_crash_writer'], { stdio: 'inherit' });
  }
}, 300_000);

describe('token store crash safety (SIGKILL mid-write, embedded transport)', () => {
  let box: Sandbox;
  beforeAll(async () => {
    box = sandbox('embedded');
    await initialisedToken(box.env);
  }, 60_000);
  afterAll(() => box?.cleanup());

  const skip = !existsSync(MODULE_PATH) || !existsSync(EMBEDDER);
  it.skipIf(skip)(
    `survives ${KILLS} kills with every acknowledged change intact`,
    async () => {
      expect(existsSync(WRITER), `${WRITER} is not built (cmake --build build --target craton_store_crash_writer)`).toBe(true);
      const tokens = join(box.dir, 'tokens');
      const model = new Model();
      const started = Date.now();
      let kills = 0;
      let killedWriting = 0;
      let directChecks = 0;
      let maxObjects = 0;
      let seed = (Date.now() ^ (process.pid << 8)) >>> 0;

      while (kills < KILLS) {
        expect(Date.now() - started, `only ${kills} kills in ${LOOP_BUDGET_MS} ms`).toBeLessThan(LOOP_BUDGET_MS);
        seed = (seed * 1103515245 + 12345) >>> 0;
        // Mostly killed while writing (0-100 ms after its pass over the token);
        // one run in ten at any moment from its start, opening and recovery included.
        const early = Math.random() < 0.1;
        const delay = early ? Math.random() * 200 : Math.random() * 100;
        const seen = new Map<number, Seen>();
        const where = `run ${kills + 1} (seed ${seed})`;
        const run = await writerRun(
          box.env,
          ['run', String(model.nextN), String(seed)],
          (l) => {
            if (l.startsWith('bad ')) throw new Error(`${where}: half-made object: ${l}`);
            if (l.startsWith('error ')) throw new Error(`${where}: a call failed: ${l}`);
            if (l.startsWith('obj ')) {
              const [, n, k, uid] = l.split(' ');
              expect(seen.has(Number(n)), `${where}: two objects for n=${n}`).toBe(false);
              seen.set(Number(n), { k: Number(k), uid: uid! });
            } else if (l.startsWith('ready ')) {
              expect(Number(l.split(' ')[1])).toBe(seen.size);
              maxObjects = Math.max(maxObjects, seen.size);
              model.check(seen, `${where}, module's view`);
            } else {
              model.line(l);
            }
          },
          delay,
          early,
        );
        const context = `${where}: exit ${run.code}/${run.signal}\n${run.lines.slice(-5).join('\n')}\n${run.stderr.slice(-2000)}`;
        expect(run.signal, context).toBe('SIGKILL');
        expect(run.stderr, context).not.toMatch(/craton-hsm (error|warn): (?!POST: the integrity test was skipped)|SQLITE/);
        kills++;
        if (run.killedAfterReady) killedWriting++;
        if (kills % DIRECT_CHECK_EVERY === 0) {
          model.check(directCheck(tokens), `after kill ${kills}, direct view`);
          directChecks++;
        }
      }

      // Finally: a clean verify through the module, with the process transport too.
      for (const runtime of ['embedded', 'process']) {
        const seen = new Map<number, Seen>();
        const out = execFileSync(WRITER, [MODULE_PATH, 'verify'], { env: { ...box.env, CRATON_HSM_RUNTIME: runtime }, encoding: 'latin1' });
        for (const l of out.split('\n')) {
          expect(l.startsWith('bad '), l).toBe(false);
          if (!l.startsWith('obj ')) continue;
          const [, n, k, uid] = l.split(' ');
          seen.set(Number(n), { k: Number(k), uid: uid! });
        }
        model.check(seen, `final verify (${runtime})`);
      }
      model.check(directCheck(tokens), 'final direct check');

      const seconds = (Date.now() - started) / 1000;
      console.log(
        `crash test: ${kills} SIGKILLs (${killedWriting} while writing, ${kills - killedWriting} during start-up) in ${seconds.toFixed(1)} s; ` +
          `${model.acks} acknowledged changes, objects created up to obj-${model.nextN - 1}, ${model.live.size} live at the end (max ${maxObjects}); ` +
          `in-flight change found applied ${model.inFlightPresent}x, not applied ${model.inFlightAbsent}x; ${directChecks + 1} direct checks`,
      );
      expect(kills).toBeGreaterThanOrEqual(KILLS);
      expect(model.acks).toBeGreaterThan(KILLS);
    },
    240_000,
  );
});
