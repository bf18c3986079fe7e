/**
 * Ed25519/Ed448 (CKM_EDDSA) and X25519/X448 (ECDH1 derive) through pkcs11js, checked
 * against Node's crypto both ways and against RFC 8032's first Ed25519 vector.
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKD, CKK, CKM, CKO, CKR } from '../../src/generated/constants';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { openUserSession, type UserSession } from '../helpers/pkcs11js-session';

const printable = (name: string) => Buffer.concat([Buffer.from([0x13, name.length]), Buffer.from(name)]);
const ED25519_OID = Buffer.from('06032b6570', 'hex');
const ED448_OID = Buffer.from('06032b6571', 'hex');
const X448_OID = Buffer.from('06032b656f', 'hex');

// RFC 8032 section 7.1, TEST 1.
const RFC8032 = {
  secret: Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'),
  public: Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'),
  signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

/** The raw key inside a DER OCTET STRING CKA_EC_POINT. */
const unwrap = (der: Buffer) => der.subarray(2);

describe('Edwards and Montgomery curves (pkcs11js, process transport)', () => {
  let user: UserSession;
  let mod: pkcs11js.PKCS11;
  let s: Buffer;

  beforeAll(() => {
    user = openUserSession('edwards');
    ({ mod, session: s } = user);
  });
  afterAll(() => user.close());

  const attr = (handle: Buffer, type: number) => mod.C_GetAttributeValue(s, handle, [{ type }])[0]?.value as Buffer;
  const generate = (mechanism: number, ecParams: Buffer, usage: number) =>
    mod.C_GenerateKeyPair(s, { mechanism }, [{ type: CKA.CKA_EC_PARAMS, value: ecParams }, { type: usage === CKA.CKA_SIGN ? CKA.CKA_VERIFY : usage, value: true }], [{ type: usage, value: true }]);
  const spkiKey = (handle: Buffer): KeyObject => createPublicKey({ key: attr(handle, CKA.CKA_PUBLIC_KEY_INFO), format: 'der', type: 'spki' });
  const signWith = (key: Buffer, data: Buffer, parameter?: Buffer) => {
    mod.C_SignInit(s, parameter ? { mechanism: CKM.CKM_EDDSA, parameter } : { mechanism: CKM.CKM_EDDSA }, key);
    return mod.C_Sign(s, data, Buffer.alloc(114));
  };
  const verifyWith = (key: Buffer, data: Buffer, signature: Buffer) => {
    mod.C_VerifyInit(s, { mechanism: CKM.CKM_EDDSA }, key);
    return mod.C_Verify(s, data, signature);
  };

  it.each([
    ['Ed25519', printable('edwards25519'), 64],
    ['Ed448', ED448_OID, 114],
  ])('%s: the module signs and Node verifies with the key from CKA_PUBLIC_KEY_INFO', (_name, params, length) => {
    const pair = generate(CKM.CKM_EC_EDWARDS_KEY_PAIR_GEN, params, CKA.CKA_SIGN);
    expect(attr(pair.publicKey, CKA.CKA_EC_PARAMS)).toEqual(params);
    expect(attr(pair.privateKey, CKA.CKA_EC_PARAMS)).toEqual(params);
    const key = spkiKey(pair.publicKey);
    // CKA_EC_POINT is the RFC 8032 public key, DER-wrapped, and the same key the SPKI carries.
    const raw = unwrap(attr(pair.publicKey, CKA.CKA_EC_POINT));
    expect(raw).toEqual(Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url'));
    const data = Buffer.from('an EdDSA message');
    const signature = signWith(pair.privateKey, data);
    expect(signature).toHaveLength(length);
    expect(verify(null, data, key, signature)).toBe(true);
    expect(verifyWith(pair.publicKey, data, signature)).toBe(true);
  });

  it('imports the RFC 8032 key and signs its first vector exactly', () => {
    const priv = mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_EC_EDWARDS },
      { type: CKA.CKA_EC_PARAMS, value: ED25519_OID },
      { type: CKA.CKA_VALUE, value: RFC8032.secret },
      { type: CKA.CKA_SIGN, value: true },
    ]);
    expect(signWith(priv, Buffer.alloc(0)).toString('hex')).toBe(RFC8032.signature);
  });

  it('verifies what Node signs, with a raw imported public key, and rejects a changed message', () => {
    const node = generateKeyPairSync('ed25519');
    const rawPublic = Buffer.from(node.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    const pub = mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_PUBLIC_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_EC_EDWARDS },
      { type: CKA.CKA_EC_PARAMS, value: printable('edwards25519') },
      { type: CKA.CKA_EC_POINT, value: rawPublic },
      { type: CKA.CKA_VERIFY, value: true },
    ]);
    const data = Buffer.from('signed by node');
    const signature = sign(null, data, node.privateKey);
    expect(verifyWith(pub, data, signature)).toBe(true);
    expect(ckrOf(() => verifyWith(pub, Buffer.from('signed by nobody'), signature))).toBe(CKR.CKR_SIGNATURE_INVALID);
  });

  it('EdDSA keys come only from the Edwards mechanism (CKR_CURVE_NOT_SUPPORTED otherwise)', () => {
    expect(ckrOf(() => generate(CKM.CKM_EC_KEY_PAIR_GEN, printable('edwards25519'), CKA.CKA_SIGN))).toBe(CKR.CKR_CURVE_NOT_SUPPORTED);
    expect(ckrOf(() => generate(CKM.CKM_EC_EDWARDS_KEY_PAIR_GEN, printable('curve25519'), CKA.CKA_SIGN))).toBe(CKR.CKR_CURVE_NOT_SUPPORTED);
  });

  it.each([
    ['X25519', printable('curve25519'), 'x25519'],
    ['X448', X448_OID, 'x448'],
  ] as const)('%s: ECDH1 derive agrees with Node, the peer key raw or DER-wrapped', (_name, params, nodeType) => {
    const pair = generate(CKM.CKM_EC_MONTGOMERY_KEY_PAIR_GEN, params, CKA.CKA_DERIVE);
    const ours = spkiKey(pair.publicKey);
    const node = generateKeyPairSync(nodeType as 'x25519');
    const peer = Buffer.from(node.publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    const expected = diffieHellman({ privateKey: node.privateKey, publicKey: ours });
    for (const publicData of [peer, Buffer.concat([Buffer.from([0x04, peer.length]), peer])]) {
      const parameter: pkcs11js.ECDH1 = { type: pkcs11js.CK_PARAMS_EC_DH, kdf: CKD.CKD_NULL, publicData };
      const key = mod.C_DeriveKey(s, { mechanism: CKM.CKM_ECDH1_DERIVE, parameter }, pair.privateKey, [
        { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
        { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_GENERIC_SECRET },
        { type: CKA.CKA_SENSITIVE, value: false },
        { type: CKA.CKA_EXTRACTABLE, value: true },
      ]);
      expect(attr(key, CKA.CKA_VALUE)).toEqual(expected);
    }
  });
});
