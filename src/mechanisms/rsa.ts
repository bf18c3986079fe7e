/**
 * RSA (PKCS#11 3.0 section 2.1): key-pair generation, signatures with PKCS #1
 * v1.5 (raw and hashed), PSS (raw and hashed) and X.509 (raw RSA), the raw two
 * also with message recovery, and encryption with PKCS #1 v1.5, OAEP and X.509.
 */
import { CKA, CKF_MECH, CKK, CKM, CKR, CKZ } from '../generated/constants';
import { require } from '../ck-error';
import { RSA_MAX_BITS, RSA_MIN_GENERATE_BITS, type RsaEncryptionParams } from '../backends/asymmetric';
import type { DigestAlgorithm } from '../backends/backend';
import type { WireParam } from '../wire/codec';
import { digestOfHashMechanism, digestOfMgf } from './hash-names';
import type { MechanismFamily, MechanismSpec, SignatureUse } from './mechanism';
import { bytesField, noParam, structParam, ulongField } from './params';

const RSA = [CKK.CKK_RSA];
const SIGN_FLAGS = CKF_MECH.CKF_SIGN | CKF_MECH.CKF_VERIFY;
const sizes = { minKeySize: RSA_MIN_GENERATE_BITS, maxKeySize: RSA_MAX_BITS };
const F4 = new Uint8Array([1, 0, 1]);

const CRYPT_FLAGS = CKF_MECH.CKF_ENCRYPT | CKF_MECH.CKF_DECRYPT | CKF_MECH.CKF_WRAP | CKF_MECH.CKF_UNWRAP;
/** The raw schemes (PKCS #1 v1.5 type 1, X.509) also sign and verify with message recovery. */
const RECOVER_FLAGS = CKF_MECH.CKF_SIGN_RECOVER | CKF_MECH.CKF_VERIFY_RECOVER;

function signer(type: number, fipsApproved: boolean, signature: (param: WireParam) => SignatureUse): MechanismSpec {
  return { type, ...sizes, flags: SIGN_FLAGS, fipsApproved, keyTypes: RSA, signature };
}

/** CK_RSA_PKCS_OAEP_PARAMS: the label, when given, comes with source CKZ_DATA_SPECIFIED. */
function oaep(param: WireParam): RsaEncryptionParams {
  const f = structParam(param, 'CK_RSA_PKCS_OAEP_PARAMS');
  const source = ulongField(f, 'source');
  const label = bytesField(f, 'pSourceData');
  require(source === CKZ.CKZ_DATA_SPECIFIED || (source === 0 && label.length === 0), CKR.CKR_MECHANISM_PARAM_INVALID, 'source must be CKZ_DATA_SPECIFIED');
  return { padding: 'oaep', digest: digestOfHashMechanism(ulongField(f, 'hashAlg')), mgf1Digest: digestOfMgf(ulongField(f, 'mgf')), label };
}

/** CK_RSA_PKCS_PSS_PARAMS; a hashed mechanism's hashAlg must be its own hash. */
function pss(param: WireParam, hashed?: DigestAlgorithm): SignatureUse {
  const f = structParam(param, 'CK_RSA_PKCS_PSS_PARAMS');
  const digest = digestOfHashMechanism(ulongField(f, 'hashAlg'));
  require(hashed === undefined || digest === hashed, CKR.CKR_MECHANISM_PARAM_INVALID, 'hashAlg must match the mechanism');
  const params = { scheme: 'rsa-pss', digest, mgf1Digest: digestOfMgf(ulongField(f, 'mgf')), saltLength: ulongField(f, 'sLen'), prehashed: true } as const;
  return hashed ? { params, digest } : { params };
}

const HASHED: readonly [number, number, DigestAlgorithm, boolean][] = [
  [CKM.CKM_SHA1_RSA_PKCS, CKM.CKM_SHA1_RSA_PKCS_PSS, 'sha1', false],
  [CKM.CKM_SHA224_RSA_PKCS, CKM.CKM_SHA224_RSA_PKCS_PSS, 'sha224', false],
  [CKM.CKM_SHA256_RSA_PKCS, CKM.CKM_SHA256_RSA_PKCS_PSS, 'sha256', true],
  [CKM.CKM_SHA384_RSA_PKCS, CKM.CKM_SHA384_RSA_PKCS_PSS, 'sha384', true],
  [CKM.CKM_SHA512_RSA_PKCS, CKM.CKM_SHA512_RSA_PKCS_PSS, 'sha512', true],
  [CKM.CKM_SHA3_224_RSA_PKCS, CKM.CKM_SHA3_224_RSA_PKCS_PSS, 'sha3-224', false],
  [CKM.CKM_SHA3_256_RSA_PKCS, CKM.CKM_SHA3_256_RSA_PKCS_PSS, 'sha3-256', true],
  [CKM.CKM_SHA3_384_RSA_PKCS, CKM.CKM_SHA3_384_RSA_PKCS_PSS, 'sha3-384', true],
  [CKM.CKM_SHA3_512_RSA_PKCS, CKM.CKM_SHA3_512_RSA_PKCS_PSS, 'sha3-512', true],
];

export const rsaFamily: MechanismFamily = {
  name: 'rsa',
  mechanisms: [
    {
      type: CKM.CKM_RSA_PKCS_KEY_PAIR_GEN,
      ...sizes,
      flags: CKF_MECH.CKF_GENERATE_KEY_PAIR,
      fipsApproved: true,
      generateKeyPair: {
        keyType: CKK.CKK_RSA,
        params(template) {
          const bits = template.get(CKA.CKA_MODULUS_BITS);
          require(typeof bits === 'number', CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_MODULUS_BITS is required');
          require(bits >= RSA_MIN_GENERATE_BITS && bits <= RSA_MAX_BITS, CKR.CKR_KEY_SIZE_RANGE, `RSA keys are ${RSA_MIN_GENERATE_BITS} to ${RSA_MAX_BITS} bits`);
          template.delete(CKA.CKA_MODULUS_BITS);
          const e = template.get(CKA.CKA_PUBLIC_EXPONENT);
          template.delete(CKA.CKA_PUBLIC_EXPONENT);
          return { type: 'rsa', bits, publicExponent: e instanceof Uint8Array && e.length > 0 ? e : F4 };
        },
      },
    },
    {
      ...signer(CKM.CKM_RSA_PKCS, true, (param) => {
        noParam(param);
        return { params: { scheme: 'rsa-pkcs1' } };
      }),
      flags: SIGN_FLAGS | RECOVER_FLAGS | CRYPT_FLAGS,
      rsaEncryption(param) {
        noParam(param);
        return { padding: 'pkcs1' };
      },
    },
    {
      ...signer(CKM.CKM_RSA_X_509, false, (param) => {
        noParam(param);
        return { params: { scheme: 'rsa-x509' } };
      }),
      flags: SIGN_FLAGS | RECOVER_FLAGS | CRYPT_FLAGS,
      rsaEncryption(param) {
        noParam(param);
        return { padding: 'none' };
      },
    },
    { type: CKM.CKM_RSA_PKCS_OAEP, ...sizes, flags: CRYPT_FLAGS, fipsApproved: true, keyTypes: RSA, rsaEncryption: oaep },
    signer(CKM.CKM_RSA_PKCS_PSS, true, (param) => pss(param)),
    ...HASHED.flatMap(([pkcs1, pssType, digest, approved]) => [
      signer(pkcs1, approved, (param) => {
        noParam(param);
        return { params: { scheme: 'rsa-pkcs1', digest, prehashed: true }, digest };
      }),
      signer(pssType, approved, (param) => pss(param, digest)),
    ]),
  ],
};
