/**
 * Wrapping and unwrapping private keys as PKCS#8 PrivateKeyInfo through
 * pkcs11js, with Node's crypto doing the other side: it unwraps what the
 * module wraps, and wraps keys the module unwraps and then signs with.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKK, CKM, CKO, CKR } from '../../src/generated/constants';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { openUserSession, type UserSession } from '../helpers/pkcs11js-session';

const KWP_IV = Buffer.from('a65959a6', 'hex');

describe('private key wrapping (pkcs11js, process transport)', () => {
  let user: UserSession;
  let mod: pkcs11js.PKCS11;
  let s: Buffer;
  const kekValue = randomBytes(32);
  let kek: Buffer;

  beforeAll(() => {
    user = openUserSession('p8wrap');
    ({ mod, session: s } = user);
    kek = mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_AES },
      { type: CKA.CKA_VALUE, value: kekValue },
      { type: CKA.CKA_WRAP, value: true },
      { type: CKA.CKA_UNWRAP, value: true },
    ]);
  });
  afterAll(() => user.close());

  const attr = (handle: Buffer, type: number) => mod.C_GetAttributeValue(s, handle, [{ type }])[0]?.value as Buffer;
  const nodeWrap = (pkcs8: Buffer) => {
    const c = createCipheriv('id-aes256-wrap-pad', kekValue, KWP_IV);
    return Buffer.concat([c.update(pkcs8), c.final()]);
  };
  const pkcs8Of = (key: KeyObject) => key.export({ format: 'der', type: 'pkcs8' });
  const unwrap = (wrapped: Buffer, extra: pkcs11js.Template = [], mechanism: pkcs11js.Mechanism = { mechanism: CKM.CKM_AES_KEY_WRAP_KWP }) =>
    mod.C_UnwrapKey(s, mechanism, kek, wrapped, [{ type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY }, { type: CKA.CKA_SIGN, value: true }, ...extra]);
  const signWith = (key: Buffer, mechanism: number, data: Buffer) => {
    mod.C_SignInit(s, { mechanism }, key);
    return mod.C_Sign(s, data, Buffer.alloc(512));
  };

  it('wraps a generated RSA private key as PKCS#8 that Node unwraps to the same key', () => {
    const pair = mod.C_GenerateKeyPair(s, { mechanism: CKM.CKM_RSA_PKCS_KEY_PAIR_GEN }, [{ type: CKA.CKA_MODULUS_BITS, value: 2048 }], [{ type: CKA.CKA_EXTRACTABLE, value: true }]);
    const wrapped = mod.C_WrapKey(s, { mechanism: CKM.CKM_AES_KEY_WRAP_KWP }, kek, pair.privateKey, Buffer.alloc(4096));
    const d = createDecipheriv('id-aes256-wrap-pad', kekValue, KWP_IV);
    const pkcs8 = Buffer.concat([d.update(wrapped), d.final()]);
    const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    expect(key.asymmetricKeyType).toBe('rsa');
    const spki = attr(pair.publicKey, CKA.CKA_PUBLIC_KEY_INFO);
    expect(Buffer.from(key.export({ format: 'jwk' }).n as string, 'base64url')).toEqual(attr(pair.publicKey, CKA.CKA_MODULUS));
    expect(spki.length).toBeGreaterThan(0);
    // And back in: the unwrapped copy signs what the generated public key verifies.
    const copy = unwrap(wrapped);
    expect(attr(copy, CKA.CKA_KEY_TYPE).readUIntLE(0, 4)).toBe(CKK.CKK_RSA);
    expect(attr(copy, CKA.CKA_LOCAL)[0]).toBe(0);
    const data = Buffer.from('signed by an unwrapped key');
    const signature = signWith(copy, CKM.CKM_SHA256_RSA_PKCS, data);
    mod.C_VerifyInit(s, { mechanism: CKM.CKM_SHA256_RSA_PKCS }, pair.publicKey);
    expect(mod.C_Verify(s, data, signature)).toBe(true);
  });

  it.each([
    ['EC P-256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }), CKM.CKM_ECDSA_SHA256, 'sha256', CKK.CKK_EC],
    ['Ed25519', () => generateKeyPairSync('ed25519'), CKM.CKM_EDDSA, null, CKK.CKK_EC_EDWARDS],
  ] as const)('unwraps a %s key Node wrapped, and signs what Node verifies', (_name, make, mechanism, digest, keyType) => {
    const pair = make();
    const key = unwrap(nodeWrap(pkcs8Of(pair.privateKey)));
    expect(attr(key, CKA.CKA_KEY_TYPE).readUIntLE(0, 4)).toBe(keyType);
    const data = Buffer.from('made by node, unwrapped into the token');
    const signature = signWith(key, mechanism, data);
    const dsaEncoding = keyType === CKK.CKK_EC ? 'ieee-p1363' : undefined;
    expect(verify(digest, data, { key: pair.publicKey, dsaEncoding }, signature)).toBe(true);
  });

  it('unwraps with CBC-PAD too', () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const iv = randomBytes(16);
    const c = createCipheriv('aes-256-cbc', kekValue, iv);
    const wrapped = Buffer.concat([c.update(pkcs8Of(pair.privateKey)), c.final()]);
    const key = unwrap(wrapped, [], { mechanism: CKM.CKM_AES_CBC_PAD, parameter: iv });
    expect(attr(key, CKA.CKA_EC_PARAMS).toString('hex')).toBe('06052b81040022');
  });

  it('refuses garbage, a contradicting key type, and unextractable keys', () => {
    expect(ckrOf(() => unwrap(nodeWrap(randomBytes(64))))).toBe(CKR.CKR_WRAPPED_KEY_INVALID);
    const rsa = nodeWrap(pkcs8Of(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
    expect(ckrOf(() => unwrap(rsa, [{ type: CKA.CKA_KEY_TYPE, value: CKK.CKK_EC }]))).toBe(CKR.CKR_TEMPLATE_INCONSISTENT);
    const ec = nodeWrap(pkcs8Of(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey));
    expect(ckrOf(() => unwrap(ec, [{ type: CKA.CKA_EC_PARAMS, value: Buffer.from('06052b81040022', 'hex') }]))).toBe(CKR.CKR_TEMPLATE_INCONSISTENT);
    const locked = mod.C_GenerateKeyPair(s, { mechanism: CKM.CKM_EC_KEY_PAIR_GEN }, [{ type: CKA.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') }], [{ type: CKA.CKA_EXTRACTABLE, value: false }]);
    expect(ckrOf(() => mod.C_WrapKey(s, { mechanism: CKM.CKM_AES_KEY_WRAP_KWP }, kek, locked.privateKey, Buffer.alloc(4096)))).toBe(CKR.CKR_KEY_UNEXTRACTABLE);
  });
});
