/**
 * The one interface the TypeScript core uses to reach cryptography.
 *
 * Implementations live next to this file (libcrypto.ts: OpenSSL 3 or, later,
 * AWS-LC through the craton_crypto N-API addon; a CNG backend may follow).
 * Nothing outside src/backends/ should load a native addon directly.
 */

import type { AsymmetricCrypto } from './asymmetric';
import type { SymmetricCrypto } from './symmetric';

export type DigestAlgorithm =
  | 'sha1'
  | 'sha224'
  | 'sha256'
  | 'sha384'
  | 'sha512'
  | 'sha3-224'
  | 'sha3-256'
  | 'sha3-384'
  | 'sha3-512';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = [
  'sha1',
  'sha224',
  'sha256',
  'sha384',
  'sha512',
  'sha3-224',
  'sha3-256',
  'sha3-384',
  'sha3-512',
];

/** Output length in bytes of each digest. */
export const DIGEST_LENGTHS: Readonly<Record<DigestAlgorithm, number>> = {
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
  'sha3-224': 28,
  'sha3-256': 32,
  'sha3-384': 48,
  'sha3-512': 64,
};

/**
 * A running digest.  After final() the context is finished: update(),
 * final() and copy() then throw BackendError('STATE').  dispose() releases
 * the native state early (idempotent); if it is never called the native
 * finalizer releases it when the object is collected.
 */
export interface DigestContext {
  update(data: Uint8Array): void;
  final(): Uint8Array;
  /** Independent copy of the running state (for "peek" finals, saving operation state). */
  copy(): DigestContext;
  dispose(): void;
}

export interface CryptoBackend extends SymmetricCrypto, AsymmetricCrypto {
  /** 'openssl' | 'awslc' | 'cng' */
  readonly name: string;
  /** What the bound library says about itself at run time. */
  readonly library: { name: string; version: string };
  createDigest(alg: DigestAlgorithm): DigestContext;
  digest(alg: DigestAlgorithm, data: Uint8Array): Uint8Array;
  /** 0 <= length <= 1 MiB */
  randomBytes(length: number): Uint8Array;
  /** Runs off the JS thread. */
  pbkdf2HmacSha256(
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
    length: number,
  ): Promise<Uint8Array>;
  /** AES-256-GCM with a 12-byte nonce; returns ciphertext || 16-byte tag. */
  aes256GcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** The inverse; a wrong key, nonce, AAD or tag throws BackendError('AUTH') and releases nothing. */
  aes256GcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /** RFC 5869 HKDF with SHA-256. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
}

export type BackendErrorCode = 'ALGORITHM_UNSUPPORTED' | 'STATE' | 'ARGUMENT' | 'LIBRARY' | 'AUTH';

const BACKEND_ERROR_CODES: ReadonlySet<string> = new Set<BackendErrorCode>([
  'ALGORITHM_UNSUPPORTED',
  'STATE',
  'ARGUMENT',
  'LIBRARY',
  'AUTH',
]);

export function isBackendErrorCode(code: unknown): code is BackendErrorCode {
  return typeof code === 'string' && BACKEND_ERROR_CODES.has(code);
}

export class BackendError extends Error {
  constructor(
    readonly code: BackendErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BackendError';
  }
}
