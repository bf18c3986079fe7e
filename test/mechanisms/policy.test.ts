/**
 * The [algorithms] policy through pkcs11js: approved-only mode offers exactly
 * seed 004's approved table, weak RSA and SHA-1 signing are refused unless
 * allowed, and keys carry CKA_VENDOR_FIPS_APPROVED. Signatures the module makes
 * under a relaxed policy are checked with Node's crypto.
 */
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { rmSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CKA, CKK, CKM, CKO, CKR } from '../../src/generated/constants';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { importRsa } from '../helpers/pkcs11js-keys';
import { sealedModuleCopy } from '../helpers/module';
import { openUserSession, type UserSession } from '../helpers/pkcs11js-session';

/** Seed 004's approved table, with the key generation mechanisms the spec needs to use it. */
const APPROVED = [
  CKM.CKM_SHA_1, CKM.CKM_SHA256, CKM.CKM_SHA384, CKM.CKM_SHA512, CKM.CKM_SHA3_256, CKM.CKM_SHA3_384, CKM.CKM_SHA3_512,
  CKM.CKM_GENERIC_SECRET_KEY_GEN,
  CKM.CKM_SHA256_HMAC, CKM.CKM_SHA256_HMAC_GENERAL, CKM.CKM_SHA384_HMAC, CKM.CKM_SHA384_HMAC_GENERAL, CKM.CKM_SHA512_HMAC, CKM.CKM_SHA512_HMAC_GENERAL,
  CKM.CKM_AES_KEY_GEN, CKM.CKM_AES_CBC, CKM.CKM_AES_CBC_PAD, CKM.CKM_AES_CTR, CKM.CKM_AES_GCM, CKM.CKM_AES_KEY_WRAP, CKM.CKM_AES_KEY_WRAP_KWP,
  CKM.CKM_RSA_PKCS_KEY_PAIR_GEN, CKM.CKM_RSA_PKCS, CKM.CKM_RSA_PKCS_PSS, CKM.CKM_RSA_PKCS_OAEP,
  CKM.CKM_SHA256_RSA_PKCS, CKM.CKM_SHA384_RSA_PKCS, CKM.CKM_SHA512_RSA_PKCS, CKM.CKM_SHA256_RSA_PKCS_PSS, CKM.CKM_SHA384_RSA_PKCS_PSS, CKM.CKM_SHA512_RSA_PKCS_PSS,
  CKM.CKM_SHA3_256_RSA_PKCS, CKM.CKM_SHA3_384_RSA_PKCS, CKM.CKM_SHA3_512_RSA_PKCS, CKM.CKM_SHA3_256_RSA_PKCS_PSS, CKM.CKM_SHA3_384_RSA_PKCS_PSS, CKM.CKM_SHA3_512_RSA_PKCS_PSS,
  CKM.CKM_EC_KEY_PAIR_GEN, CKM.CKM_ECDSA, CKM.CKM_ECDSA_SHA256, CKM.CKM_ECDSA_SHA384, CKM.CKM_ECDSA_SHA512,
  CKM.CKM_ECDSA_SHA3_256, CKM.CKM_ECDSA_SHA3_384, CKM.CKM_ECDSA_SHA3_512, CKM.CKM_ECDH1_DERIVE, CKM.CKM_ECDH1_COFACTOR_DERIVE,
].sort((a, b) => a - b);

const SHA1_SIGNING = [CKM.CKM_SHA1_RSA_PKCS, CKM.CKM_SHA1_RSA_PKCS_PSS, CKM.CKM_ECDSA_SHA1];

const APPROVED_ONLY = '[algorithms]\nfips_approved_only = true\nenable_pqc = false\n';
const OID = { p256: '06082a8648ce3d030107', secp256k1: '06052b8104000a', ed25519: '06032b6570' };

function rsaPair(u: UserSession, bits: number): pkcs11js.KeyPair {
  return u.mod.C_GenerateKeyPair(
    u.session,
    { mechanism: CKM.CKM_RSA_PKCS_KEY_PAIR_GEN },
    [{ type: CKA.CKA_MODULUS_BITS, value: bits }, { type: CKA.CKA_TOKEN, value: false }],
    [{ type: CKA.CKA_TOKEN, value: false }, { type: CKA.CKA_SIGN, value: true }],
  );
}

function curvePair(u: UserSession, mechanism: number, oid: string): pkcs11js.KeyPair {
  return u.mod.C_GenerateKeyPair(
    u.session,
    { mechanism },
    [{ type: CKA.CKA_EC_PARAMS, value: Buffer.from(oid, 'hex') }, { type: CKA.CKA_TOKEN, value: false }],
    [{ type: CKA.CKA_TOKEN, value: false }, { type: CKA.CKA_SIGN, value: true }],
  );
}

function fipsApproved(u: UserSession, key: Buffer): boolean {
  const [attr] = u.mod.C_GetAttributeValue(u.session, key, [{ type: CKA.CKA_VENDOR_FIPS_APPROVED }]);
  return (attr?.value as Buffer)[0] === 1;
}

function aesKey(u: UserSession, bytes: number): Buffer {
  return u.mod.C_GenerateKey(u.session, { mechanism: CKM.CKM_AES_KEY_GEN }, [
    { type: CKA.CKA_VALUE_LEN, value: bytes },
    { type: CKA.CKA_TOKEN, value: false },
    { type: CKA.CKA_ENCRYPT, value: true },
  ]);
}

/** Approved-only mode requires the integrity sidecar: those tests use a sealed copy of the module. */
const sealed = sealedModuleCopy();
afterAll(() => rmSync(sealed.dir, { recursive: true, force: true }));

let open: UserSession | null = null;
function session(label: string, config: string): UserSession {
  open = openUserSession(label, config, {}, config.includes('fips_approved_only = true') ? sealed.lib : undefined);
  return open;
}
afterEach(() => {
  open?.close();
  open = null;
});

describe('approved-only mode (fips_approved_only = true)', () => {
  it('lists exactly the approved table, with approved key sizes', () => {
    const u = session('fips-list', APPROVED_ONLY);
    const slot = u.mod.C_GetSlotList(true)[0] as Buffer;
    expect(u.mod.C_GetMechanismList(slot).sort((a, b) => a - b)).toEqual(APPROVED);
    expect(u.mod.C_GetMechanismInfo(slot, CKM.CKM_RSA_PKCS_KEY_PAIR_GEN)).toMatchObject({ minKeySize: 2048, maxKeySize: 4096 });
    expect(u.mod.C_GetMechanismInfo(slot, CKM.CKM_ECDSA)).toMatchObject({ minKeySize: 256, maxKeySize: 384 });
    expect(u.mod.C_GetMechanismInfo(slot, CKM.CKM_GENERIC_SECRET_KEY_GEN)).toMatchObject({ minKeySize: 112 });
    expect(ckrOf(() => u.mod.C_GetMechanismInfo(slot, CKM.CKM_EDDSA))).toBe(CKR.CKR_MECHANISM_INVALID);
  });

  it('generates approved keys, marked CKA_VENDOR_FIPS_APPROVED, and refuses the rest', () => {
    const u = session('fips-keys', APPROVED_ONLY);
    const rsa = rsaPair(u, 2048);
    expect(fipsApproved(u, rsa.privateKey)).toBe(true);
    expect(fipsApproved(u, rsa.publicKey)).toBe(true);
    expect(fipsApproved(u, curvePair(u, CKM.CKM_EC_KEY_PAIR_GEN, OID.p256).privateKey)).toBe(true);
    expect(fipsApproved(u, aesKey(u, 16))).toBe(true);
    expect(ckrOf(() => rsaPair(u, 1024))).toBe(CKR.CKR_KEY_SIZE_RANGE);
    expect(ckrOf(() => rsaPair(u, 8192))).toBe(CKR.CKR_KEY_SIZE_RANGE);
    expect(ckrOf(() => curvePair(u, CKM.CKM_EC_KEY_PAIR_GEN, OID.secp256k1))).toBe(CKR.CKR_CURVE_NOT_SUPPORTED);
    expect(ckrOf(() => curvePair(u, CKM.CKM_EC_EDWARDS_KEY_PAIR_GEN, OID.ed25519))).toBe(CKR.CKR_MECHANISM_INVALID);
    const hmacKey = (bytes: number) =>
      u.mod.C_GenerateKey(u.session, { mechanism: CKM.CKM_GENERIC_SECRET_KEY_GEN }, [{ type: CKA.CKA_VALUE_LEN, value: bytes }, { type: CKA.CKA_TOKEN, value: false }]);
    expect(ckrOf(() => hmacKey(8))).toBe(CKR.CKR_KEY_SIZE_RANGE);
    expect(fipsApproved(u, hmacKey(32))).toBe(true);
  });

  it('refuses non-approved mechanisms and keys at C_*Init', () => {
    const u = session('fips-init', APPROVED_ONLY);
    const rsa = rsaPair(u, 2048);
    expect(ckrOf(() => u.mod.C_SignInit(u.session, { mechanism: CKM.CKM_SHA1_RSA_PKCS }, rsa.privateKey))).toBe(CKR.CKR_MECHANISM_INVALID);
    expect(ckrOf(() => u.mod.C_SignInit(u.session, { mechanism: CKM.CKM_SHA224_RSA_PKCS }, rsa.privateKey))).toBe(CKR.CKR_MECHANISM_INVALID);
    expect(ckrOf(() => u.mod.C_EncryptInit(u.session, { mechanism: CKM.CKM_AES_ECB }, aesKey(u, 32)))).toBe(CKR.CKR_MECHANISM_INVALID);
    expect(ckrOf(() => u.mod.C_DigestInit(u.session, { mechanism: CKM.CKM_SHA224 }))).toBe(CKR.CKR_MECHANISM_INVALID);
    // An RSA-1024 key entered by value is refused at C_SignInit.
    const weak = importRsa(u.mod, u.session, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
    expect(ckrOf(() => u.mod.C_SignInit(u.session, { mechanism: CKM.CKM_SHA256_RSA_PKCS }, weak.priv))).toBe(CKR.CKR_KEY_SIZE_RANGE);
    // One of 2048 bits entered in approved-only mode is approved.
    const strong = importRsa(u.mod, u.session, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    expect(fipsApproved(u, strong.priv)).toBe(true);
    u.mod.C_SignInit(u.session, { mechanism: CKM.CKM_SHA256_RSA_PKCS }, strong.priv);
    expect(u.mod.C_Sign(u.session, Buffer.from('approved'), Buffer.alloc(256))).toHaveLength(256);
  });
});

describe('default policy (allow_weak_rsa = false, allow_sha1_signing = false)', () => {
  it('offers every family but SHA-1 signing, and RSA from 2048 bits', () => {
    const u = session('default-list', '');
    const slot = u.mod.C_GetSlotList(true)[0] as Buffer;
    const listed = u.mod.C_GetMechanismList(slot);
    for (const m of SHA1_SIGNING) expect(listed).not.toContain(m);
    for (const m of [CKM.CKM_SHA_1, CKM.CKM_SHA_1_HMAC, CKM.CKM_EDDSA, CKM.CKM_AES_ECB, CKM.CKM_HKDF_DERIVE]) expect(listed).toContain(m);
    expect(u.mod.C_GetMechanismInfo(slot, CKM.CKM_RSA_PKCS_KEY_PAIR_GEN).minKeySize).toBe(2048);
    expect(ckrOf(() => rsaPair(u, 1024))).toBe(CKR.CKR_KEY_SIZE_RANGE);
  });

  it('marks keys outside the approved table as not approved, and refuses a SHA-1 PSS hash', () => {
    const u = session('default-keys', '');
    expect(fipsApproved(u, curvePair(u, CKM.CKM_EC_KEY_PAIR_GEN, OID.secp256k1).privateKey)).toBe(false);
    expect(fipsApproved(u, curvePair(u, CKM.CKM_EC_EDWARDS_KEY_PAIR_GEN, OID.ed25519).privateKey)).toBe(false);
    expect(fipsApproved(u, curvePair(u, CKM.CKM_EC_KEY_PAIR_GEN, OID.p256).privateKey)).toBe(true);
    // Entered by value outside approved-only mode: not approved.
    const imported = importRsa(u.mod, u.session, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    expect(fipsApproved(u, imported.priv)).toBe(false);
    const rsa = rsaPair(u, 2048);
    const pss = { mechanism: CKM.CKM_RSA_PKCS_PSS, parameter: { hashAlg: CKM.CKM_SHA_1, mgf: pkcs11js.CKG_MGF1_SHA1, saltLen: 20, type: pkcs11js.CK_PARAMS_RSA_PSS } };
    expect(ckrOf(() => u.mod.C_SignInit(u.session, pss, rsa.privateKey))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    const weak = importRsa(u.mod, u.session, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
    expect(ckrOf(() => u.mod.C_SignInit(u.session, { mechanism: CKM.CKM_SHA256_RSA_PKCS }, weak.priv))).toBe(CKR.CKR_KEY_SIZE_RANGE);
  });
});

describe('relaxed policy (allow_weak_rsa = true, allow_sha1_signing = true)', () => {
  it('generates RSA-1024 and signs with SHA-1, and Node verifies it', () => {
    const u = session('relaxed', '[algorithms]\nallow_weak_rsa = true\nallow_sha1_signing = true\n');
    const slot = u.mod.C_GetSlotList(true)[0] as Buffer;
    expect(u.mod.C_GetMechanismList(slot)).toEqual(expect.arrayContaining(SHA1_SIGNING));
    expect(u.mod.C_GetMechanismInfo(slot, CKM.CKM_RSA_PKCS_KEY_PAIR_GEN).minKeySize).toBe(1024);
    const pair = rsaPair(u, 1024);
    expect(fipsApproved(u, pair.privateKey)).toBe(false);
    const data = Buffer.from('legacy signature');
    u.mod.C_SignInit(u.session, { mechanism: CKM.CKM_SHA1_RSA_PKCS }, pair.privateKey);
    const signature = u.mod.C_Sign(u.session, data, Buffer.alloc(128));
    const [info] = u.mod.C_GetAttributeValue(u.session, pair.publicKey, [{ type: CKA.CKA_PUBLIC_KEY_INFO }]);
    const publicKey = createPublicKey({ key: info?.value as Buffer, format: 'der', type: 'spki' });
    expect(verify('sha1', data, publicKey, signature)).toBe(true);
  });
});

describe('CKA_VENDOR_FIPS_APPROVED', () => {
  it('cannot be set by the caller', () => {
    const u = session('vendor-attr', '');
    const create = () =>
      u.mod.C_CreateObject(u.session, [
        { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
        { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_AES },
        { type: CKA.CKA_VALUE, value: Buffer.alloc(32, 1) },
        { type: CKA.CKA_TOKEN, value: false },
        { type: CKA.CKA_VENDOR_FIPS_APPROVED, value: true },
      ]);
    expect(ckrOf(create)).toBe(CKR.CKR_ATTRIBUTE_READ_ONLY);
  });
});
