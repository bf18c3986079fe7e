/**
 * C_CreateObject of RSA, EC and Edwards keys through pkcs11js: the module
 * rejects inconsistent key material and derives CKA_PUBLIC_KEY_INFO, the RSA
 * CRT values and CKA_MODULUS_BITS, compared with what Node's crypto says.
 */
import { createPublicKey, generateKeyPairSync, verify, type JsonWebKey } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKK, CKM, CKO, CKR } from '../../src/generated/constants';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { openUserSession, type UserSession } from '../helpers/pkcs11js-session';

const P256 = Buffer.from('06082a8648ce3d030107', 'hex');
const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64url');

describe('imported keys (pkcs11js, process transport)', () => {
  let user: UserSession;
  let mod: pkcs11js.PKCS11;
  let s: Buffer;

  beforeAll(() => {
    user = openUserSession('import');
    ({ mod, session: s } = user);
  });
  afterAll(() => user.close());

  const attr = (handle: Buffer, type: number) => mod.C_GetAttributeValue(s, handle, [{ type }])[0]?.value as Buffer;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = rsa.privateKey.export({ format: 'jwk' }) as JsonWebKey;
  const rsaSpki = rsa.publicKey.export({ format: 'der', type: 'spki' });
  const rsaPrivate = (d: Buffer, extra: pkcs11js.Template = []) =>
    mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_RSA },
      { type: CKA.CKA_MODULUS, value: b64(jwk.n) },
      { type: CKA.CKA_PUBLIC_EXPONENT, value: b64(jwk.e) },
      { type: CKA.CKA_PRIVATE_EXPONENT, value: d },
      { type: CKA.CKA_SIGN, value: true },
      { type: CKA.CKA_SENSITIVE, value: false },
      { type: CKA.CKA_EXTRACTABLE, value: true },
      ...extra,
    ]);

  it('an RSA private key given n, e and d gets its CRT values, SPKI, and signs what Node verifies', () => {
    const key = rsaPrivate(b64(jwk.d));
    const primes = [attr(key, CKA.CKA_PRIME_1), attr(key, CKA.CKA_PRIME_2)].map((p) => p.toString('hex')).sort();
    expect(primes).toEqual([b64(jwk.p), b64(jwk.q)].map((p) => p.toString('hex')).sort());
    const [dp, dq] = attr(key, CKA.CKA_PRIME_1).equals(b64(jwk.p)) ? [jwk.dp, jwk.dq] : [jwk.dq, jwk.dp];
    expect(attr(key, CKA.CKA_EXPONENT_1)).toEqual(b64(dp));
    expect(attr(key, CKA.CKA_EXPONENT_2)).toEqual(b64(dq));
    expect(attr(key, CKA.CKA_PUBLIC_KEY_INFO)).toEqual(rsaSpki);
    mod.C_SignInit(s, { mechanism: CKM.CKM_SHA256_RSA_PKCS }, key);
    const data = Buffer.from('imported RSA key');
    expect(verify('sha256', data, rsa.publicKey, mod.C_Sign(s, data, Buffer.alloc(256)))).toBe(true);
  });

  it('refuses RSA parts that do not belong together', () => {
    const wrong = Buffer.from(b64(jwk.d));
    wrong[wrong.length - 1] = (wrong[wrong.length - 1] ?? 0) ^ 2;
    expect(ckrOf(() => rsaPrivate(wrong))).toBe(CKR.CKR_ATTRIBUTE_VALUE_INVALID);
    expect(ckrOf(() => rsaPrivate(b64(jwk.d), [{ type: CKA.CKA_PRIME_1, value: b64(jwk.q).subarray(1) }]))).toBe(CKR.CKR_ATTRIBUTE_VALUE_INVALID);
  });

  it('an RSA public key gets CKA_MODULUS_BITS and its SPKI; a wrong given SPKI is refused', () => {
    const template: pkcs11js.Template = [
      { type: CKA.CKA_CLASS, value: CKO.CKO_PUBLIC_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_RSA },
      { type: CKA.CKA_MODULUS, value: b64(jwk.n) },
      { type: CKA.CKA_PUBLIC_EXPONENT, value: b64(jwk.e) },
    ];
    const key = mod.C_CreateObject(s, template);
    expect(attr(key, CKA.CKA_MODULUS_BITS).readUIntLE(0, 4)).toBe(2048);
    expect(attr(key, CKA.CKA_PUBLIC_KEY_INFO)).toEqual(rsaSpki);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
    expect(ckrOf(() => mod.C_CreateObject(s, [...template, { type: CKA.CKA_PUBLIC_KEY_INFO, value: other }]))).toBe(CKR.CKR_ATTRIBUTE_VALUE_INVALID);
  });

  it('an EC point must lie on its curve; a private value yields the matching SPKI', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const e = ec.privateKey.export({ format: 'jwk' }) as JsonWebKey;
    const point = Buffer.concat([Buffer.from([0x04]), b64(e.x), b64(e.y)]);
    const ecPublic = (p: Buffer) =>
      mod.C_CreateObject(s, [
        { type: CKA.CKA_CLASS, value: CKO.CKO_PUBLIC_KEY },
        { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_EC },
        { type: CKA.CKA_EC_PARAMS, value: P256 },
        { type: CKA.CKA_EC_POINT, value: Buffer.concat([Buffer.from([0x04, p.length]), p]) },
      ]);
    const spki = ec.publicKey.export({ format: 'der', type: 'spki' });
    expect(attr(ecPublic(point), CKA.CKA_PUBLIC_KEY_INFO)).toEqual(spki);
    const offCurve = Buffer.from(point);
    offCurve[64] = (offCurve[64] ?? 0) ^ 1;
    expect(ckrOf(() => ecPublic(offCurve))).toBe(CKR.CKR_ATTRIBUTE_VALUE_INVALID);
    const priv = mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_EC },
      { type: CKA.CKA_EC_PARAMS, value: P256 },
      { type: CKA.CKA_VALUE, value: b64(e.d) },
    ]);
    expect(attr(priv, CKA.CKA_PUBLIC_KEY_INFO)).toEqual(spki);
  });

  it('an Ed25519 private key yields the SPKI of its public half', () => {
    const ed = generateKeyPairSync('ed25519');
    const seed = b64((ed.privateKey.export({ format: 'jwk' }) as JsonWebKey).d);
    const priv = mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_EC_EDWARDS },
      { type: CKA.CKA_EC_PARAMS, value: Buffer.from('06032b6570', 'hex') },
      { type: CKA.CKA_VALUE, value: seed },
    ]);
    const spki = attr(priv, CKA.CKA_PUBLIC_KEY_INFO);
    expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).equals(ed.publicKey)).toBe(true);
  });
});
