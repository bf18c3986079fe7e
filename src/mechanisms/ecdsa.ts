/**
 * Elliptic curves on the prime curves (PKCS#11 3.0 section 2.3): key-pair
 * generation and ECDSA over a caller's hash or hashing the data itself.
 */
import { CKF_MECH, CKK, CKM } from '../generated/constants';
import type { DigestAlgorithm } from '../backends/backend';
import { curveOf, requiredEcParams } from '../objects/ec-params';
import type { MechanismFamily, MechanismSpec } from './mechanism';
import { noParam } from './params';

const EC = [CKK.CKK_EC];
const SIGN_FLAGS = CKF_MECH.CKF_SIGN | CKF_MECH.CKF_VERIFY;
// Key sizes in bits: the field sizes of the supported curves, and the flags that say how curves are named.
const sizes = { minKeySize: 256, maxKeySize: 521 };
const CURVE_FLAGS = CKF_MECH.CKF_EC_F_P | CKF_MECH.CKF_EC_OID | CKF_MECH.CKF_EC_UNCOMPRESS;

function ecdsa(type: number, digest: DigestAlgorithm | undefined, fipsApproved: boolean): MechanismSpec {
  return {
    type,
    ...sizes,
    flags: SIGN_FLAGS | CURVE_FLAGS,
    fipsApproved,
    keyTypes: EC,
    signature(param) {
      noParam(param);
      return digest ? { params: { scheme: 'ecdsa', digest, prehashed: true }, digest } : { params: { scheme: 'ecdsa', prehashed: true } };
    },
  };
}

export const ecdsaFamily: MechanismFamily = {
  name: 'ecdsa',
  mechanisms: [
    {
      type: CKM.CKM_EC_KEY_PAIR_GEN,
      ...sizes,
      flags: CKF_MECH.CKF_GENERATE_KEY_PAIR | CURVE_FLAGS,
      fipsApproved: true,
      generateKeyPair: {
        keyType: CKK.CKK_EC,
        params: (template) => ({ type: 'ec', curve: curveOf(requiredEcParams(template)) }),
      },
    },
    ecdsa(CKM.CKM_ECDSA, undefined, true),
    ecdsa(CKM.CKM_ECDSA_SHA1, 'sha1', false),
    ecdsa(CKM.CKM_ECDSA_SHA224, 'sha224', false),
    ecdsa(CKM.CKM_ECDSA_SHA256, 'sha256', true),
    ecdsa(CKM.CKM_ECDSA_SHA384, 'sha384', true),
    ecdsa(CKM.CKM_ECDSA_SHA512, 'sha512', true),
    ecdsa(CKM.CKM_ECDSA_SHA3_224, 'sha3-224', false),
    ecdsa(CKM.CKM_ECDSA_SHA3_256, 'sha3-256', true),
    ecdsa(CKM.CKM_ECDSA_SHA3_384, 'sha3-384', true),
    ecdsa(CKM.CKM_ECDSA_SHA3_512, 'sha3-512', true),
  ],
};
