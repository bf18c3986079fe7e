/**
 * HKDF, PBKDF2 and AES key derivation by data encryption, driven through ctypes
 * (test/mechanisms/python/derive_cases.py lays out the parameter structures) on
 * both transports, and checked against RFC 5869 / RFC 6070 vectors and Node's crypto.
 */
import { createCipheriv, createHmac, hkdfSync, pbkdf2Sync } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKF_HKDF, CKK, CKM, CKO, CKP_PBKD2, CKR, CKZ } from '../../src/generated/constants';
import { MODULE_PATH, SO_PIN, TRANSPORTS, USER_PIN, runTool, sandbox, type Sandbox } from '../helpers/module';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(__dirname, 'python', 'derive_cases.py');

type Attr = [number, 'ulong' | 'bool' | 'hex', number | boolean | string];
interface Case {
  op: 'derive' | 'generate';
  mechanism: number;
  param?: Record<string, unknown>;
  template: Attr[];
  base?: { attrs: Attr[] };
  salt_key?: { attrs: Attr[] };
}
interface Result {
  rv: number;
  value?: string;
  class?: number;
}

const secret = (keyType: number, value: Buffer, derive = true): { attrs: Attr[] } => ({
  attrs: [
    [CKA.CKA_CLASS, 'ulong', CKO.CKO_SECRET_KEY],
    [CKA.CKA_KEY_TYPE, 'ulong', keyType],
    [CKA.CKA_VALUE, 'hex', value.toString('hex')],
    [CKA.CKA_DERIVE, 'bool', derive],
    [CKA.CKA_TOKEN, 'bool', false],
  ],
});
const readable = (keyType: number, length?: number): Attr[] => [
  [CKA.CKA_CLASS, 'ulong', CKO.CKO_SECRET_KEY],
  [CKA.CKA_KEY_TYPE, 'ulong', keyType],
  [CKA.CKA_SENSITIVE, 'bool', false],
  [CKA.CKA_EXTRACTABLE, 'bool', true],
  ...(length === undefined ? [] : [[CKA.CKA_VALUE_LEN, 'ulong', length] as Attr]),
];
const hex = (s: string) => Buffer.from(s, 'hex');

// RFC 5869 test case 1.
const RFC5869 = {
  ikm: hex('0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'),
  salt: hex('000102030405060708090a0b0c'),
  info: hex('f0f1f2f3f4f5f6f7f8f9'),
  prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
  okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
};
const hkdfParam = (p: { extract: boolean; expand: boolean; prf: number; saltType: number; salt?: Buffer; info?: Buffer }) => ({
  kind: 'hkdf',
  extract: p.extract,
  expand: p.expand,
  prf: p.prf,
  saltType: p.saltType,
  salt: p.salt?.toString('hex') ?? '',
  info: p.info?.toString('hex') ?? '',
});

/** HKDF-Expand written out from RFC 5869 section 2.3, the reference for expand-only derivation. */
function expand(digest: string, prk: Buffer, info: Buffer, length: number): Buffer {
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = createHmac(digest, prk).update(Buffer.concat([previous, info, Buffer.from([i])])).digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

const aesKey = hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4');
const aesData = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51');
const cbcIv = hex('000102030405060708090a0b0c0d0e0f');
const pbkdf2Salt = Buffer.from('NaCl-craton');
const prk384 = createHmac('sha384', 'craton salt').update('craton ikm').digest();
const saltKeyValue = hex('1f'.repeat(24));
const dataBase = Buffer.from('a data object whose value is the input keying material');

const CASES: Record<string, Case> = {
  rfc5869: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: secret(CKK.CKK_GENERIC_SECRET, RFC5869.ikm),
    param: hkdfParam({ extract: true, expand: true, prf: CKM.CKM_SHA256, saltType: CKF_HKDF.CKF_HKDF_SALT_DATA, salt: RFC5869.salt, info: RFC5869.info }),
    template: readable(CKK.CKK_GENERIC_SECRET, 42),
  },
  extractOnly: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: secret(CKK.CKK_HKDF, RFC5869.ikm),
    param: hkdfParam({ extract: true, expand: false, prf: CKM.CKM_SHA256, saltType: CKF_HKDF.CKF_HKDF_SALT_DATA, salt: RFC5869.salt }),
    template: readable(CKK.CKK_HKDF),
  },
  expandOnly: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: secret(CKK.CKK_HKDF, prk384),
    param: hkdfParam({ extract: false, expand: true, prf: CKM.CKM_SHA384, saltType: CKF_HKDF.CKF_HKDF_SALT_NULL, info: Buffer.from('context') }),
    template: readable(CKK.CKK_AES, 32),
  },
  nullSalt: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: secret(CKK.CKK_GENERIC_SECRET, RFC5869.ikm),
    param: hkdfParam({ extract: true, expand: true, prf: CKM.CKM_SHA3_256, saltType: CKF_HKDF.CKF_HKDF_SALT_NULL, info: RFC5869.info }),
    template: readable(CKK.CKK_GENERIC_SECRET, 70),
  },
  saltKey: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: secret(CKK.CKK_GENERIC_SECRET, RFC5869.ikm),
    salt_key: secret(CKK.CKK_HKDF, saltKeyValue),
    param: hkdfParam({ extract: true, expand: true, prf: CKM.CKM_SHA512, saltType: CKF_HKDF.CKF_HKDF_SALT_KEY, info: RFC5869.info }),
    template: readable(CKK.CKK_GENERIC_SECRET, 64),
  },
  hkdfData: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DATA,
    base: secret(CKK.CKK_GENERIC_SECRET, RFC5869.ikm),
    param: hkdfParam({ extract: true, expand: true, prf: CKM.CKM_SHA256, saltType: CKF_HKDF.CKF_HKDF_SALT_DATA, salt: RFC5869.salt, info: RFC5869.info }),
    template: [[CKA.CKA_VALUE_LEN, 'ulong', 42]],
  },
  dataObjectBase: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: { attrs: [[CKA.CKA_CLASS, 'ulong', CKO.CKO_DATA], [CKA.CKA_VALUE, 'hex', dataBase.toString('hex')], [CKA.CKA_TOKEN, 'bool', false]] },
    param: hkdfParam({ extract: true, expand: true, prf: CKM.CKM_SHA256, saltType: CKF_HKDF.CKF_HKDF_SALT_DATA, salt: RFC5869.salt, info: RFC5869.info }),
    template: readable(CKK.CKK_GENERIC_SECRET, 32),
  },
  dataObjectWithoutSalt: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: { attrs: [[CKA.CKA_CLASS, 'ulong', CKO.CKO_DATA], [CKA.CKA_VALUE, 'hex', dataBase.toString('hex')], [CKA.CKA_TOKEN, 'bool', false]] },
    param: hkdfParam({ extract: true, expand: true, prf: CKM.CKM_SHA256, saltType: CKF_HKDF.CKF_HKDF_SALT_NULL }),
    template: readable(CKK.CKK_GENERIC_SECRET, 32),
  },
  neitherStep: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: secret(CKK.CKK_GENERIC_SECRET, RFC5869.ikm),
    param: hkdfParam({ extract: false, expand: false, prf: CKM.CKM_SHA256, saltType: CKF_HKDF.CKF_HKDF_SALT_NULL }),
    template: readable(CKK.CKK_GENERIC_SECRET, 32),
  },
  expandWithoutLength: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: secret(CKK.CKK_GENERIC_SECRET, RFC5869.ikm),
    param: hkdfParam({ extract: true, expand: true, prf: CKM.CKM_SHA256, saltType: CKF_HKDF.CKF_HKDF_SALT_NULL }),
    template: readable(CKK.CKK_GENERIC_SECRET),
  },
  notDerivable: {
    op: 'derive',
    mechanism: CKM.CKM_HKDF_DERIVE,
    base: secret(CKK.CKK_GENERIC_SECRET, RFC5869.ikm, false),
    param: hkdfParam({ extract: true, expand: true, prf: CKM.CKM_SHA256, saltType: CKF_HKDF.CKF_HKDF_SALT_NULL }),
    template: readable(CKK.CKK_GENERIC_SECRET, 32),
  },
  hkdfKeyGen: { op: 'generate', mechanism: CKM.CKM_HKDF_KEY_GEN, template: [[CKA.CKA_SENSITIVE, 'bool', false], [CKA.CKA_EXTRACTABLE, 'bool', true], [CKA.CKA_VALUE_LEN, 'ulong', 48]] },
  rfc6070: {
    op: 'generate',
    mechanism: CKM.CKM_PKCS5_PBKD2,
    param: { kind: 'pbkdf2', saltSource: CKZ.CKZ_SALT_SPECIFIED, salt: Buffer.from('salt').toString('hex'), iterations: 2, prf: CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA1, password: Buffer.from('password').toString('hex') },
    template: readable(CKK.CKK_GENERIC_SECRET, 20),
  },
  pbkdf2Aes: {
    op: 'generate',
    mechanism: CKM.CKM_PKCS5_PBKD2,
    param: { kind: 'pbkdf2', saltSource: CKZ.CKZ_SALT_SPECIFIED, salt: pbkdf2Salt.toString('hex'), iterations: 10_000, prf: CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA512, password: Buffer.from('correct horse').toString('hex') },
    template: readable(CKK.CKK_AES, 32),
  },
  pbkdf2WithoutKeyType: {
    op: 'generate',
    mechanism: CKM.CKM_PKCS5_PBKD2,
    param: { kind: 'pbkdf2', saltSource: CKZ.CKZ_SALT_SPECIFIED, salt: pbkdf2Salt.toString('hex'), iterations: 1, prf: CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA256, password: '70' },
    template: [[CKA.CKA_VALUE_LEN, 'ulong', 16]],
  },
  pbkdf2BadPrf: {
    op: 'generate',
    mechanism: CKM.CKM_PKCS5_PBKD2,
    param: { kind: 'pbkdf2', saltSource: CKZ.CKZ_SALT_SPECIFIED, salt: pbkdf2Salt.toString('hex'), iterations: 1, prf: CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_GOSTR3411, password: '70' },
    template: readable(CKK.CKK_GENERIC_SECRET, 16),
  },
  ecbEncryptData: {
    op: 'derive',
    mechanism: CKM.CKM_AES_ECB_ENCRYPT_DATA,
    base: secret(CKK.CKK_AES, aesKey),
    param: { kind: 'string', data: aesData.toString('hex') },
    template: readable(CKK.CKK_AES, 16),
  },
  ecbEncryptDataWhole: {
    op: 'derive',
    mechanism: CKM.CKM_AES_ECB_ENCRYPT_DATA,
    base: secret(CKK.CKK_AES, aesKey),
    param: { kind: 'string', data: aesData.toString('hex') },
    template: readable(CKK.CKK_GENERIC_SECRET),
  },
  cbcEncryptData: {
    op: 'derive',
    mechanism: CKM.CKM_AES_CBC_ENCRYPT_DATA,
    base: secret(CKK.CKK_AES, aesKey),
    param: { kind: 'cbc', iv: cbcIv.toString('hex'), data: aesData.toString('hex') },
    template: readable(CKK.CKK_AES, 32),
  },
  encryptDataNotBlocks: {
    op: 'derive',
    mechanism: CKM.CKM_AES_ECB_ENCRYPT_DATA,
    base: secret(CKK.CKK_AES, aesKey),
    param: { kind: 'string', data: aesData.subarray(0, 20).toString('hex') },
    template: readable(CKK.CKK_GENERIC_SECRET),
  },
};

const aes = (mode: string, iv: Buffer | null) => {
  const c = createCipheriv(`aes-256-${mode}`, aesKey, iv).setAutoPadding(false);
  return Buffer.concat([c.update(aesData), c.final()]);
};

describe.each(TRANSPORTS)('key derivation through ctypes (%s transport)', (transport) => {
  let box: Sandbox;
  const results: Record<string, Result> = {};

  beforeAll(async () => {
    box = sandbox(transport);
    const names = Object.keys(CASES);
    const run = await runTool(PYTHON, [SCRIPT, MODULE_PATH, SO_PIN, USER_PIN], box.env, Buffer.from(JSON.stringify(names.map((n) => CASES[n]))));
    if (run.code !== 0) throw new Error(`derive_cases.py exited ${run.code}: ${run.stderr}`);
    const list = JSON.parse(run.stdout) as Result[];
    names.forEach((n, i) => (results[n] = list[i] as Result));
  }, 120_000);
  afterAll(() => box.cleanup());

  const ok = (name: string): string => {
    expect(results[name]?.rv, name).toBe(CKR.CKR_OK);
    return results[name]?.value ?? '';
  };

  it('HKDF extract and expand matches RFC 5869 test case 1 and Node', () => {
    expect(ok('rfc5869')).toBe(RFC5869.okm);
    expect(ok('rfc5869')).toBe(Buffer.from(hkdfSync('sha256', RFC5869.ikm, RFC5869.salt, RFC5869.info, 42)).toString('hex'));
  });

  it('HKDF extract alone yields the PRK', () => {
    expect(ok('extractOnly')).toBe(RFC5869.prk);
  });

  it('HKDF expand alone expands the base key as a PRK', () => {
    expect(ok('expandOnly')).toBe(expand('sha384', prk384, Buffer.from('context'), 32).toString('hex'));
  });

  it('a NULL salt is a zero salt, with SHA3-256', () => {
    expect(ok('nullSalt')).toBe(Buffer.from(hkdfSync('sha3-256', RFC5869.ikm, Buffer.alloc(32), RFC5869.info, 70)).toString('hex'));
  });

  it('a salt key supplies the salt', () => {
    expect(ok('saltKey')).toBe(Buffer.from(hkdfSync('sha512', RFC5869.ikm, saltKeyValue, RFC5869.info, 64)).toString('hex'));
  });

  it('CKM_HKDF_DATA makes a data object', () => {
    expect(ok('hkdfData')).toBe(RFC5869.okm);
    expect(results.hkdfData?.class).toBe(CKO.CKO_DATA);
  });

  it('a data object is a base when extracting with a salt, not otherwise', () => {
    expect(ok('dataObjectBase')).toBe(Buffer.from(hkdfSync('sha256', dataBase, RFC5869.salt, RFC5869.info, 32)).toString('hex'));
    expect(results.dataObjectWithoutSalt?.rv).toBe(CKR.CKR_KEY_HANDLE_INVALID);
  });

  it('rejects bad HKDF requests with the spec CK_RVs', () => {
    expect(results.neitherStep?.rv).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    expect(results.expandWithoutLength?.rv).toBe(CKR.CKR_TEMPLATE_INCOMPLETE);
    expect(results.notDerivable?.rv).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
  });

  it('CKM_HKDF_KEY_GEN makes a CKK_HKDF key of the asked length', () => {
    expect(ok('hkdfKeyGen')).toHaveLength(96);
    expect(results.hkdfKeyGen?.class).toBe(CKO.CKO_SECRET_KEY);
  });

  it('PBKDF2 matches RFC 6070 and Node', () => {
    expect(ok('rfc6070')).toBe('ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957');
    expect(ok('pbkdf2Aes')).toBe(pbkdf2Sync('correct horse', pbkdf2Salt, 10_000, 32, 'sha512').toString('hex'));
  });

  it('PBKDF2 needs a key type and an HMAC PRF', () => {
    expect(results.pbkdf2WithoutKeyType?.rv).toBe(CKR.CKR_TEMPLATE_INCOMPLETE);
    expect(results.pbkdf2BadPrf?.rv).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
  });

  it('AES ECB and CBC data encryption derive what Node encrypts', () => {
    expect(ok('ecbEncryptData')).toBe(aes('ecb', null).subarray(0, 16).toString('hex'));
    expect(ok('ecbEncryptDataWhole')).toBe(aes('ecb', null).toString('hex'));
    expect(ok('cbcEncryptData')).toBe(aes('cbc', cbcIv).toString('hex'));
    expect(results.encryptDataNotBlocks?.rv).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
  });
});
