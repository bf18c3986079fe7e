/**
 * HMAC_DRBG against NIST CAVP (drbgvectors_pr_true/HMAC_DRBG.rsp) with HMAC
 * from Node's crypto, and the continuous health tests of RandomSource.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CKR } from '../../src/generated/constants';
import { CkError } from '../../src/ck-error';
import { DrbgError, HmacDrbg } from '../../src/random/hmac-drbg';
import { RandomSource } from '../../src/random/random-source';
import { V } from '../../src/self-tests/vectors';

const hmac = (key: Uint8Array, data: Uint8Array) => Uint8Array.from(createHmac('sha256', key).update(data).digest());
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

function counting(): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const out = new Uint8Array(n);
    new DataView(out.buffer).setUint32(0, ++i);
    return out;
  };
}

describe('HmacDrbg', () => {
  it('reproduces the CAVP prediction-resistance vector', () => {
    const inputs = V.drbg.entropyInputPr.map(hex);
    const drbg = new HmacDrbg(hmac, () => inputs.shift() as Uint8Array, new Uint8Array(0), { entropyInput: hex(V.drbg.entropyInput), nonce: hex(V.drbg.nonce) });
    drbg.generate(128);
    expect(Buffer.from(drbg.generate(128)).toString('hex')).toBe(V.drbg.returnedBits);
  });

  it('reseeds on every request (prediction resistance), so equal seeds diverge with different entropy', () => {
    const seed = { entropyInput: new Uint8Array(32).fill(1), nonce: new Uint8Array(16).fill(2) };
    const a = new HmacDrbg(hmac, counting(), new Uint8Array(0), seed);
    const b = new HmacDrbg(hmac, (n) => new Uint8Array(n).fill(9), new Uint8Array(0), seed);
    expect(Buffer.from(a.generate(32))).not.toEqual(Buffer.from(b.generate(32)));
  });

  it('fails and stays failed when two output blocks are equal', () => {
    const stuck = new HmacDrbg(() => new Uint8Array(32).fill(3), counting());
    expect(() => stuck.generate(64)).toThrow(DrbgError);
    expect(() => stuck.generate(1)).toThrow(/failed its health test/);
  });

  it('refuses requests above 2^19 bits', () => {
    expect(() => new HmacDrbg(hmac, counting()).generate((1 << 16) + 1)).toThrow(DrbgError);
  });
});

describe('RandomSource', () => {
  it('serves any length, in requests the DRBG allows', () => {
    const source = new RandomSource(hmac, counting(), () => undefined);
    const big = source.bytes(200_000);
    expect(big).toHaveLength(200_000);
    expect(new Set(Buffer.from(big).toString('hex').match(/.{64}/g)).size).toBe(Math.floor(200_000 / 32));
  });

  it('reports a repeating entropy source once and then refuses everything', () => {
    const failures: string[] = [];
    const source = new RandomSource(hmac, (n) => new Uint8Array(n).fill(0x5a), (reason) => failures.push(reason));
    const rv = (() => {
      try {
        source.bytes(16);
        return CKR.CKR_OK;
      } catch (e) {
        return (e as CkError).rv;
      }
    })();
    expect(rv).toBe(CKR.CKR_GENERAL_ERROR);
    expect(failures).toEqual(['continuous health test: the entropy source repeated its output']);
  });
});
