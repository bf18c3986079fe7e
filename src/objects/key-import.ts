/**
 * Asymmetric keys given to C_CreateObject: the backend checks the key
 * material (an RSA key's parts agree, an EC point is on its curve, a private
 * value matches its public half), and the attributes the material implies are
 * filled in (PKCS#11 3.0 section 4.8: CKA_PUBLIC_KEY_INFO; section 2.1: the
 * RSA CRT values, CKA_MODULUS_BITS).
 */
import { CKA, CKK, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { AsymmetricKey } from '../backends/asymmetric';
import { BackendError, type CryptoBackend } from '../backends/backend';
import type { AttributeMap } from './attribute-value';
import { componentsOf } from './asymmetric-keys';

/** Validates and completes an imported key's attributes; returns the native key, or undefined for other objects. */
export async function completeAsymmetricKey(backend: CryptoBackend, attrs: AttributeMap): Promise<AsymmetricKey | undefined> {
  const objectClass = attrs.get(CKA.CKA_CLASS);
  if (objectClass !== CKO.CKO_PUBLIC_KEY && objectClass !== CKO.CKO_PRIVATE_KEY) return undefined;
  let key: AsymmetricKey;
  try {
    key = await backend.importKey(componentsOf(attrs));
  } catch (e) {
    // componentsOf reports a part it needs and the template lacks (an RSA private key's public exponent).
    if (e instanceof CkError && e.rv === CKR.CKR_KEY_HANDLE_INVALID) throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, e.message);
    if (e instanceof BackendError && e.code === 'ARGUMENT') throw new CkError(CKR.CKR_ATTRIBUTE_VALUE_INVALID, `the key material is not a valid key: ${e.message}`);
    throw e;
  }
  const spki = backend.publicKeyInfo(key);
  const given = attrs.get(CKA.CKA_PUBLIC_KEY_INFO);
  if (given instanceof Uint8Array && given.length > 0) {
    require(Buffer.from(given).equals(Buffer.from(spki)), CKR.CKR_ATTRIBUTE_VALUE_INVALID, 'CKA_PUBLIC_KEY_INFO does not match the key');
  }
  attrs.set(CKA.CKA_PUBLIC_KEY_INFO, spki);
  if (attrs.get(CKA.CKA_KEY_TYPE) === CKK.CKK_RSA) {
    if (objectClass === CKO.CKO_PUBLIC_KEY) attrs.set(CKA.CKA_MODULUS_BITS, key.bits);
    else completeRsaPrivateKey(backend, key, attrs);
  }
  return key;
}

/** The CRT values a caller left out, as the backend recovered them from n, e and d. */
function completeRsaPrivateKey(backend: CryptoBackend, key: AsymmetricKey, attrs: AttributeMap): void {
  const parts = backend.exportPrivateKey(key);
  if (parts.type !== 'rsa') return;
  const recovered: [number, Uint8Array][] = [
    [CKA.CKA_PRIME_1, parts.prime1],
    [CKA.CKA_PRIME_2, parts.prime2],
    [CKA.CKA_EXPONENT_1, parts.exponent1],
    [CKA.CKA_EXPONENT_2, parts.exponent2],
    [CKA.CKA_COEFFICIENT, parts.coefficient],
  ];
  for (const [type, value] of recovered) {
    const given = attrs.get(type);
    if (!(given instanceof Uint8Array) || given.length === 0) attrs.set(type, value);
  }
}
