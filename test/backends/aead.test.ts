/** AES-256-GCM and HKDF-SHA256 of the libcrypto backend against Node's crypto and RFC 5869. */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BackendError } from '../../src/backends/backend';
import { loadLibcryptoBackend } from '../../src/backends/libcrypto';

const backend = loadLibcryptoBackend();
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('AES-256-GCM', () => {
  it.each([0, 1, 16, 1000])('seals like Node crypto and opens what Node seals (%i bytes)', (n) => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes(7);
    const pt = randomBytes(n);
    const sealed = backend.aes256GcmSeal(key, nonce, aad, pt);
    const d = createDecipheriv('aes-256-gcm', key, nonce).setAAD(aad).setAuthTag(sealed.subarray(n));
    expect(Buffer.concat([d.update(sealed.subarray(0, n)), d.final()])).toEqual(pt);
    const c = createCipheriv('aes-256-gcm', key, nonce).setAAD(aad);
    const theirs = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    expect(Buffer.from(backend.aes256GcmOpen(key, nonce, aad, theirs))).toEqual(pt);
  });

  it('refuses a changed ciphertext, AAD or key with AUTH', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const sealed = backend.aes256GcmSeal(key, nonce, Buffer.from('a'), Buffer.from('secret'));
    const flipped = Uint8Array.from(sealed);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    for (const attempt of [
      () => backend.aes256GcmOpen(key, nonce, Buffer.from('a'), flipped),
      () => backend.aes256GcmOpen(key, nonce, Buffer.from('b'), sealed),
      () => backend.aes256GcmOpen(randomBytes(32), nonce, Buffer.from('a'), sealed),
      () => backend.aes256GcmOpen(key, nonce, Buffer.from('a'), sealed.subarray(0, 10)),
    ]) {
      expect(attempt).toThrow(BackendError);
      try {
        attempt();
      } catch (e) {
        expect((e as BackendError).code).toBe('AUTH');
      }
    }
  });

  it('rejects wrong key and nonce sizes', () => {
    expect(() => backend.aes256GcmSeal(randomBytes(16), randomBytes(12), new Uint8Array(), new Uint8Array())).toThrow(/32-byte key/);
    expect(() => backend.aes256GcmSeal(randomBytes(32), randomBytes(8), new Uint8Array(), new Uint8Array())).toThrow(/12-byte nonce/);
  });
});

describe('HKDF-SHA256', () => {
  it('matches RFC 5869 test case 1', () => {
    const okm = backend.hkdfSha256(hex('0b'.repeat(22)), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(Buffer.from(okm).toString('hex')).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
  });

  it('matches Node crypto for other lengths', () => {
    const ikm = randomBytes(32);
    const salt = randomBytes(16);
    const info = Buffer.from('craton');
    expect(Buffer.from(backend.hkdfSha256(ikm, salt, info, 77))).toEqual(Buffer.from(hkdfSync('sha256', ikm, salt, info, 77)));
  });
});
