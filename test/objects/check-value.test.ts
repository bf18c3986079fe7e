/** CKA_CHECK_VALUE and AES value sizes (src/objects/check-value.ts) against Node's crypto. */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CKA, CKK, CKO, CKR } from '../../src/generated/constants';
import { CkError } from '../../src/ck-error';
import { loadLibcryptoBackend } from '../../src/backends/libcrypto';
import { completeSecretKey } from '../../src/objects/check-value';
import type { AttributeMap, AttributeValue } from '../../src/objects/attribute-value';

const backend = loadLibcryptoBackend();
const key = (keyType: number, value: Uint8Array, ...more: [number, AttributeValue][]): AttributeMap =>
  new Map<number, AttributeValue>([[CKA.CKA_CLASS, CKO.CKO_SECRET_KEY], [CKA.CKA_KEY_TYPE, keyType], [CKA.CKA_VALUE, value], ...more]);

describe('CKA_CHECK_VALUE', () => {
  it.each([16, 24, 32])('is AES-ECB of a zero block, cut to 3 bytes, for a %i-byte AES key', (n) => {
    const value = randomBytes(n);
    const attrs = key(CKK.CKK_AES, value);
    completeSecretKey(backend, attrs);
    const ecb = createCipheriv(`aes-${n * 8}-ecb`, value, null).setAutoPadding(false);
    expect(attrs.get(CKA.CKA_CHECK_VALUE)).toEqual(new Uint8Array(Buffer.concat([ecb.update(Buffer.alloc(16)), ecb.final()]).subarray(0, 3)));
  });

  it('is SHA-1 of the value, cut to 3 bytes, for a generic secret', () => {
    const value = randomBytes(40);
    const attrs = key(CKK.CKK_GENERIC_SECRET, value);
    completeSecretKey(backend, attrs);
    expect(attrs.get(CKA.CKA_CHECK_VALUE)).toEqual(new Uint8Array(createHash('sha1').update(value).digest().subarray(0, 3)));
  });

  it('refuses a given check value that does not match, and an AES value of the wrong size', () => {
    const rv = (f: () => void) => {
      try {
        f();
        return CKR.CKR_OK;
      } catch (e) {
        return (e as CkError).rv;
      }
    };
    expect(rv(() => completeSecretKey(backend, key(CKK.CKK_AES, randomBytes(16), [CKA.CKA_CHECK_VALUE, new Uint8Array([1, 2, 3])])))).toBe(CKR.CKR_ATTRIBUTE_VALUE_INVALID);
    expect(rv(() => completeSecretKey(backend, key(CKK.CKK_AES, randomBytes(20))))).toBe(CKR.CKR_ATTRIBUTE_VALUE_INVALID);
  });
});
