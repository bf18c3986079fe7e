/** PINs are never stored: only a salted PBKDF2-HMAC-SHA256 verifier. */
import { timingSafeEqual } from 'node:crypto';
import type { CryptoBackend } from '../backends/backend';
import type { PinVerifier } from '../store/token-store';

/** NIST SP 800-132 / OWASP guidance for PBKDF2-HMAC-SHA256 on a persistent token. */
export const PIN_ITERATIONS = 600_000;
const HASH_LENGTH = 32;

export async function makeVerifier(backend: CryptoBackend, pin: Uint8Array): Promise<PinVerifier> {
  const salt = backend.randomBytes(16);
  const hash = await backend.pbkdf2HmacSha256(pin, salt, PIN_ITERATIONS, HASH_LENGTH);
  return { salt: Buffer.from(salt).toString('hex'), iterations: PIN_ITERATIONS, hash: Buffer.from(hash).toString('hex') };
}

export async function pinMatches(backend: CryptoBackend, verifier: PinVerifier, pin: Uint8Array): Promise<boolean> {
  const expected = Buffer.from(verifier.hash, 'hex');
  const actual = await backend.pbkdf2HmacSha256(pin, Buffer.from(verifier.salt, 'hex'), verifier.iterations, expected.length);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
