/** The digest each CKM_SHA* mechanism and CKG_MGF1_* generator names (PKCS#11 3.0 sections 2.1.14-2.1.15). */
import { CKG_MGF, CKM, CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { DigestAlgorithm } from '../backends/backend';

const BY_MECHANISM = new Map<number, DigestAlgorithm>([
  [CKM.CKM_SHA_1, 'sha1'],
  [CKM.CKM_SHA224, 'sha224'],
  [CKM.CKM_SHA256, 'sha256'],
  [CKM.CKM_SHA384, 'sha384'],
  [CKM.CKM_SHA512, 'sha512'],
  [CKM.CKM_SHA3_224, 'sha3-224'],
  [CKM.CKM_SHA3_256, 'sha3-256'],
  [CKM.CKM_SHA3_384, 'sha3-384'],
  [CKM.CKM_SHA3_512, 'sha3-512'],
]);

const BY_MGF = new Map<number, DigestAlgorithm>([
  [CKG_MGF.CKG_MGF1_SHA1, 'sha1'],
  [CKG_MGF.CKG_MGF1_SHA224, 'sha224'],
  [CKG_MGF.CKG_MGF1_SHA256, 'sha256'],
  [CKG_MGF.CKG_MGF1_SHA384, 'sha384'],
  [CKG_MGF.CKG_MGF1_SHA512, 'sha512'],
  [CKG_MGF.CKG_MGF1_SHA3_224, 'sha3-224'],
  [CKG_MGF.CKG_MGF1_SHA3_256, 'sha3-256'],
  [CKG_MGF.CKG_MGF1_SHA3_384, 'sha3-384'],
  [CKG_MGF.CKG_MGF1_SHA3_512, 'sha3-512'],
]);

export function digestOfHashMechanism(type: number): DigestAlgorithm {
  const d = BY_MECHANISM.get(type);
  if (!d) throw new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, `0x${type.toString(16)} is not a hash mechanism`);
  return d;
}

export function digestOfMgf(mgf: number): DigestAlgorithm {
  const d = BY_MGF.get(mgf);
  if (!d) throw new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, `0x${mgf.toString(16)} is not an MGF1 generator`);
  return d;
}
