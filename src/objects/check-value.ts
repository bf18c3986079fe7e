/**
 * Secret-key values that the key type constrains, and CKA_CHECK_VALUE (PKCS#11
 * 3.0 sections 4.10 and 6.7.1): the first three bytes of AES-ECB over a zero
 * block for AES keys, of SHA-1 over the value for generic secrets.
 */
import { CKA, CKK, CKO, CKR } from '../generated/constants';
import { require } from '../ck-error';
import type { CryptoBackend } from '../backends/backend';
import { cipherOnce } from '../backends/symmetric';
import type { AttributeMap } from './attribute-value';

const AES_SIZES = new Set([16, 24, 32]);

function checkValueOf(backend: CryptoBackend, keyType: unknown, value: Uint8Array): Uint8Array | undefined {
  if (keyType === CKK.CKK_AES) {
    return Uint8Array.from(cipherOnce(backend, { algorithm: 'aes', mode: 'ecb', key: value }, true, new Uint8Array(16)).subarray(0, 3));
  }
  if (keyType === CKK.CKK_GENERIC_SECRET) return backend.digest('sha1', value).slice(0, 3);
  return undefined;
}

/** Checks a secret key's value against its type and sets (or checks a given) CKA_CHECK_VALUE. */
export function completeSecretKey(backend: CryptoBackend, attrs: AttributeMap): void {
  if (attrs.get(CKA.CKA_CLASS) !== CKO.CKO_SECRET_KEY) return;
  const value = attrs.get(CKA.CKA_VALUE);
  if (!(value instanceof Uint8Array)) return;
  const keyType = attrs.get(CKA.CKA_KEY_TYPE);
  if (keyType === CKK.CKK_AES) require(AES_SIZES.has(value.length), CKR.CKR_ATTRIBUTE_VALUE_INVALID, 'an AES key is 16, 24 or 32 bytes');
  const computed = checkValueOf(backend, keyType, value);
  if (!computed) return;
  const given = attrs.get(CKA.CKA_CHECK_VALUE);
  if (given instanceof Uint8Array && given.length > 0) {
    require(Buffer.from(given).equals(Buffer.from(computed)), CKR.CKR_ATTRIBUTE_VALUE_INVALID, 'CKA_CHECK_VALUE does not match the key');
  }
  attrs.set(CKA.CKA_CHECK_VALUE, computed);
}
