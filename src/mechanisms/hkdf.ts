/**
 * HKDF (PKCS#11 3.0 "HKDF Mechanisms", RFC 5869): CKM_HKDF_DERIVE makes a secret
 * key, CKM_HKDF_DATA a data object, from a CKK_HKDF or generic secret (or,
 * extracting with a salt, a data object); CKM_HKDF_KEY_GEN makes CKK_HKDF keys.
 */
import { CKF_HKDF, CKF_MECH, CKK, CKM, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import { DIGEST_LENGTHS, type DigestAlgorithm } from '../backends/backend';
import type { WireParam } from '../wire/codec';
import { digestOfHashMechanism } from './hash-names';
import { variableLengthKey } from './hmac';
import type { MechanismFamily, MechanismSpec, SecretDerivation } from './mechanism';
import { boolField, bytesField, structParam, ulongField, type Fields } from './params';

const MAX_KEY_BYTES = 4096;

type Salt = { kind: 'none' } | { kind: 'data'; bytes: Uint8Array } | { kind: 'key'; handle: number };

function readSalt(f: Fields): Salt {
  const type = ulongField(f, 'ulSaltType');
  switch (type) {
    case CKF_HKDF.CKF_HKDF_SALT_NULL:
      return { kind: 'none' };
    case CKF_HKDF.CKF_HKDF_SALT_DATA: {
      const bytes = bytesField(f, 'pSalt');
      require(bytes.length > 0, CKR.CKR_MECHANISM_PARAM_INVALID, 'CKF_HKDF_SALT_DATA needs a salt');
      return { kind: 'data', bytes };
    }
    case CKF_HKDF.CKF_HKDF_SALT_KEY:
      return { kind: 'key', handle: ulongField(f, 'hSaltKey') };
    default:
      throw new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, `unknown salt type ${type}`);
  }
}

function hkdfDerivation(param: WireParam, objectClass: number): SecretDerivation {
  const f = structParam(param, 'CK_HKDF_PARAMS');
  const extract = boolField(f, 'bExtract');
  const expand = boolField(f, 'bExpand');
  require(extract || expand, CKR.CKR_MECHANISM_PARAM_INVALID, 'bExtract or bExpand must be true');
  const digest: DigestAlgorithm = digestOfHashMechanism(ulongField(f, 'prfHashMechanism'));
  const hashLength = DIGEST_LENGTHS[digest];
  // The salt only matters when extracting and the info only when expanding ("HKDF derive").
  const salt: Salt = extract ? readSalt(f) : { kind: 'none' };
  const info = expand ? bytesField(f, 'pInfo') : new Uint8Array(0);
  return {
    objectClass,
    baseMayBeData: extract && salt.kind !== 'none',
    otherKey: salt.kind === 'key' ? salt.handle : undefined,
    // Extracting alone yields the PRK, one hash long; expanding needs CKA_VALUE_LEN.
    defaultLength: expand ? undefined : hashLength,
    derive(backend, base, [length], saltKey) {
      const saltBytes = salt.kind === 'data' ? salt.bytes : salt.kind === 'key' ? (saltKey ?? new Uint8Array(0)) : new Uint8Array(0);
      if (!expand) {
        require(length === hashLength, CKR.CKR_TEMPLATE_INCONSISTENT, `extracting yields ${hashLength} bytes`);
        return [backend.hkdf({ mode: 'extract', digest, ikm: base, salt: saltBytes })];
      }
      require(length >= 1 && length <= 255 * hashLength, CKR.CKR_TEMPLATE_INCONSISTENT, `HKDF yields 1 to ${255 * hashLength} bytes`);
      if (extract) return [backend.hkdf({ mode: 'extract-expand', digest, ikm: base, salt: saltBytes, info, length })];
      // RFC 5869 section 2.3: the PRK is at least one hash long.
      require(base.length >= hashLength, CKR.CKR_KEY_SIZE_RANGE, `expanding needs a key of at least ${hashLength} bytes`);
      return [backend.hkdf({ mode: 'expand', digest, prk: base, info, length })];
    },
  };
}

const BASE_KEY_TYPES = [CKK.CKK_HKDF, CKK.CKK_GENERIC_SECRET];

function hkdf(type: number, objectClass: number): MechanismSpec {
  return {
    type,
    minKeySize: 1,
    maxKeySize: MAX_KEY_BYTES,
    flags: CKF_MECH.CKF_DERIVE,
    fipsApproved: false,
    keyTypes: BASE_KEY_TYPES,
    secretDerivation: (param) => hkdfDerivation(param, objectClass),
  };
}

export const hkdfFamily: MechanismFamily = {
  name: 'hkdf',
  mechanisms: [
    hkdf(CKM.CKM_HKDF_DERIVE, CKO.CKO_SECRET_KEY),
    hkdf(CKM.CKM_HKDF_DATA, CKO.CKO_DATA),
    {
      type: CKM.CKM_HKDF_KEY_GEN,
      minKeySize: 1,
      maxKeySize: MAX_KEY_BYTES,
      flags: CKF_MECH.CKF_GENERATE,
      fipsApproved: false,
      generateKey: variableLengthKey(CKK.CKK_HKDF),
    },
  ],
};
