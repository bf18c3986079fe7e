/**
 * Asymmetric primitives the mechanisms need (key pairs, signatures, RSA
 * encryption, key agreement): the part of the backend interface implemented
 * in native/crypto/asymmetric.c.
 *
 * Keys are opaque handles on native key objects; private material only
 * reaches JS through exportPrivateKey() / privateKeyInfo().  Every operation
 * that touches a key returns a Promise.  The expensive ones (RSA private
 * operations, key generation, key import, inputs over 64 KiB) run on the
 * libuv thread pool, so concurrent callers use all cores; the cheap ones
 * (EC and EdDSA signatures, verification, RSA public operations up to 4096
 * bits, key agreement) settle on the calling thread, since the hand-off to
 * the pool and back costs as much as they do.
 *
 * Errors are BackendError with code
 *   'ARGUMENT'               bad input: wrong key type for the operation, a
 *                            public key where a private one is needed, data
 *                            too long for the modulus / not matching the
 *                            digest length, inconsistent or invalid key
 *                            components, a peer point not on the curve;
 *   'AUTH'                   RSA decryption padding failure (pkcs1 / oaep),
 *                            always with the same message;
 *   'STATE'                  the key was disposed;
 *   'ALGORITHM_UNSUPPORTED'  unknown digest or curve, or a variant the bound
 *                            library lacks (Ed25519ctx/ph and Ed448 with a
 *                            context or ph need OpenSSL >= 3.2);
 *   'LIBRARY'                anything else the library reports.
 * A signature that does not verify is not an error: verify() resolves false
 * (also for a signature of the wrong length: check the length first if the
 * caller must tell CKR_SIGNATURE_LEN_RANGE apart) and verifyRecover()
 * resolves null.
 */
import type { DigestAlgorithm } from './backend';

/** Short-Weierstrass curves for ECDSA / ECDH. */
export type EcCurve = 'P-256' | 'P-384' | 'P-521' | 'secp256k1';
/** EdDSA curves. */
export type EdwardsCurve = 'Ed25519' | 'Ed448';
/** X25519 / X448 key agreement. */
export type MontgomeryCurve = 'X25519' | 'X448';

export const EC_CURVES: readonly EcCurve[] = ['P-256', 'P-384', 'P-521', 'secp256k1'];
export const EDWARDS_CURVES: readonly EdwardsCurve[] = ['Ed25519', 'Ed448'];
export const MONTGOMERY_CURVES: readonly MontgomeryCurve[] = ['X25519', 'X448'];

/** Modulus sizes accepted by generateKeyPair (OpenSSL takes any size in range; AWS-LC will want multiples of 128). */
export const RSA_MIN_GENERATE_BITS = 1024;
export const RSA_MAX_BITS = 16384;
/** Smallest modulus importKey accepts (legacy keys / test vectors). */
export const RSA_MIN_IMPORT_BITS = 512;

interface KeyCommon {
  /**
   * RSA: modulus bits.  EC: bits of the group order (256, 384, 521, 256).
   * Ed25519/X25519: 255, Ed448/X448: 448 (the PKCS#11 key sizes).
   */
  readonly bits: number;
  /**
   * RSA: k, the modulus length in bytes (= signature / ciphertext length).
   * EC: bytes of the order (r and s each; a signature is 2 * byteLength; also
   * the ECDH secret length and the private value length).
   * Ed25519: 32, Ed448: 57 (signature 2 * byteLength), X25519: 32, X448: 56.
   */
  readonly byteLength: number;
  /** True if the handle holds the private key (which includes the public part). */
  readonly hasPrivate: boolean;
  /**
   * Releases the native key now (idempotent).  Later use of this handle
   * throws / rejects 'STATE'; operations already started are unaffected
   * (they hold their own reference).  Without dispose() the native object
   * is released when the handle is garbage collected.
   */
  dispose(): void;
}

export interface RsaKey extends KeyCommon {
  readonly type: 'rsa';
  readonly curve: null;
}
export interface EcKey extends KeyCommon {
  readonly type: 'ec';
  readonly curve: EcCurve;
}
export interface EdwardsKey extends KeyCommon {
  readonly type: 'eddsa';
  readonly curve: EdwardsCurve;
}
export interface MontgomeryKey extends KeyCommon {
  readonly type: 'xdh';
  readonly curve: MontgomeryCurve;
}
export type AsymmetricKey = RsaKey | EcKey | EdwardsKey | MontgomeryKey;
export type AsymmetricKeyType = AsymmetricKey['type'];

export interface KeyPair<K extends AsymmetricKey = AsymmetricKey> {
  /** A separate handle holding only the public key. */
  readonly publicKey: K;
  readonly privateKey: K;
}

export type KeyPairParams =
  /** publicExponent big-endian, odd, >= 3, at most 64 bits (e.g. [1, 0, 1]). */
  | { type: 'rsa'; bits: number; publicExponent: Uint8Array }
  | { type: 'ec'; curve: EcCurve }
  | { type: 'eddsa'; curve: EdwardsCurve }
  | { type: 'xdh'; curve: MontgomeryCurve };

/**
 * Key components for importKey(): all integers big-endian, leading zero
 * bytes allowed.  A private key needs at least privateExponent; missing
 * primes / CRT values are recovered from n, e, d (and then checked, as are
 * given ones: n = pq, ed = 1 mod p-1 and q-1, dP, dQ, qInv).
 */
export interface RsaComponents {
  readonly type: 'rsa';
  readonly modulus: Uint8Array;
  readonly publicExponent: Uint8Array;
  readonly privateExponent?: Uint8Array;
  readonly prime1?: Uint8Array;
  readonly prime2?: Uint8Array;
  readonly exponent1?: Uint8Array;
  readonly exponent2?: Uint8Array;
  readonly coefficient?: Uint8Array;
}
/**
 * point: an X9.62 encoding (uncompressed 04||X||Y, or compressed; not the DER
 * OCTET STRING wrapper of CKA_EC_POINT).  privateValue: the scalar d,
 * 1 <= d < order, at most byteLength bytes.  At least one of the two; with
 * only privateValue the point is computed, with both they must match.
 */
export interface EcComponents {
  readonly type: 'ec';
  readonly curve: EcCurve;
  readonly point?: Uint8Array;
  readonly privateValue?: Uint8Array;
}
/** Raw RFC 8032 / RFC 7748 keys (the private key is the seed).  At least one; with both they must match. */
export interface EdwardsComponents {
  readonly type: 'eddsa';
  readonly curve: EdwardsCurve;
  readonly publicKey?: Uint8Array;
  readonly privateKey?: Uint8Array;
}
export interface MontgomeryComponents {
  readonly type: 'xdh';
  readonly curve: MontgomeryCurve;
  readonly publicKey?: Uint8Array;
  readonly privateKey?: Uint8Array;
}
export type KeyComponents = RsaComponents | EcComponents | EdwardsComponents | MontgomeryComponents;

/** What exportPublicKey() returns: integers minimal big-endian (at least one byte), the EC point uncompressed. */
export type PublicKeyComponents =
  | { readonly type: 'rsa'; readonly modulus: Uint8Array; readonly publicExponent: Uint8Array }
  | { readonly type: 'ec'; readonly curve: EcCurve; readonly point: Uint8Array }
  | { readonly type: 'eddsa'; readonly curve: EdwardsCurve; readonly publicKey: Uint8Array }
  | { readonly type: 'xdh'; readonly curve: MontgomeryCurve; readonly publicKey: Uint8Array };

/**
 * What exportPrivateKey() returns: every component, RSA CRT values included;
 * EC privateValue left-padded to byteLength.
 */
export type PrivateKeyComponents =
  | Required<RsaComponents>
  | Required<EcComponents>
  | Required<EdwardsComponents>
  | Required<MontgomeryComponents>;

/**
 * Signature schemes.  Where `digest` is given and `prehashed` is not true
 * the library hashes `data` with it first; with `prehashed: true` `data` is
 * that digest already (its length must match).
 *   rsa-pkcs1 without digest: PKCS#1 v1.5 type-1 padding over data as given
 *     (CKM_RSA_PKCS: a DigestInfo or anything up to k-11 bytes); with a
 *     digest the library builds the DigestInfo (CKM_SHA*_RSA_PKCS).
 *   rsa-pss: CKM_RSA_PKCS_PSS (prehashed: true) / CKM_SHA*_RSA_PKCS_PSS;
 *     saltLength exact, verify requires the same length.
 *   rsa-x509: raw RSA (CKM_RSA_X_509), data left-padded to k bytes, must be
 *     numerically below the modulus; verify compares the recovered block with
 *     the left-padded data.
 *   ecdsa without digest: data is a hash of any length (truncated to the
 *     order as FIPS 186 says); signature r || s, each byteLength bytes.
 *   eddsa: pure Ed25519 / Ed448 over the message; `prehash` selects
 *     Ed25519ph / Ed448ph (still over the message: the library hashes); a
 *     non-empty `context` selects Ed25519ctx (Ed448 takes it directly),
 *     at most 255 bytes.
 */
export type SignatureParams =
  | { readonly scheme: 'rsa-pkcs1'; readonly digest?: DigestAlgorithm; readonly prehashed?: boolean }
  | {
      readonly scheme: 'rsa-pss';
      readonly digest: DigestAlgorithm;
      readonly mgf1Digest: DigestAlgorithm;
      readonly saltLength: number;
      readonly prehashed: boolean;
    }
  | { readonly scheme: 'rsa-x509' }
  | { readonly scheme: 'ecdsa'; readonly digest?: DigestAlgorithm; readonly prehashed?: boolean }
  | { readonly scheme: 'eddsa'; readonly context?: Uint8Array; readonly prehash?: boolean };

export type SignatureScheme = SignatureParams['scheme'];

/** CKM_RSA_PKCS and CKM_RSA_X_509 verify-recover. */
export type RecoverParams = { readonly scheme: 'rsa-pkcs1' } | { readonly scheme: 'rsa-x509' };

/**
 * RSA encryption.  pkcs1: data up to k-11 bytes; oaep: up to k-2h-2 bytes
 * (label default empty); none: raw RSA, data up to k bytes left-padded and
 * below the modulus, decryption returns all k bytes.  Ciphertexts for
 * pkcs1 / oaep decryption must be exactly k bytes ('ARGUMENT' otherwise).
 */
export type RsaEncryptionParams =
  | { readonly padding: 'pkcs1' }
  | {
      readonly padding: 'oaep';
      readonly digest: DigestAlgorithm;
      readonly mgf1Digest: DigestAlgorithm;
      readonly label?: Uint8Array;
    }
  | { readonly padding: 'none' };

/** How many jobs of this part are running on the thread pool now, and the most seen at once since the last reset. */
export interface AsymmetricStats {
  readonly running: number;
  readonly maxRunning: number;
}

export interface AsymmetricCrypto {
  generateKeyPair(params: { type: 'rsa'; bits: number; publicExponent: Uint8Array }): Promise<KeyPair<RsaKey>>;
  generateKeyPair(params: { type: 'ec'; curve: EcCurve }): Promise<KeyPair<EcKey>>;
  generateKeyPair(params: { type: 'eddsa'; curve: EdwardsCurve }): Promise<KeyPair<EdwardsKey>>;
  generateKeyPair(params: { type: 'xdh'; curve: MontgomeryCurve }): Promise<KeyPair<MontgomeryKey>>;
  generateKeyPair(params: KeyPairParams): Promise<KeyPair>;

  /** Validates (see the component types) and builds a key; private if private components are given. */
  importKey(components: RsaComponents): Promise<RsaKey>;
  importKey(components: EcComponents): Promise<EcKey>;
  importKey(components: EdwardsComponents): Promise<EdwardsKey>;
  importKey(components: MontgomeryComponents): Promise<MontgomeryKey>;
  importKey(components: KeyComponents): Promise<AsymmetricKey>;

  /**
   * A handle for the public part (works on public keys too): it may share the
   * native key, but every private use of it is refused ('ARGUMENT').
   */
  publicKeyOf<K extends AsymmetricKey>(key: K): K;
  exportPublicKey(key: AsymmetricKey): PublicKeyComponents;
  /** Explicit private export; 'ARGUMENT' for a public key. */
  exportPrivateKey(key: AsymmetricKey): PrivateKeyComponents;
  /** SubjectPublicKeyInfo DER (CKA_PUBLIC_KEY_INFO). */
  publicKeyInfo(key: AsymmetricKey): Uint8Array;
  /** PKCS#8 PrivateKeyInfo DER (unencrypted); 'ARGUMENT' for a public key. */
  privateKeyInfo(key: AsymmetricKey): Uint8Array;
  /**
   * The inverse: a private key from PrivateKeyInfo DER, checked as importKey
   * checks components; 'ARGUMENT' for bad DER or key material,
   * 'ALGORITHM_UNSUPPORTED' for another key type or curve.
   */
  importPrivateKeyInfo(der: Uint8Array): Promise<AsymmetricKey>;

  sign(key: AsymmetricKey, params: SignatureParams, data: Uint8Array): Promise<Uint8Array>;
  verify(key: AsymmetricKey, params: SignatureParams, data: Uint8Array, signature: Uint8Array): Promise<boolean>;
  /** The recovered data, or null if the signature is invalid. */
  verifyRecover(key: RsaKey, params: RecoverParams, signature: Uint8Array): Promise<Uint8Array | null>;

  rsaEncrypt(key: RsaKey, params: RsaEncryptionParams, data: Uint8Array): Promise<Uint8Array>;
  /**
   * A padding failure rejects with 'AUTH' and a fixed message.  Caveat for
   * pkcs1: OpenSSL >= 3.2 applies implicit rejection (Marvin counter-measure)
   * by default, i.e. a bad padding yields a pseudo-random message instead of
   * 'AUTH'; on 3.0 / 3.1 it is 'AUTH' (AWS-LC: to be checked).
   */
  rsaDecrypt(key: RsaKey, params: RsaEncryptionParams, data: Uint8Array): Promise<Uint8Array>;

  /**
   * ECDH / X25519 / X448.  peerPublic: for EC curves an X9.62 point
   * (uncompressed or compressed; must be on the curve), for X25519 / X448 the
   * raw 32 / 56-byte key.  Returns the raw shared secret (EC: the x
   * coordinate, byteLength bytes); a low-order X25519/X448 peer is 'ARGUMENT'.
   */
  deriveEcdh(privateKey: EcKey | MontgomeryKey, peerPublic: Uint8Array): Promise<Uint8Array>;

  /** Thread-pool diagnostics of this part (for tests and benchmarks). */
  asymmetricStats(reset?: boolean): AsymmetricStats;
}
