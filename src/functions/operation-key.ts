/**
 * The checks every C_*Init makes on its key (PKCS#11 3.0 section 5.x, and 4.9
 * for CKA_ALLOWED_MECHANISMS): it is a key, of a type the mechanism takes, of a
 * size it allows, with the usage flag set, and the mechanism is allowed for it.
 */
import { CKA, CKK, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { Hsm } from '../module/hsm';
import type { MechanismSpec } from '../mechanisms/mechanism';
import type { P11Object } from '../objects/object-table';
import type { Session } from '../sessions/session';

const KEY_CLASSES = new Set<number>([CKO.CKO_PUBLIC_KEY, CKO.CKO_PRIVATE_KEY, CKO.CKO_SECRET_KEY]);

/** Secret key types whose length C_*Init checks against the mechanism's key sizes (bytes, or bits where it says so). */
const SIZE_CHECKED = new Set<number>([CKK.CKK_AES, CKK.CKK_GENERIC_SECRET]);

export function operationKey(hsm: Hsm, session: Session, handle: number, mechanism: MechanismSpec, usage: number): P11Object {
  let key: P11Object;
  try {
    key = hsm.objects.get(session, handle);
  } catch (e) {
    if (e instanceof CkError && e.rv === CKR.CKR_OBJECT_HANDLE_INVALID) throw new CkError(CKR.CKR_KEY_HANDLE_INVALID);
    throw e;
  }
  const attrs = key.attributes;
  require(KEY_CLASSES.has(attrs.get(CKA.CKA_CLASS) as number), CKR.CKR_KEY_HANDLE_INVALID, 'not a key');
  const keyType = attrs.get(CKA.CKA_KEY_TYPE) as number;
  require(mechanism.keyTypes?.includes(keyType), CKR.CKR_KEY_TYPE_INCONSISTENT, `key type ${keyType} does not suit this mechanism`);
  require(attrs.get(usage) === true, CKR.CKR_KEY_FUNCTION_NOT_PERMITTED, `the key does not allow this use (attribute 0x${usage.toString(16)})`);
  const allowed = attrs.get(CKA.CKA_ALLOWED_MECHANISMS);
  if (Array.isArray(allowed) && allowed.length > 0) require(allowed.includes(mechanism.type), CKR.CKR_MECHANISM_INVALID, 'mechanism not in CKA_ALLOWED_MECHANISMS');
  const value = attrs.get(CKA.CKA_VALUE);
  if (value instanceof Uint8Array && SIZE_CHECKED.has(keyType)) {
    const size = mechanism.keySizeInBits ? value.length * 8 : value.length;
    require(size >= mechanism.minKeySize && size <= mechanism.maxKeySize, CKR.CKR_KEY_SIZE_RANGE);
  }
  recordOperation(session, mechanism, hsm.mechanisms.policy.keyUse(mechanism, attrs));
  return key;
}

/** Records the operation a session starts and whether it is FIPS-approved (the algorithm indicator). */
export function recordOperation(session: Session, mechanism: MechanismSpec, fipsApproved: boolean): void {
  session.lastOperation = { mechanism: mechanism.type, fipsApproved };
}

/** The secret value of a secret key, for a symmetric mechanism. */
export function secretValue(key: P11Object): Uint8Array {
  const value = key.attributes.get(CKA.CKA_VALUE);
  require(value instanceof Uint8Array, CKR.CKR_KEY_TYPE_INCONSISTENT, 'not a secret key');
  return value;
}
