/**
 * PKCS #5 PBKDF2 key generation (PKCS#11 3.0 "PKCS #5 PBKD2 key generation"): C_GenerateKey
 * with CK_PKCS5_PBKD2_PARAMS2 makes a secret key of the template's type from
 * a password and a salt.
 */
import { CKF_MECH, CKM, CKP_PBKD2, CKR, CKZ } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { DigestAlgorithm } from '../backends/backend';
import type { MechanismFamily } from './mechanism';
import { bytesField, structParam, ulongField } from './params';

const PRFS = new Map<number, DigestAlgorithm>([
  [CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA1, 'sha1'],
  [CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA224, 'sha224'],
  [CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA256, 'sha256'],
  [CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA384, 'sha384'],
  [CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA512, 'sha512'],
]);

/** The backend's limits: the iteration count is a C int, the output at most 64 KiB. */
const MAX_ITERATIONS = 0x7fffffff;
const MAX_KEY_BYTES = 4096;

export const pbkdf2Family: MechanismFamily = {
  name: 'pbkdf2',
  mechanisms: [
    {
      type: CKM.CKM_PKCS5_PBKD2,
      minKeySize: 1,
      maxKeySize: MAX_KEY_BYTES,
      flags: CKF_MECH.CKF_GENERATE,
      fipsApproved: false,
      generateKey: {
        valueLength(valueLen) {
          // Every key type we make has a variable length, so the template must say it.
          if (valueLen === undefined) throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_VALUE_LEN is required');
          require(valueLen >= 1 && valueLen <= MAX_KEY_BYTES, CKR.CKR_KEY_SIZE_RANGE, `PBKDF2 keys are 1 to ${MAX_KEY_BYTES} bytes`);
          return valueLen;
        },
        fromParam(param) {
          const f = structParam(param, 'CK_PKCS5_PBKD2_PARAMS2');
          require(ulongField(f, 'saltSource') === CKZ.CKZ_SALT_SPECIFIED, CKR.CKR_MECHANISM_PARAM_INVALID, 'the salt source must be CKZ_SALT_SPECIFIED');
          const digest = PRFS.get(ulongField(f, 'prf'));
          if (!digest) throw new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, 'unsupported PRF');
          require(bytesField(f, 'pPrfData').length === 0, CKR.CKR_MECHANISM_PARAM_INVALID, 'the HMAC PRFs take no PRF data');
          const iterations = ulongField(f, 'iterations');
          require(iterations >= 1 && iterations <= MAX_ITERATIONS, CKR.CKR_MECHANISM_PARAM_INVALID, 'iterations out of range');
          const salt = bytesField(f, 'pSaltSourceData');
          const password = bytesField(f, 'pPassword');
          return (backend, length) => backend.pbkdf2({ digest, password, salt, iterations, length });
        },
      },
    },
  ],
};
