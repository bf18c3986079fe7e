/**
 * HMAC with SHA-1, SHA-2 and SHA-3 (PKCS#11 3.0 sections 6.19-6.21, 6.57), the
 * _GENERAL variants with a chosen output length, and generic secret key
 * generation (section 6.23).
 */
import { CKF_MECH, CKK, CKM, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import { DIGEST_LENGTHS, type DigestAlgorithm } from '../backends/backend';
import type { MechanismFamily, MechanismSpec, SecretKeyGeneration } from './mechanism';
import { noParam, structParam, ulongField } from './params';

const MAX_KEY_BYTES = 4096;
const MAC_FLAGS = CKF_MECH.CKF_SIGN | CKF_MECH.CKF_VERIFY;

/** Each digest's HMAC mechanisms, the key type dedicated to it, and whether seed 004's approved table lists it. */
const HMACS: readonly [DigestAlgorithm, number, number, number, boolean][] = [
  ['sha1', CKM.CKM_SHA_1_HMAC, CKM.CKM_SHA_1_HMAC_GENERAL, CKK.CKK_SHA_1_HMAC, false],
  ['sha224', CKM.CKM_SHA224_HMAC, CKM.CKM_SHA224_HMAC_GENERAL, CKK.CKK_SHA224_HMAC, false],
  ['sha256', CKM.CKM_SHA256_HMAC, CKM.CKM_SHA256_HMAC_GENERAL, CKK.CKK_SHA256_HMAC, true],
  ['sha384', CKM.CKM_SHA384_HMAC, CKM.CKM_SHA384_HMAC_GENERAL, CKK.CKK_SHA384_HMAC, true],
  ['sha512', CKM.CKM_SHA512_HMAC, CKM.CKM_SHA512_HMAC_GENERAL, CKK.CKK_SHA512_HMAC, true],
  ['sha3-224', CKM.CKM_SHA3_224_HMAC, CKM.CKM_SHA3_224_HMAC_GENERAL, CKK.CKK_SHA3_224_HMAC, false],
  ['sha3-256', CKM.CKM_SHA3_256_HMAC, CKM.CKM_SHA3_256_HMAC_GENERAL, CKK.CKK_SHA3_256_HMAC, false],
  ['sha3-384', CKM.CKM_SHA3_384_HMAC, CKM.CKM_SHA3_384_HMAC_GENERAL, CKK.CKK_SHA3_384_HMAC, false],
  ['sha3-512', CKM.CKM_SHA3_512_HMAC, CKM.CKM_SHA3_512_HMAC_GENERAL, CKK.CKK_SHA3_512_HMAC, false],
];

/** The key types dedicated to one HMAC digest (CKK_SHA256_HMAC...). */
export const HMAC_KEY_TYPES: readonly number[] = HMACS.map(([, , , keyType]) => keyType);

/** The digest and dedicated key type of a CKM_*_HMAC mechanism, for its use as a PRF (SP800-108); undefined for any other. */

export function hmacOf(mechanism: number): { readonly digest: DigestAlgorithm; readonly keyType: number } | undefined {
  const row = HMACS.find(([, full]) => full === mechanism);
  return row && { digest: row[0], keyType: row[3] };
}

function hmacMechanisms([digest, full, general, keyType, fipsApproved]: (typeof HMACS)[number]): MechanismSpec[] {
  const base = { minKeySize: 1, maxKeySize: MAX_KEY_BYTES, flags: MAC_FLAGS, fipsApproved, keyTypes: [CKK.CKK_GENERIC_SECRET, keyType] };
  const size = DIGEST_LENGTHS[digest];
  return [
    {
      type: full,
      ...base,
      mac(key, param) {
        noParam(param);
        return { spec: { algorithm: 'hmac', digest, key }, length: size };
      },
    },
    {
      type: general,
      ...base,
      mac(key, param) {
        const length = ulongField(structParam(param, 'CK_MAC_GENERAL_PARAMS'), 'ulLength');
        require(length >= 1 && length <= size, CKR.CKR_MECHANISM_PARAM_INVALID, `the MAC length must be 1 to ${size} bytes`);
        return { spec: { algorithm: 'hmac', digest, key }, length };
      },
    },
  ];
}

/** Generation of a secret key type whose length the template's CKA_VALUE_LEN chooses (1 to 4096 bytes). */
export function variableLengthKey(keyType: number): SecretKeyGeneration {
  return {
    keyType,
    valueLength(valueLen) {
      if (valueLen === undefined) throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_VALUE_LEN is required');
      require(valueLen >= 1 && valueLen <= MAX_KEY_BYTES, CKR.CKR_KEY_SIZE_RANGE, `these keys are 1 to ${MAX_KEY_BYTES} bytes`);
      return valueLen;
    },
  };
}

export const hmacFamily: MechanismFamily = {
  name: 'hmac',
  mechanisms: [
    {
      type: CKM.CKM_GENERIC_SECRET_KEY_GEN,
      minKeySize: 8,
      maxKeySize: MAX_KEY_BYTES * 8,
      flags: CKF_MECH.CKF_GENERATE,
      fipsApproved: true,
      generateKey: variableLengthKey(CKK.CKK_GENERIC_SECRET),
    },
    ...HMACS.flatMap(hmacMechanisms),
  ],
};
