/**
 * Symmetric primitives the mechanisms need (ciphers, MACs, KDFs): the part of
 * the backend interface implemented in native/crypto/symmetric.c.
 *
 * Errors are BackendError with these codes:
 *   'ARGUMENT'  a bad size or parameter: key/IV/nonce/tag lengths, a data
 *               length that is not a multiple of the block size (at final()),
 *               a CTR counter that would wrap, more or less CCM data than
 *               announced, inputs over 64 MiB per call;
 *   'AUTH'      authenticated decryption failed: GCM/CCM tag, CBC-PAD
 *               padding, AES key unwrap integrity check (nothing is released);
 *   'STATE'     the context is finished or disposed;
 *   'ALGORITHM_UNSUPPORTED'  unknown mode/digest, or a parameter this
 *               libcrypto cannot do (OpenSSL 3: GCM IVs over 128 bytes);
 *   'LIBRARY'   anything else the library reported.
 * Suggested PKCS#11 mapping on decryption: ARGUMENT from update()/final()/
 * the size queries -> CKR_ENCRYPTED_DATA_LEN_RANGE (CKR_DATA_LEN_RANGE when
 * encrypting), AUTH -> CKR_ENCRYPTED_DATA_INVALID (CKR_WRAPPED_KEY_INVALID
 * for unwrap).
 */
import type { DigestAlgorithm } from './backend';

export type AesMode = 'ecb' | 'cbc' | 'cbc-pad' | 'ctr' | 'gcm' | 'ccm';

export const AES_MODES: readonly AesMode[] = ['ecb', 'cbc', 'cbc-pad', 'ctr', 'gcm', 'ccm'];

/** Largest input one call takes (and the most GCM decryption / CCM buffer). */
export const SYMMETRIC_MAX_INPUT = 64 * 1024 * 1024;

/** All ciphers take an AES key of 16, 24 or 32 bytes. */
export type CipherSpec =
  /** CKM_AES_ECB: no padding, the total length must be a multiple of 16. */
  | { algorithm: 'aes'; mode: 'ecb'; key: Uint8Array }
  /**
   * CKM_AES_CBC (no padding, total a multiple of 16) and CKM_AES_CBC_PAD
   * (PKCS#7 padding; a bad padding on decryption is 'AUTH').  iv: 16 bytes.
   */
  | { algorithm: 'aes'; mode: 'cbc' | 'cbc-pad'; key: Uint8Array; iv: Uint8Array }
  /**
   * CKM_AES_CTR: iv is the 16-byte initial counter block (CK_AES_CTR_PARAMS.cb),
   * the counter is its low counterBits (1..128) bits.  An update() that would
   * need the counter to wrap is refused with 'ARGUMENT' before anything is
   * processed (the context stays usable).
   */
  | { algorithm: 'aes'; mode: 'ctr'; key: Uint8Array; iv: Uint8Array; counterBits: number }
  /**
   * CKM_AES_GCM: iv 1..256 bytes (OpenSSL 3 only takes up to 128:
   * 'ALGORITHM_UNSUPPORTED' beyond), aad up to 64 MiB (default empty),
   * tagLength 4..16 bytes.  Encryption streams and final() returns the tag.
   * Decryption takes ciphertext||tag through update() (which returns nothing),
   * buffers at most 64 MiB plus the tag, and final() returns all plaintext
   * after verifying the tag, or throws 'AUTH' and releases nothing.
   */
  | { algorithm: 'aes'; mode: 'gcm'; key: Uint8Array; iv: Uint8Array; aad?: Uint8Array; tagLength: number }
  /**
   * CKM_AES_CCM: nonce 7..13 bytes, tagLength 4, 6, ..., 16, aad (default
   * empty), dataLength = the plaintext length (without tag) in both
   * directions, at most 64 MiB and what the nonce length allows
   * (2^(8*(15 - nonce.length)) - 1).  update() buffers and returns nothing;
   * exactly dataLength bytes (decryption: dataLength + tagLength, ciphertext
   * then tag) must come in, more is 'ARGUMENT' at update(), fewer at final().
   * final() returns ciphertext||tag, or the plaintext after verification
   * ('AUTH' and nothing released on a wrong tag).
   */
  | {
      algorithm: 'aes';
      mode: 'ccm';
      key: Uint8Array;
      nonce: Uint8Array;
      aad?: Uint8Array;
      tagLength: number;
      dataLength: number;
    };

/**
 * A running encryption or decryption.  update() returns the output that is
 * ready (possibly empty); final() returns the rest and finishes the context,
 * also when it throws.  After that update(), final() and the size queries
 * throw 'STATE'.  dispose() releases the native state early (idempotent,
 * also fine after final()); otherwise the finalizer does when the object is
 * collected.  Inputs may be split anywhere.
 */
export interface CipherContext {
  readonly mode: AesMode;
  readonly encrypt: boolean;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  /**
   * Exact length update() of `length` bytes would return now, without
   * consuming anything; throws what that update() would throw ('ARGUMENT').
   */
  updateSize(length: number): number;
  /**
   * Length of update(`pending` bytes) followed by final(), together (so
   * finalSize() is what final() would return now, and finalSize(n) on a fresh
   * context is the single-part output for n bytes of input); nothing is
   * consumed.  Throws what that sequence would throw for a bad length
   * ('ARGUMENT'), except that a tag or padding is not checked.  Exact except
   * for CBC-PAD decryption, where it is an upper bound (the padding is only
   * known after decrypting: at most 15 bytes more than the exact size).
   */
  finalSize(pending?: number): number;
  dispose(): void;
}

export type MacSpec =
  /** HMAC with any key length (the key may be empty). */
  | { algorithm: 'hmac'; digest: DigestAlgorithm; key: Uint8Array }
  /** AES-CMAC (RFC 4493) with a 16-, 24- or 32-byte key. */
  | { algorithm: 'cmac'; key: Uint8Array };

/**
 * A running MAC.  final() returns the full MAC (`length` bytes; truncation
 * is up to the caller) and finishes the context; afterwards update() and
 * final() throw 'STATE'.  dispose() as for CipherContext.
 */
export interface MacContext {
  /** Bytes final() returns: the digest length for HMAC, 16 for CMAC. */
  readonly length: number;
  update(data: Uint8Array): void;
  final(): Uint8Array;
  dispose(): void;
}

/** RFC 5869 HKDF.  An empty salt means hashLen zero bytes. */
export type HkdfParams =
  /** Extract then expand to `length` bytes (1..255 * hashLen). */
  | {
      mode: 'extract-expand';
      digest: DigestAlgorithm;
      ikm: Uint8Array;
      salt: Uint8Array;
      info: Uint8Array;
      length: number;
    }
  /** Extract only: the PRK, hashLen bytes. */
  | { mode: 'extract'; digest: DigestAlgorithm; ikm: Uint8Array; salt: Uint8Array }
  /** Expand only, from a PRK (any length) to `length` bytes (1..255 * hashLen). */
  | { mode: 'expand'; digest: DigestAlgorithm; prk: Uint8Array; info: Uint8Array; length: number };

export interface Pbkdf2Params {
  digest: DigestAlgorithm;
  password: Uint8Array;
  salt: Uint8Array;
  /** 1..2^31-1 */
  iterations: number;
  /** 1..65536 bytes */
  length: number;
}

/** A whole message through one cipher context: update, final, and the context released. */
export function cipherOnce(crypto: SymmetricCrypto, spec: CipherSpec, encrypt: boolean, data: Uint8Array): Uint8Array {
  const c = crypto.createCipher(spec, encrypt);
  try {
    return Buffer.concat([c.update(data), c.final()]);
  } finally {
    c.dispose();
  }
}

/** The MAC of a whole message, its context released. */
export function macOnce(crypto: SymmetricCrypto, spec: MacSpec, data: Uint8Array): Uint8Array {
  const m = crypto.createMac(spec);
  try {
    m.update(data);
    return m.final();
  } finally {
    m.dispose();
  }
}

export interface SymmetricCrypto {
  /** encrypt: true to encrypt, false to decrypt. */
  createCipher(spec: CipherSpec, encrypt: boolean): CipherContext;
  /**
   * AES key wrap, RFC 3394 (padded = false: data a multiple of 8 bytes, at
   * least 16; output data.length + 8) or RFC 5649 (padded = true: 1 byte or
   * more; output roundUp8(data.length) + 8), with the default IVs.
   */
  aesKeyWrap(key: Uint8Array, data: Uint8Array, padded: boolean): Uint8Array;
  /**
   * The inverse: wrapped data a multiple of 8 bytes, at least 24 (KW) or 16
   * (KWP), else 'ARGUMENT'; a failed integrity check is 'AUTH'.
   */
  aesKeyUnwrap(key: Uint8Array, wrapped: Uint8Array, padded: boolean): Uint8Array;
  createMac(spec: MacSpec): MacContext;
  /** Inputs (ikm, salt, info, prk) up to 64 MiB each. */
  hkdf(params: HkdfParams): Uint8Array;
  /** PKCS #5 PBKDF2-HMAC; runs off the JS thread. */
  pbkdf2(params: Pbkdf2Params): Promise<Uint8Array>;
}
