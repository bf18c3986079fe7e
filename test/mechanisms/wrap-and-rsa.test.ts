/** RSA encryption and key wrapping through pkcs11js, cross-checked with Node's crypto. */
import { constants, createCipheriv, createDecipheriv, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKG_MGF, CKK, CKM, CKO, CKR, CKZ } from '../../src/generated/constants';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { importRsa } from '../helpers/pkcs11js-keys';
import { openUserSession, type UserSession } from '../helpers/pkcs11js-session';



describe('RSA encryption and key wrapping (pkcs11js, process transport)', () => {
  let user: UserSession;
  let mod: pkcs11js.PKCS11;
  let s: Buffer;
  let nodeKey: KeyObject;
  let rsaPrivate: Buffer;
  let rsaPublic: Buffer;

  const oaep = (label?: Buffer): pkcs11js.Mechanism => ({
    mechanism: CKM.CKM_RSA_PKCS_OAEP,
    parameter: { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: CKM.CKM_SHA256, mgf: CKG_MGF.CKG_MGF1_SHA256, source: CKZ.CKZ_DATA_SPECIFIED, sourceData: label } as pkcs11js.RsaOAEP,
  });
  /** A known AES key, extractable and readable unless `extra` says otherwise. */
  const aesKey = (value: Buffer, extra: pkcs11js.Template = []) => {
    const base: pkcs11js.Template = [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_AES },
      { type: CKA.CKA_VALUE, value },
      { type: CKA.CKA_EXTRACTABLE, value: true },
      { type: CKA.CKA_SENSITIVE, value: false },
    ];
    return mod.C_CreateObject(s, [...base.filter((a) => !extra.some((e) => e.type === a.type)), ...extra]);
  };
  const encrypt = (m: pkcs11js.Mechanism, key: Buffer, data: Buffer) => {
    mod.C_EncryptInit(s, m, key);
    return mod.C_Encrypt(s, data, Buffer.alloc(4096));
  };
  const decrypt = (m: pkcs11js.Mechanism, key: Buffer, data: Buffer) => {
    mod.C_DecryptInit(s, m, key);
    return mod.C_Decrypt(s, data, Buffer.alloc(4096));
  };

  beforeAll(() => {
    user = openUserSession('wrap');
    ({ mod, session: s } = user);
    // A known RSA key, imported into the token, so Node holds both halves too.
    nodeKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    ({ pub: rsaPublic, priv: rsaPrivate } = importRsa(mod, s, nodeKey));
  });
  afterAll(() => user.close());

  it('decrypts what Node encrypts with OAEP (SHA-256, with a label), and Node decrypts what it encrypts', () => {
    const data = randomBytes(100);
    const label = Buffer.from('craton');
    const fromNode = publicEncrypt({ key: nodeKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, data);
    expect(decrypt(oaep(label), rsaPrivate, fromNode)).toEqual(data);
    const ours = encrypt(oaep(label), rsaPublic, data);
    expect(ours).toHaveLength(256);
    expect(privateDecrypt({ key: nodeKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: label }, ours)).toEqual(data);
    expect(ckrOf(() => decrypt(oaep(Buffer.from('other')), rsaPrivate, fromNode))).toBe(CKR.CKR_ENCRYPTED_DATA_INVALID);
  });

  it('round-trips CKM_RSA_PKCS and refuses data too long for the key', () => {
    const data = randomBytes(64);
    const m = { mechanism: CKM.CKM_RSA_PKCS };
    expect(decrypt(m, rsaPrivate, encrypt(m, rsaPublic, data))).toEqual(data);
    expect(ckrOf(() => encrypt(m, rsaPublic, randomBytes(250)))).toBe(CKR.CKR_DATA_LEN_RANGE);
    expect(ckrOf(() => encrypt(m, rsaPrivate, data))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
  });

  it.each([
    ['CKM_AES_KEY_WRAP', CKM.CKM_AES_KEY_WRAP, 'id-aes256-wrap', 'a6a6a6a6a6a6a6a6', 16],
    ['CKM_AES_KEY_WRAP_KWP', CKM.CKM_AES_KEY_WRAP_KWP, 'id-aes256-wrap-pad', 'a65959a6', 24],
  ])('%s wraps like Node and unwraps back', (_name, mechanism, nodeName, iv, size) => {
    const kek = randomBytes(32);
    const target = randomBytes(size);
    const wrapping = aesKey(kek);
    const wrapped = mod.C_WrapKey(s, { mechanism }, wrapping, aesKey(target), Buffer.alloc(256));
    const c = createCipheriv(nodeName, kek, Buffer.from(iv, 'hex'));
    expect(wrapped).toEqual(Buffer.concat([c.update(target), c.final()]));
    const unwrapped = mod.C_UnwrapKey(s, { mechanism }, wrapping, wrapped, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_AES },
      { type: CKA.CKA_EXTRACTABLE, value: true },
      { type: CKA.CKA_SENSITIVE, value: false },
    ]);
    const [value, local, alwaysSensitive] = mod.C_GetAttributeValue(s, unwrapped, [{ type: CKA.CKA_VALUE }, { type: CKA.CKA_LOCAL }, { type: CKA.CKA_ALWAYS_SENSITIVE }]);
    expect(value?.value).toEqual(target);
    expect(local?.value).toEqual(Buffer.from([0]));
    expect(alwaysSensitive?.value).toEqual(Buffer.from([0]));
    const tampered = Buffer.from(wrapped);
    tampered[3] = (tampered[3] ?? 0) ^ 1;
    expect(ckrOf(() => mod.C_UnwrapKey(s, { mechanism }, wrapping, tampered, [{ type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY }, { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_AES }]))).toBe(
      CKR.CKR_WRAPPED_KEY_INVALID,
    );
  });

  it('wraps a secret key under RSA-OAEP for Node to unwrap', () => {
    const target = randomBytes(32);
    const wrapped = mod.C_WrapKey(s, oaep(), rsaPublic, aesKey(target), Buffer.alloc(512));
    expect(privateDecrypt({ key: nodeKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped)).toEqual(target);
  });

  it('wraps with AES-GCM (Node opens it) and with zero-padded ECB, and unwraps both', () => {
    const kekValue = randomBytes(32);
    const kek = aesKey(kekValue);
    const iv = randomBytes(12);
    const aad = Buffer.from('wrapped key header');
    const target = randomBytes(32);
    const gcm: pkcs11js.Mechanism = { mechanism: CKM.CKM_AES_GCM, parameter: { type: pkcs11js.CK_PARAMS_AES_GCM, iv, aad, tagBits: 128 } as pkcs11js.AesGCM };
    const wrapped = mod.C_WrapKey(s, gcm, kek, aesKey(target), Buffer.alloc(256));
    const d = createDecipheriv('aes-256-gcm', kekValue, iv).setAAD(aad).setAuthTag(wrapped.subarray(32));
    expect(Buffer.concat([d.update(wrapped.subarray(0, 32)), d.final()])).toEqual(target);
    const back = mod.C_UnwrapKey(s, gcm, kek, wrapped, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_AES },
      { type: CKA.CKA_EXTRACTABLE, value: true },
      { type: CKA.CKA_SENSITIVE, value: false },
    ]);
    expect(mod.C_GetAttributeValue(s, back, [{ type: CKA.CKA_VALUE }])[0]?.value).toEqual(target);

    const secret = randomBytes(20);
    const generic = mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_GENERIC_SECRET },
      { type: CKA.CKA_VALUE, value: secret },
      { type: CKA.CKA_EXTRACTABLE, value: true },
    ]);
    const ecbWrapped = mod.C_WrapKey(s, { mechanism: CKM.CKM_AES_ECB }, kek, generic, Buffer.alloc(256));
    const ecb = createDecipheriv('aes-256-ecb', kekValue, null).setAutoPadding(false);
    expect(Buffer.concat([ecb.update(ecbWrapped), ecb.final()])).toEqual(Buffer.concat([secret, Buffer.alloc(12)]));
    const unwrapped = mod.C_UnwrapKey(s, { mechanism: CKM.CKM_AES_ECB }, kek, ecbWrapped, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_GENERIC_SECRET },
      { type: CKA.CKA_VALUE_LEN, value: 20 },
      { type: CKA.CKA_SENSITIVE, value: false },
      { type: CKA.CKA_EXTRACTABLE, value: true },
    ]);
    expect(mod.C_GetAttributeValue(s, unwrapped, [{ type: CKA.CKA_VALUE }])[0]?.value).toEqual(secret);
  });

  it('refuses to wrap an unextractable key, or with a key that may not wrap', () => {
    const kek = aesKey(randomBytes(32));
    const locked = aesKey(randomBytes(16), [{ type: CKA.CKA_EXTRACTABLE, value: false }]);
    expect(ckrOf(() => mod.C_WrapKey(s, { mechanism: CKM.CKM_AES_KEY_WRAP }, kek, locked, Buffer.alloc(64)))).toBe(CKR.CKR_KEY_UNEXTRACTABLE);
    const noWrap = aesKey(randomBytes(32), [{ type: CKA.CKA_WRAP, value: false }]);
    expect(ckrOf(() => mod.C_WrapKey(s, { mechanism: CKM.CKM_AES_KEY_WRAP }, noWrap, aesKey(randomBytes(16)), Buffer.alloc(64)))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
  });
});
