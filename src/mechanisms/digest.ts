/** Message digests: SHA-1, SHA-2 and SHA-3 (PKCS#11 3.0 sections 6.19-6.21, 6.57). */
import { CKF_MECH, CKM } from '../generated/constants';
import type { DigestAlgorithm } from '../backends/backend';
import type { MechanismFamily, MechanismSpec } from './mechanism';

const digest = (type: number, algorithm: DigestAlgorithm, fipsApproved: boolean): MechanismSpec => ({
  type,
  minKeySize: 0,
  maxKeySize: 0,
  flags: CKF_MECH.CKF_DIGEST,
  fipsApproved,
  digest: algorithm,
});

export const digestFamily: MechanismFamily = {
  name: 'digest',
  mechanisms: [
    // Seed 004's approved table: SHA-1 (as a digest only), SHA-256/384/512, SHA3-256/384/512.
    digest(CKM.CKM_SHA_1, 'sha1', true),
    digest(CKM.CKM_SHA224, 'sha224', false),
    digest(CKM.CKM_SHA256, 'sha256', true),
    digest(CKM.CKM_SHA384, 'sha384', true),
    digest(CKM.CKM_SHA512, 'sha512', true),
    digest(CKM.CKM_SHA3_224, 'sha3-224', false),
    digest(CKM.CKM_SHA3_256, 'sha3-256', true),
    digest(CKM.CKM_SHA3_384, 'sha3-384', true),
    digest(CKM.CKM_SHA3_512, 'sha3-512', true),
  ],
};
