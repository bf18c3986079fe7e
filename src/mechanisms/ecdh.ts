/**
 * ECDH key derivation (PKCS#11 3.0 sections 2.3.14-2.3.15): CKM_ECDH1_DERIVE
 * and CKM_ECDH1_COFACTOR_DERIVE (the same on these prime-order curves, whose
 * cofactor is 1) with CKD_NULL or the ANSI X9.63 KDF over SHA-1/SHA-2/SHA-3,
 * on the prime curves and (X25519, X448) the Montgomery curves.
 */
import { CKD, CKF_MECH, CKK, CKM, CKR } from '../generated/constants';
import { montgomeryCurveOf, requiredEcParams } from '../objects/ec-params';
import { CkError, require } from '../ck-error';
import { DIGEST_LENGTHS, type CryptoBackend, type DigestAlgorithm } from '../backends/backend';
import type { MechanismFamily, MechanismSpec } from './mechanism';
import { bytesField, structParam, ulongField } from './params';

const X963: ReadonlyMap<number, DigestAlgorithm> = new Map<number, DigestAlgorithm>([
  [CKD.CKD_SHA1_KDF, 'sha1'],
  [CKD.CKD_SHA224_KDF, 'sha224'],
  [CKD.CKD_SHA256_KDF, 'sha256'],
  [CKD.CKD_SHA384_KDF, 'sha384'],
  [CKD.CKD_SHA512_KDF, 'sha512'],
  [CKD.CKD_SHA3_224_KDF, 'sha3-224'],
  [CKD.CKD_SHA3_256_KDF, 'sha3-256'],
  [CKD.CKD_SHA3_384_KDF, 'sha3-384'],
  [CKD.CKD_SHA3_512_KDF, 'sha3-512'],
]);

/** ANSI X9.63 KDF: Hash(Z || counter || SharedInfo) for counter = 1, 2, ... */
function x963(backend: CryptoBackend, digest: DigestAlgorithm, z: Uint8Array, sharedInfo: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(length / DIGEST_LENGTHS[digest]) * DIGEST_LENGTHS[digest]);
  for (let counter = 1, at = 0; at < length; counter++, at += DIGEST_LENGTHS[digest]) {
    const block = new Uint8Array(4);
    new DataView(block.buffer).setUint32(0, counter);
    out.set(backend.digest(digest, Buffer.concat([z, block, sharedInfo])), at);
  }
  return out.subarray(0, length);
}

function ecdh(type: number): MechanismSpec {
  return {
    type,
    minKeySize: 255,
    maxKeySize: 521,
    flags: CKF_MECH.CKF_DERIVE | CKF_MECH.CKF_EC_F_P | CKF_MECH.CKF_EC_OID | CKF_MECH.CKF_EC_UNCOMPRESS,
    fipsApproved: true,
    keyTypes: [CKK.CKK_EC, CKK.CKK_EC_MONTGOMERY],
    agreement(param) {
      const f = structParam(param, 'CK_ECDH1_DERIVE_PARAMS');
      const kdf = ulongField(f, 'kdf');
      const sharedData = bytesField(f, 'pSharedData');
      const peerPublic = bytesField(f, 'pPublicData');
      require(peerPublic.length > 0, CKR.CKR_MECHANISM_PARAM_INVALID, 'pPublicData is required');
      if (kdf === CKD.CKD_NULL) {
        require(sharedData.length === 0, CKR.CKR_MECHANISM_PARAM_INVALID, 'CKD_NULL takes no shared data');
        return {
          peerPublic,
          kdf(_backend, z, length) {
            require(length <= z.length, CKR.CKR_TEMPLATE_INCONSISTENT, 'CKA_VALUE_LEN exceeds the shared secret');
            // The key takes the rightmost bytes of Z when it is shorter (section 2.3.14).
            return z.subarray(z.length - length);
          },
        };
      }
      const digest = X963.get(kdf);
      if (!digest) throw new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, `unsupported KDF 0x${kdf.toString(16)}`);
      return { peerPublic, kdf: (backend, z, length) => x963(backend, digest, z, sharedData, length) };
    },
  };
}

export const ecdhFamily: MechanismFamily = {
  name: 'ecdh',
  mechanisms: [
    ecdh(CKM.CKM_ECDH1_DERIVE),
    ecdh(CKM.CKM_ECDH1_COFACTOR_DERIVE),
    {
      type: CKM.CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
      // Key sizes in bits: RFC 7748 defines the two curves' field sizes.
      minKeySize: 255,
      maxKeySize: 448,
      flags: CKF_MECH.CKF_GENERATE_KEY_PAIR | CKF_MECH.CKF_EC_OID,
      fipsApproved: false,
      generateKeyPair: {
        keyType: CKK.CKK_EC_MONTGOMERY,
        params: (template) => ({ type: 'xdh', curve: montgomeryCurveOf(requiredEcParams(template)) }),
      },
    },
  ],
};
