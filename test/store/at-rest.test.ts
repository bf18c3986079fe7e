/** Master-key wrapping and per-attribute sealing (src/store/at-rest.ts). */
import { describe, expect, it } from 'vitest';
import { CKA, CKK, CKO, CKR } from '../../src/generated/constants';
import { CkError } from '../../src/ck-error';
import { loadLibcryptoBackend } from '../../src/backends/libcrypto';
import { newMasterKey, objectKey, openObject, sealObject, unwrapMasterKey, wrapMasterKey } from '../../src/store/at-rest';
import type { AttributeMap, AttributeValue } from '../../src/objects/attribute-value';

const backend = loadLibcryptoBackend();
const pin = (s: string) => new TextEncoder().encode(s);

describe('master key wrapping', () => {
  it('unwraps with the right PIN and role only', async () => {
    const master = newMasterKey(backend);
    const wrapped = await wrapMasterKey(backend, master, pin('1234'), 'user');
    expect(wrapped.iterations).toBeGreaterThanOrEqual(600_000);
    expect(await unwrapMasterKey(backend, wrapped, pin('1234'), 'user')).toEqual(master);
    expect(await unwrapMasterKey(backend, wrapped, pin('1235'), 'user')).toBeNull();
    expect(await unwrapMasterKey(backend, wrapped, pin('1234'), 'so')).toBeNull();
    const again = await wrapMasterKey(backend, master, pin('1234'), 'user');
    expect(again.salt).not.toBe(wrapped.salt);
    expect(again.sealed).not.toBe(wrapped.sealed);
  });
});

describe('attribute sealing', () => {
  const key = objectKey(backend, newMasterKey(backend));
  const secret = new Uint8Array(32).fill(0xab);
  const attrs = (): AttributeMap =>
    new Map<number, AttributeValue>([
      [CKA.CKA_CLASS, CKO.CKO_SECRET_KEY],
      [CKA.CKA_KEY_TYPE, CKK.CKK_AES],
      [CKA.CKA_LABEL, pin('k')],
      [CKA.CKA_VALUE, secret],
    ]);
  const onlyValue = (t: number) => t === CKA.CKA_VALUE;

  it('seals what it must and round-trips', () => {
    const row = sealObject(backend, key, 'obj-1', attrs(), onlyValue);
    expect(row.e.map(([t]) => t)).toEqual([CKA.CKA_VALUE]);
    expect(JSON.stringify(row)).not.toContain('abab');
    expect(openObject(backend, key, 'obj-1', row)?.get(CKA.CKA_VALUE)).toEqual(secret);
    expect(openObject(backend, null, 'obj-1', row)).toBeNull();
  });

  it('refuses to seal without a key', () => {
    expect(() => sealObject(backend, null, 'obj-1', attrs(), onlyValue)).toThrow(CkError);
  });

  it('binds each ciphertext to its object id and attribute type', () => {
    const row = sealObject(backend, key, 'obj-1', attrs(), onlyValue);
    const rvOf = (f: () => unknown) => {
      try {
        f();
        return CKR.CKR_OK;
      } catch (e) {
        return (e as CkError).rv;
      }
    };
    // The same sealed value presented as another object's, or as another attribute.
    expect(rvOf(() => openObject(backend, key, 'obj-2', row))).toBe(CKR.CKR_DEVICE_ERROR);
    const moved = { p: row.p, e: row.e.map(([, v]): [number, string] => [CKA.CKA_LABEL, v]) };
    expect(rvOf(() => openObject(backend, key, 'obj-1', moved))).toBe(CKR.CKR_DEVICE_ERROR);
  });
});
