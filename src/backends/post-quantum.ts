/**
 * ML-KEM (FIPS 203) and ML-DSA (FIPS 204) for the TypeScript core, from
 * @noble/post-quantum (audited, pure TypeScript). Keys and ciphertexts are
 * the standard encodings, so any other implementation reads them.
 */
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';

export type MlKemParameterSet = 'ML-KEM-512' | 'ML-KEM-768' | 'ML-KEM-1024';
export type MlDsaParameterSet = 'ML-DSA-44' | 'ML-DSA-65' | 'ML-DSA-87';

const KEMS = { 'ML-KEM-512': ml_kem512, 'ML-KEM-768': ml_kem768, 'ML-KEM-1024': ml_kem1024 } as const;
const DSAS = { 'ML-DSA-44': ml_dsa44, 'ML-DSA-65': ml_dsa65, 'ML-DSA-87': ml_dsa87 } as const;

export interface KeyPairBytes {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

export interface PostQuantumCrypto {
  /** From the 64-byte seed d || z when given (FIPS 203 ML-KEM.KeyGen_internal). */
  mlKemKeyGen(set: MlKemParameterSet, seed?: Uint8Array): KeyPairBytes;
  mlKemDecapsulate(set: MlKemParameterSet, ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** From the 32-byte seed xi when given (FIPS 204 ML-DSA.KeyGen_internal). */
  mlDsaKeyGen(set: MlDsaParameterSet, seed?: Uint8Array): KeyPairBytes;
  /** FIPS 204 ML-DSA.Sign with a context; deterministic (rnd = 0^32) or hedged. */
  mlDsaSign(set: MlDsaParameterSet, secretKey: Uint8Array, message: Uint8Array, options: { readonly context: Uint8Array; readonly deterministic: boolean }): Uint8Array;
  mlDsaVerify(set: MlDsaParameterSet, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, context: Uint8Array): boolean;
}

export const noblePostQuantum: PostQuantumCrypto = {
  mlKemKeyGen: (set, seed) => KEMS[set].keygen(seed),
  mlKemDecapsulate: (set, ciphertext, secretKey) => KEMS[set].decapsulate(ciphertext, secretKey),
  mlDsaKeyGen: (set, seed) => DSAS[set].keygen(seed),
  mlDsaSign: (set, secretKey, message, { context, deterministic }) =>
    DSAS[set].sign(message, secretKey, deterministic ? { context, extraEntropy: false } : { context }),
  mlDsaVerify: (set, publicKey, message, signature, context) => DSAS[set].verify(signature, message, publicKey, { context }),
};
