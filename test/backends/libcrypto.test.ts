import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, pbkdf2Sync, randomBytes as nodeRandomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import {
  BackendError,
  DIGEST_ALGORITHMS,
  DIGEST_LENGTHS,
  type DigestAlgorithm,
} from '../../src/backends/backend';
import {
  loadLibcryptoBackend,
  type LibcryptoBackend,
  type NativeAddon,
} from '../../src/backends/libcrypto';

// The default build, or the one $CRATON_HSM_ADDON_DIR names (test/backends/awslc.test.ts runs this file against the AWS-LC build).
const ADDON = process.env.CRATON_HSM_ADDON_DIR
  ? path.resolve(process.env.CRATON_HSM_ADDON_DIR, 'craton_crypto.node')
  : path.resolve(process.cwd(), 'build', 'Release', 'craton_crypto.node');

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const nodeDigest = (alg: DigestAlgorithm, data: Uint8Array): string =>
  createHash(alg).update(data).digest('hex');

/** Deterministic pseudo-random bytes (so failures are reproducible). */
function patterned(len: number, seed = 1): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a throw').toBeInstanceOf(Error);
  expect((thrown as { code?: unknown }).code).toBe(code);
}

async function expectReject(p: Promise<unknown>, code: string): Promise<void> {
  let thrown: unknown;
  try {
    await p;
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a rejection').toBeInstanceOf(BackendError);
  expect((thrown as BackendError).code).toBe(code);
}

let backend: LibcryptoBackend;
let raw: NativeAddon;

beforeAll(() => {
  if (!existsSync(ADDON)) {
    throw new Error(`${ADDON} missing: run "npm run build:addon" first`);
  }
  backend = loadLibcryptoBackend();
  raw = createRequire(import.meta.url)(ADDON) as NativeAddon;
});

describe('loading and libraryInfo', () => {
  it('finds the addon by default and with an explicit path or directory', () => {
    expect(backend.addonPath).toBe(ADDON);
    expect(loadLibcryptoBackend(ADDON).addonPath).toBe(ADDON);
    expect(loadLibcryptoBackend(path.dirname(ADDON)).addonPath).toBe(ADDON);
  });

  it('honours CRATON_HSM_ADDON_DIR', () => {
    const old = process.env.CRATON_HSM_ADDON_DIR;
    process.env.CRATON_HSM_ADDON_DIR = path.dirname(ADDON);
    try {
      expect(loadLibcryptoBackend().addonPath).toBe(ADDON);
      process.env.CRATON_HSM_ADDON_DIR = '/nonexistent';
      expectCode(() => loadLibcryptoBackend(), 'LIBRARY');
    } finally {
      if (old === undefined) delete process.env.CRATON_HSM_ADDON_DIR;
      else process.env.CRATON_HSM_ADDON_DIR = old;
    }
  });

  it('fails with LIBRARY for a missing addon', () => {
    expectCode(() => loadLibcryptoBackend('/nonexistent/craton_crypto.node'), 'LIBRARY');
  });

  it('reports the library that actually answered', () => {
    const info = raw.libraryInfo();
    if (info.configured === 'awslc') {
      // Static AWS-LC: its version text, and every entry point is the addon's own.
      expect(info.name).toBe('AWS-LC');
      expect(backend.name).toBe('awslc');
      expect(backend.library).toEqual({ name: 'AWS-LC', version: info.version });
      expect(info.version).toMatch(/^AWS-LC \d+\.\d+\.\d+/);
      expect(info.compiledVersion).toContain(info.version);
      expect(info.boundTo).toBe(ADDON);
      expect(info.boundToMainProgram).toBe(false);
      expect(info.consistent).toBe(true);
      expect(Object.keys(info.symbols).length).toBeGreaterThan(10);
      return;
    }
    expect(info.name).toBe('OpenSSL');
    expect(backend.name).toBe('openssl');
    expect(backend.library.name).toBe('OpenSSL');
    expect(info.version).toMatch(/^OpenSSL 3\.\d+\.\d+/);
    expect(backend.library.version).toBe(info.version);
    expect(info.versionNumber).toBeGreaterThanOrEqual(0x30000000);
    expect(info.compiledVersion).toMatch(/^OpenSSL 3\./);
    expect(info.configured).toBe('openssl');
    // On Linux the system's static libcrypto.a is linked in privately: every
    // entry point is the addon's own, whatever OpenSSL the host process has,
    // and it is the version the system's openssl command reports.
    if (process.platform === 'linux') {
      expect(info.boundTo).toBe(ADDON);
      expect(info.boundToMainProgram).toBe(false);
      expect(execFileSync('openssl', ['version']).toString()).toContain(info.version.split(' ').slice(0, 2).join(' '));
    }
    // Every entry point we use must come from ONE library.
    expect(info.consistent).toBe(true);
    expect(Object.keys(info.symbols).length).toBeGreaterThan(10);
  });
});

describe('digests', () => {
  const sizes: Array<[string, number]> = [
    ['empty', 0],
    ['64 B', 64],
    ['1 MiB', 1024 * 1024],
  ];
  const big = patterned(1024 * 1024, 7);

  for (const alg of DIGEST_ALGORITHMS) {
    describe(alg, () => {
      for (const [label, n] of sizes) {
        it(`one-shot and streaming match node:crypto for ${label}`, () => {
          const data = big.subarray(0, n);
          const expected = nodeDigest(alg, data);

          const one = backend.digest(alg, data);
          expect(one).toBeInstanceOf(Uint8Array);
          expect(one.length).toBe(DIGEST_LENGTHS[alg]);
          expect(hex(one)).toBe(expected);

          const ctx = backend.createDigest(alg);
          ctx.update(data);
          expect(hex(ctx.final())).toBe(expected);
          ctx.dispose();
        });
      }

      it('multi-part splits match a single update', () => {
        for (const n of [64, 1024 * 1024]) {
          const data = big.subarray(0, n);
          const expected = nodeDigest(alg, data);
          // irregular chunk sizes, including empty updates and block-sized ones
          const chunkings = [
            [1],
            [0, 3, 7, 64, 136, 128, 1000],
            [63, 65, 72, 144, 4096, 65537],
          ];
          for (const pattern of chunkings) {
            if (pattern.length === 1 && n > 4096) continue; // 1-byte steps only for the small input
            const ctx = backend.createDigest(alg);
            let off = 0;
            let i = 0;
            while (off < n) {
              const step = Math.min(pattern[i++ % pattern.length]!, n - off);
              ctx.update(data.subarray(off, off + step));
              off += step;
            }
            expect(hex(ctx.final())).toBe(expected);
            ctx.dispose();
          }
        }
      });

      it('copy() gives the same results as continuing', () => {
        const a = patterned(1000, 3);
        const b = patterned(777, 4);
        const ctx = backend.createDigest(alg);
        ctx.update(a);
        const peek = ctx.copy();
        const fork = ctx.copy();
        expect(hex(peek.final())).toBe(nodeDigest(alg, a));
        ctx.update(b);
        fork.update(b);
        const both = Buffer.concat([a, b]);
        expect(hex(ctx.final())).toBe(nodeDigest(alg, both));
        expect(hex(fork.final())).toBe(nodeDigest(alg, both));
        for (const c of [ctx, peek, fork]) c.dispose();
      });
    });
  }

  it('matches published vectors: SHA-256("abc"), SHA3-256("abc")', () => {
    expect(hex(backend.digest('sha256', utf8('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(hex(backend.digest('sha3-256', utf8('abc')))).toBe(
      '3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532',
    );
    // FIPS 180-2 two-block message, streamed
    const ctx = backend.createDigest('sha256');
    ctx.update(utf8('abcdbcdecdefdefgefghfghighij'));
    ctx.update(utf8('hijkijkljklmklmnlmnomnopnopq'));
    expect(hex(ctx.final())).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('accepts Buffers and subarray views with an offset', () => {
    const buf = Buffer.from('xxabcxx');
    expect(hex(backend.digest('sha256', buf.subarray(2, 5)))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('finished and disposed contexts throw STATE, never crash', () => {
    const ctx = backend.createDigest('sha256');
    ctx.update(utf8('abc'));
    ctx.final();
    for (const op of [() => ctx.final(), () => ctx.update(utf8('x')), () => ctx.copy()]) {
      expectCode(op, 'STATE');
      try {
        op();
      } catch (err) {
        expect(err).toBeInstanceOf(BackendError);
      }
    }
    ctx.dispose();
    ctx.dispose(); // idempotent
    expectCode(() => ctx.final(), 'STATE');

    const live = backend.createDigest('sha512');
    live.dispose();
    expectCode(() => live.update(utf8('x')), 'STATE');
    expectCode(() => live.final(), 'STATE');
    expectCode(() => live.copy(), 'STATE');
    live.dispose();

    // same at the raw addon level
    const h = raw.digestNew('sha1');
    raw.digestFree(h);
    raw.digestFree(h);
    expectCode(() => raw.digestUpdate(h, utf8('x')), 'STATE');
    expectCode(() => raw.digestFinal(h), 'STATE');
    expectCode(() => raw.digestCopy(h), 'STATE');
  });

  it('a copy outlives the original being freed', () => {
    const ctx = backend.createDigest('sha384');
    ctx.update(utf8('abc'));
    const c = ctx.copy();
    ctx.dispose();
    expect(hex(c.final())).toBe(nodeDigest('sha384', utf8('abc')));
    c.dispose();
  });

  it('unknown algorithms throw ALGORITHM_UNSUPPORTED', () => {
    for (const alg of ['md5', 'SHA256', 'sha-256', 'shake128', '', 'x'.repeat(200)]) {
      expectCode(() => backend.createDigest(alg as DigestAlgorithm), 'ALGORITHM_UNSUPPORTED');
      expectCode(() => backend.digest(alg as DigestAlgorithm, utf8('a')), 'ALGORITHM_UNSUPPORTED');
    }
    expectCode(() => raw.digestNew('md5'), 'ALGORITHM_UNSUPPORTED');
  });

  it('wrong-type arguments throw ARGUMENT, never crash', () => {
    const r = raw as unknown as Record<string, (...args: unknown[]) => unknown>;
    const good = raw.digestNew('sha256');
    const notHandles: unknown[] = [undefined, null, 1, 'h', {}, [], () => 0, utf8('x'), Symbol('s'), 1n];
    for (const bad of notHandles) {
      expectCode(() => r.digestUpdate!(bad, utf8('x')), 'ARGUMENT');
      expectCode(() => r.digestFinal!(bad), 'ARGUMENT');
      expectCode(() => r.digestCopy!(bad), 'ARGUMENT');
      expectCode(() => r.digestFree!(bad), 'ARGUMENT');
    }
    const notBytes: unknown[] = [
      undefined,
      null,
      'abc',
      42,
      {},
      [1, 2, 3],
      new ArrayBuffer(4),
      new Uint16Array(4),
      new Int8Array(4),
      new Uint8ClampedArray(4),
      new DataView(new ArrayBuffer(4)),
    ];
    for (const bad of notBytes) {
      expectCode(() => r.digestUpdate!(good, bad), 'ARGUMENT');
      expectCode(() => r.digestOneShot!('sha256', bad), 'ARGUMENT');
    }
    for (const bad of [undefined, null, 42, {}, utf8('sha256')]) {
      expectCode(() => r.digestNew!(bad), 'ARGUMENT');
      expectCode(() => r.digestOneShot!(bad, utf8('x')), 'ARGUMENT');
    }
    // missing arguments
    expectCode(() => r.digestNew!(), 'ARGUMENT');
    expectCode(() => r.digestUpdate!(good), 'ARGUMENT');
    expectCode(() => r.digestOneShot!('sha256'), 'ARGUMENT');
    // the good handle was not harmed by any of that
    raw.digestUpdate(good, utf8('abc'));
    expect(hex(raw.digestFinal(good))).toBe(nodeDigest('sha256', utf8('abc')));
    raw.digestFree(good);
  });

  it('detached buffers throw ARGUMENT', () => {
    const ab = new ArrayBuffer(16);
    const view = new Uint8Array(ab);
    structuredClone(ab, { transfer: [ab] }); // detaches ab
    expect(ab.byteLength).toBe(0);
    const h = raw.digestNew('sha256');
    expectCode(() => raw.digestUpdate(h, view), 'ARGUMENT');
    expectCode(() => backend.digest('sha256', view), 'ARGUMENT');
    raw.digestFree(h);
  });

  it('handles left to the garbage collector are finalized without double free', () => {
    // Needs --expose-gc, so run in a child: create, free some, finish some,
    // drop all; then GC repeatedly. A double free would abort the child.
    const script = `
      const a = require(${JSON.stringify(ADDON)});
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 500; i++) {
          const h = a.digestNew(i % 2 ? 'sha256' : 'sha3-512');
          a.digestUpdate(h, Buffer.alloc(100, i));
          if (i % 3 === 0) a.digestFree(h);
          else if (i % 3 === 1) a.digestFinal(h);
          else { const c = a.digestCopy(h); if (i % 5 === 0) a.digestFree(c); }
        }
        globalThis.gc();
      }
      setImmediate(() => { globalThis.gc(); setImmediate(() => { globalThis.gc(); console.log('ok'); }); });
    `;
    const res = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout.trim()).toBe('ok');
  });
});

describe('randomBytes', () => {
  it('returns the requested lengths', () => {
    for (const n of [0, 1, 16, 32, 1000, 1024 * 1024]) {
      const b = backend.randomBytes(n);
      expect(b).toBeInstanceOf(Uint8Array);
      expect(b.length).toBe(n);
    }
  });

  it('does not repeat', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(hex(backend.randomBytes(16)));
    expect(seen.size).toBe(200);
    const big = backend.randomBytes(1024 * 1024);
    // a 1 MiB sample should use every byte value, and not be all one value
    const counts = new Uint32Array(256);
    for (const v of big) counts[v]!++;
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(Math.max(...counts)).toBeLessThan(8192);
  });

  it('rejects bad lengths with ARGUMENT', () => {
    for (const bad of [-1, 1.5, NaN, Infinity, 1024 * 1024 + 1, 2 ** 40]) {
      expectCode(() => backend.randomBytes(bad), 'ARGUMENT');
    }
    const r = raw as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const bad of [undefined, '16', null, {}, 16n]) {
      expectCode(() => r.randomBytes!(bad), 'ARGUMENT');
    }
    expectCode(() => r.randomBytes!(), 'ARGUMENT');
  });
});

describe('pbkdf2HmacSha256', () => {
  it('matches node:crypto pbkdf2Sync', async () => {
    const sets: Array<[Uint8Array, Uint8Array, number, number]> = [
      [utf8('1234'), utf8('salt'), 1, 32],
      [utf8('correct horse battery staple'), nodeRandomBytes(16), 1000, 32],
      [new Uint8Array(0), utf8('salt'), 1024, 32], // empty password
      [utf8('password'), new Uint8Array(0), 10, 64], // empty salt
      [patterned(100, 9), patterned(64, 10), 2048, 100], // long password (> block), odd length
      [utf8('pin'), utf8('s'), 5, 1],
    ];
    for (const [pw, salt, iter, len] of sets) {
      const got = await backend.pbkdf2HmacSha256(pw, salt, iter, len);
      expect(got).toBeInstanceOf(Uint8Array);
      expect(hex(got)).toBe(pbkdf2Sync(pw, salt, iter, len, 'sha256').toString('hex'));
    }
  });

  it('matches RFC 7914 section 11 and other published vectors', async () => {
    const vectors: Array<[string, string, number, number, string]> = [
      // RFC 7914 section 11
      [
        'passwd',
        'salt',
        1,
        64,
        '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783',
      ],
      [
        'Password',
        'NaCl',
        80000,
        64,
        '4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d',
      ],
      // widely published PBKDF2-HMAC-SHA256 vectors (RFC 6070 inputs)
      ['password', 'salt', 1, 32, '120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b'],
      ['password', 'salt', 2, 32, 'ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43'],
      ['password', 'salt', 4096, 32, 'c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a'],
      [
        'passwordPASSWORDpassword',
        'saltSALTsaltSALTsaltSALTsaltSALTsalt',
        4096,
        40,
        '348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9',
      ],
    ];
    for (const [p, s, c, len, expected] of vectors) {
      expect(hex(await backend.pbkdf2HmacSha256(utf8(p), utf8(s), c, len))).toBe(expected);
    }
  });

  it('does not keep a reference to the caller buffers', async () => {
    const pw = utf8('password');
    const salt = utf8('salt');
    const p = backend.pbkdf2HmacSha256(pw, salt, 4096, 32);
    pw.fill(0); // caller wipes its copy right away
    salt.fill(0);
    expect(hex(await p)).toBe('c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a');
  });

  it('rejects bad arguments with ARGUMENT (as a rejection, not a crash)', async () => {
    const pw = utf8('pw');
    const salt = utf8('salt');
    const b = backend as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    await expectReject(b.pbkdf2HmacSha256!('pw', salt, 1, 32), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(pw, null, 1, 32), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(pw, salt, 0, 32), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(pw, salt, 1.5, 32), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(pw, salt, 2 ** 31, 32), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(pw, salt, '1', 32), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(pw, salt, 1, 0), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(pw, salt, 1, 64 * 1024 + 1), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(pw, salt, 1), 'ARGUMENT');
    await expectReject(b.pbkdf2HmacSha256!(new Uint16Array(2), salt, 1, 32), 'ARGUMENT');
  });

  it('runs off the JS thread: two slow calls return at once and a timer keeps ticking while they run', async () => {
    // Size the work so one call takes roughly 300 ms on this machine.
    const probeIter = 200_000;
    let t0 = performance.now();
    await backend.pbkdf2HmacSha256(utf8('pin'), utf8('salt'), probeIter, 32);
    const perIter = Math.max((performance.now() - t0) / probeIter, 1e-6);
    const iterations = Math.min(Math.max(Math.round(300 / perIter), 200_000), 20_000_000);

    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
    }, 5);
    try {
      const done: number[] = [];
      t0 = performance.now();
      const p1 = backend
        .pbkdf2HmacSha256(utf8('pin-1'), utf8('salt'), iterations, 32)
        .then((r) => (done.push(performance.now() - t0), r));
      const p2 = backend
        .pbkdf2HmacSha256(utf8('pin-2'), utf8('salt'), iterations, 32)
        .then((r) => (done.push(performance.now() - t0), r));
      // Both are pending now: the calls returned without doing the work.
      expect(performance.now() - t0).toBeLessThan(100);
      const [r1, r2] = await Promise.all([p1, p2]);
      const elapsed = performance.now() - t0;

      expect(hex(r1)).toBe(pbkdf2Sync('pin-1', 'salt', iterations, 32, 'sha256').toString('hex'));
      expect(hex(r2)).toBe(pbkdf2Sync('pin-2', 'salt', iterations, 32, 'sha256').toString('hex'));
      // The JS thread stayed responsive during the derivations.
      expect(ticks).toBeGreaterThanOrEqual(Math.min(10, Math.floor(elapsed / 20)));
      expect(ticks).toBeGreaterThanOrEqual(5);
      // That they also overlap on the pool is measured natively (asymmetricStats in
      // asymmetric.test.ts); finishing times are too load-dependent to assert here.
      expect(done).toHaveLength(2);
    } finally {
      clearInterval(timer);
    }
  }, 60_000);
});
