/** The IV generator of the message-based AEAD functions, on its own (src/sessions/iv-generator.ts). */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CKG_IV, CKR } from '../../src/generated/constants';
import { CkError } from '../../src/ck-error';
import { IvGenerator, type IvRequest } from '../../src/sessions/iv-generator';

const hex = (s: string) => Buffer.from(s, 'hex');
const rvOf = (fn: () => unknown): number => {
  try {
    fn();
  } catch (e) {
    if (e instanceof CkError) return e.rv;
    throw e;
  }
  throw new Error('expected a CkError');
};

/** Prepares and takes one IV. */
const next = (g: IvGenerator, request: IvRequest): Buffer => {
  const pending = g.prepare(request);
  pending.take();
  return Buffer.from(pending.iv);
};

describe('IvGenerator', () => {
  it('CKG_NO_GENERATE gives the IV back as it came', () => {
    const template = randomBytes(12);
    const pending = new IvGenerator(randomBytes).prepare({ template, fixedBits: 40, generator: CKG_IV.CKG_NO_GENERATE });
    expect(pending.generated).toBe(false);
    expect(Buffer.from(pending.iv)).toEqual(template);
  });

  it('CKG_GENERATE_COUNTER keeps the fixed bits (not whole bytes too) and counts from zero below them', () => {
    const g = new IvGenerator(randomBytes);
    const request = { template: hex('abcdefffffffffffffffffff'), fixedBits: 12, generator: CKG_IV.CKG_GENERATE_COUNTER };
    expect(next(g, request)).toEqual(hex('abc000000000000000000000'));
    expect(next(g, request)).toEqual(hex('abc000000000000000000001'));
    // Prepared but not taken (a length query): the counter does not move.
    g.prepare(request);
    expect(next(g, request)).toEqual(hex('abc000000000000000000002'));
  });

  it('CKG_GENERATE puts the shared counter in the low 32 bits and random bits above', () => {
    const g = new IvGenerator(() => Buffer.alloc(16, 0x5a));
    next(g, { template: Buffer.alloc(12), fixedBits: 0, generator: CKG_IV.CKG_GENERATE_COUNTER });
    expect(next(g, { template: hex('1122334455667788aabbccdd'), fixedBits: 16, generator: CKG_IV.CKG_GENERATE })).toEqual(hex('11225a5a5a5a5a5a00000001'));
  });

  it('refuses a counter value that the narrowest field used so far cannot hold', () => {
    const g = new IvGenerator(randomBytes);
    const narrow = { template: Buffer.alloc(12), fixedBits: 94, generator: CKG_IV.CKG_GENERATE_COUNTER };
    expect([0, 1, 2, 3].map(() => next(g, narrow).readUInt8(11))).toEqual([0, 1, 2, 3]);
    expect(rvOf(() => g.prepare(narrow))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    expect(rvOf(() => g.prepare({ template: Buffer.alloc(16), fixedBits: 0, generator: CKG_IV.CKG_GENERATE }))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    // A field refused before use does not narrow the bound.
    const h = new IvGenerator(randomBytes);
    next(h, narrow);
    expect(rvOf(() => h.prepare({ template: Buffer.alloc(12), fixedBits: 96, generator: CKG_IV.CKG_GENERATE_COUNTER }))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    expect(next(h, narrow).readUInt8(11)).toBe(1);
  });

  it('CKG_GENERATE_RANDOM keeps the fixed bits and wants 64 random bits', () => {
    const g = new IvGenerator(randomBytes);
    const iv = next(g, { template: hex('ffffffff0000000000000000'), fixedBits: 32, generator: CKG_IV.CKG_GENERATE_RANDOM });
    expect(iv.subarray(0, 4)).toEqual(hex('ffffffff'));
    expect(rvOf(() => g.prepare({ template: Buffer.alloc(12), fixedBits: 33, generator: CKG_IV.CKG_GENERATE_RANDOM }))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
  });

  it('refuses fixed bits beyond the IV and generators it does not offer', () => {
    const g = new IvGenerator(randomBytes);
    expect(rvOf(() => g.prepare({ template: Buffer.alloc(12), fixedBits: 97, generator: CKG_IV.CKG_GENERATE }))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    expect(rvOf(() => g.prepare({ template: Buffer.alloc(12), fixedBits: 0, generator: CKG_IV.CKG_GENERATE_COUNTER_XOR }))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
  });

  it('an IV prepared twice is taken only once', () => {
    const g = new IvGenerator(randomBytes);
    const request = { template: Buffer.alloc(12), fixedBits: 0, generator: CKG_IV.CKG_GENERATE_COUNTER };
    const a = g.prepare(request);
    const b = g.prepare(request);
    a.take();
    expect(() => b.take()).toThrow(/prepared twice/);
  });
});
