/**
 * The 16 known-answer tests of the power-on self-tests: fixed inputs from
 * published vectors (self-tests/vectors.ts names each source) and outputs
 * compared byte for byte. Randomised algorithms are tested where they are
 * deterministic (RSA PKCS #1 v1.5 signing, ML-DSA with rnd = 0) and by
 * verifying a published signature (ECDSA).
 */
import type { CryptoBackend } from '../backends/backend';
import type { PostQuantumCrypto } from '../backends/post-quantum';
import { cipherOnce, macOnce, type CipherSpec } from '../backends/symmetric';
import { DrbgError, HmacDrbg } from '../random/hmac-drbg';
import { RandomSource } from '../random/random-source';
import { V } from './vectors';

export interface KatContext {
  readonly backend: CryptoBackend;
  readonly pqc: PostQuantumCrypto;
  /** The test-only fault switch: true for the one test told to fail. */
  readonly fault: (id: string) => boolean;
}

export interface KnownAnswerTest {
  readonly id: string;
  /** The family the POST log line names. */
  readonly family: string;
  run(ctx: KatContext): Promise<void> | void;
}

export class KatFailure extends Error {}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Compares an output with the expected one; a test the fault switch names sees its output with one bit flipped. */
function expectBytes(ctx: KatContext, id: string, actual: Uint8Array, expected: string): void {
  const seen = Uint8Array.from(actual);
  if (ctx.fault(id) && seen.length > 0) seen[0] = (seen[0] as number) ^ 1;
  if (Buffer.compare(Buffer.from(seen), Buffer.from(expected, 'hex')) !== 0) throw new KatFailure(`${id}: output differs from the known answer`);
}

function expectTrue(ctx: KatContext, id: string, ok: boolean, what: string): void {
  if (!ok || ctx.fault(id)) throw new KatFailure(`${id}: ${what}`);
}

const hmac = (backend: CryptoBackend, digest: 'sha256' | 'sha512', key: Uint8Array, data: Uint8Array): Uint8Array => macOnce(backend, { algorithm: 'hmac', digest, key }, data);

/** Entropy inputs handed out in order, as a CAVP test prescribes them. */
function scripted(inputs: readonly string[]): (length: number) => Uint8Array {
  let next = 0;
  return () => hex(inputs[next++] ?? '');
}

export const KNOWN_ANSWER_TESTS: readonly KnownAnswerTest[] = [
  { id: 'sha-256', family: 'SHA-2', run: (ctx) => expectBytes(ctx, 'sha-256', ctx.backend.digest('sha256', ascii('abc')), V.sha256.digest) },
  { id: 'sha-512', family: 'SHA-2', run: (ctx) => expectBytes(ctx, 'sha-512', ctx.backend.digest('sha512', ascii('abc')), V.sha512.digest) },
  { id: 'sha3-256', family: 'SHA-3', run: (ctx) => expectBytes(ctx, 'sha3-256', ctx.backend.digest('sha3-256', ascii('abc')), V.sha3_256.digest) },
  { id: 'sha3-512', family: 'SHA-3', run: (ctx) => expectBytes(ctx, 'sha3-512', ctx.backend.digest('sha3-512', ascii('abc')), V.sha3_512.digest) },
  {
    id: 'hmac-sha-256',
    family: 'HMAC',
    run: (ctx) => expectBytes(ctx, 'hmac-sha-256', hmac(ctx.backend, 'sha256', ascii(V.hmac.key), ascii(V.hmac.data)), V.hmac.sha256),
  },
  {
    id: 'hmac-sha-512',
    family: 'HMAC',
    run: (ctx) => expectBytes(ctx, 'hmac-sha-512', hmac(ctx.backend, 'sha512', ascii(V.hmac.key), ascii(V.hmac.data)), V.hmac.sha512),
  },
  {
    id: 'aes-gcm',
    family: 'AES-GCM',
    run(ctx) {
      const g = V.aesGcm;
      const spec: CipherSpec = { algorithm: 'aes', mode: 'gcm', key: hex(g.key), iv: hex(g.iv), aad: hex(g.aad), tagLength: 16 };
      expectBytes(ctx, 'aes-gcm', cipherOnce(ctx.backend, spec, true, hex(g.plaintext)), g.ciphertext + g.tag);
      expectBytes(ctx, 'aes-gcm', cipherOnce(ctx.backend, spec, false, hex(g.ciphertext + g.tag)), g.plaintext);
    },
  },
  {
    id: 'aes-cbc',
    family: 'AES-CBC',
    run(ctx) {
      const c = V.aesCbc;
      const spec: CipherSpec = { algorithm: 'aes', mode: 'cbc', key: hex(c.key), iv: hex(c.iv) };
      expectBytes(ctx, 'aes-cbc', cipherOnce(ctx.backend, spec, true, hex(c.plaintext)), c.ciphertext);
      expectBytes(ctx, 'aes-cbc', cipherOnce(ctx.backend, spec, false, hex(c.ciphertext)), c.plaintext);
    },
  },
  {
    id: 'aes-ctr',
    family: 'AES-CTR',
    run(ctx) {
      const c = V.aesCtr;
      const spec: CipherSpec = { algorithm: 'aes', mode: 'ctr', key: hex(c.key), iv: hex(c.counter), counterBits: 128 };
      expectBytes(ctx, 'aes-ctr', cipherOnce(ctx.backend, spec, true, hex(c.plaintext)), c.ciphertext);
    },
  },
  {
    id: 'rsa-sign',
    family: 'RSA',
    async run(ctx) {
      const r = V.rsa;
      const key = await ctx.backend.importKey({ type: 'rsa', modulus: hex(r.n), publicExponent: hex(r.e), privateExponent: hex(r.d) });
      try {
        const signature = await ctx.backend.sign(key, { scheme: 'rsa-pkcs1', digest: 'sha256' }, hex(r.message));
        expectBytes(ctx, 'rsa-sign', signature, r.signature);
      } finally {
        key.dispose();
      }
    },
  },
  {
    id: 'rsa-verify',
    family: 'RSA',
    async run(ctx) {
      const r = V.rsa;
      const key = await ctx.backend.importKey({ type: 'rsa', modulus: hex(r.n), publicExponent: hex(r.e) });
      try {
        const good = await ctx.backend.verify(key, { scheme: 'rsa-pkcs1', digest: 'sha256' }, hex(r.message), hex(r.signature));
        const forged = hex(r.signature);
        forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
        const bad = await ctx.backend.verify(key, { scheme: 'rsa-pkcs1', digest: 'sha256' }, hex(r.message), forged);
        expectTrue(ctx, 'rsa-verify', good && !bad, 'the known signature does not verify, or a changed one does');
      } finally {
        key.dispose();
      }
    },
  },
  {
    id: 'ecdsa-verify',
    family: 'ECDSA',
    async run(ctx) {
      const v = V.ecdsa;
      const key = await ctx.backend.importKey({ type: 'ec', curve: 'P-256', point: hex(`04${v.ux}${v.uy}`) });
      try {
        const params = { scheme: 'ecdsa', digest: 'sha256' } as const;
        const good = await ctx.backend.verify(key, params, ascii(v.message), hex(v.r + v.s));
        const bad = await ctx.backend.verify(key, params, ascii(`${v.message}!`), hex(v.r + v.s));
        expectTrue(ctx, 'ecdsa-verify', good && !bad, 'the known signature does not verify, or verifies another message');
      } finally {
        key.dispose();
      }
    },
  },
  {
    id: 'ml-dsa',
    family: 'ML-DSA',
    run(ctx) {
      const v = V.mlDsa;
      const { publicKey, secretKey } = ctx.pqc.mlDsaKeyGen('ML-DSA-44', hex(v.seed));
      expectBytes(ctx, 'ml-dsa', ctx.pqc.mlDsaSign('ML-DSA-44', secretKey, hex(v.message), { context: hex(v.context), deterministic: true }), v.signature);
      expectTrue(ctx, 'ml-dsa', ctx.pqc.mlDsaVerify('ML-DSA-44', publicKey, hex(v.message), hex(v.signature), hex(v.context)), 'the known signature does not verify');
      secretKey.fill(0);
    },
  },
  {
    id: 'ml-kem',
    family: 'ML-KEM',
    run(ctx) {
      const v = V.mlKem;
      const { publicKey, secretKey } = ctx.pqc.mlKemKeyGen('ML-KEM-768', hex(v.seed));
      expectBytes(ctx, 'ml-kem', publicKey, v.publicKey);
      expectBytes(ctx, 'ml-kem', ctx.pqc.mlKemDecapsulate('ML-KEM-768', hex(v.ciphertext), secretKey), v.sharedSecret);
      secretKey.fill(0);
    },
  },
  {
    id: 'rng',
    family: 'RNG',
    run(ctx) {
      // The continuous health tests must catch a stuck entropy source and a stuck output, and pass a working one.
      const hmacSha256 = (key: Uint8Array, data: Uint8Array) => hmac(ctx.backend, 'sha256', key, data);
      const stuckEntropy = new RandomSource(hmacSha256, (n) => new Uint8Array(n).fill(0x5a), () => undefined);
      const caughtEntropy = throws(() => stuckEntropy.bytes(32));
      const stuckOutput = new HmacDrbg(() => new Uint8Array(32).fill(7), distinct(), new Uint8Array(0));
      const caughtOutput = throws(() => stuckOutput.generate(64), DrbgError);
      const working = new RandomSource(hmacSha256, distinct(), () => undefined);
      const fine = !throws(() => working.bytes(64));
      expectTrue(ctx, 'rng', caughtEntropy && caughtOutput && fine, 'a continuous health test gave the wrong answer');
    },
  },
  {
    id: 'drbg',
    family: 'DRBG',
    run(ctx) {
      const v = V.drbg;
      const drbg = new HmacDrbg((k, d) => hmac(ctx.backend, 'sha256', k, d), scripted(v.entropyInputPr), new Uint8Array(0), {
        entropyInput: hex(v.entropyInput),
        nonce: hex(v.nonce),
      });
      const bytes = v.returnedBits.length / 2;
      drbg.generate(bytes);
      expectBytes(ctx, 'drbg', drbg.generate(bytes), v.returnedBits);
      drbg.destroy();
    },
  },
];

function throws(fn: () => unknown, kind?: new (...args: never[]) => Error): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    return kind ? e instanceof kind : true;
  }
}

/** An entropy source that never repeats (a counter), for the health tests' passing case. */
function distinct(): (length: number) => Uint8Array {
  let n = 0;
  return (length) => {
    const out = new Uint8Array(length);
    new DataView(out.buffer).setUint32(0, ++n);
    return out;
  };
}
