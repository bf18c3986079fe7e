/**
 * HKDF, PBKDF2, AES key derivation by data encryption and SP800-108 (counter
 * and feedback modes), driven through ctypes (test/mechanisms/python/derive_cases.py
 * lays out the parameter structures) on both transports, and checked against
 * RFC 5869 / RFC 6070 / RFC 8009 / NIST CAVP vectors and Node's crypto.
 */
import { createCipheriv, createHmac, hkdfSync, pbkdf2Sync } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CK_SP800_108_DKM, CK_SP800_108_PRF_DATA, CKA, CKF_HKDF, CKK, CKM, CKO, CKP_PBKD2, CKR, CKZ } from '../../src/generated/constants';
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
  created: number;
  additional?: { handle: number; value: string | null }[];
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

// ------------------------------------------------------------------ SP800-108

/** AES-CMAC written out from RFC 4493 section 2 over Node's AES-ECB (Node has no CMAC). */
function cmac(key: Buffer, message: Buffer): Buffer {
  const block = (b: Buffer): Buffer => {
    const c = createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false);
    return Buffer.concat([c.update(b), c.final()]);
  };
  const double = (b: Buffer): Buffer => {
    const out = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) out[i] = (((b[i] ?? 0) << 1) | ((b[i + 1] ?? 0) >> 7)) & 0xff;
    if ((b[0] ?? 0) & 0x80) out[15] = (out[15] ?? 0) ^ 0x87;
    return out;
  };
  const k1 = double(block(Buffer.alloc(16)));
  const k2 = double(k1);
  const n = Math.max(1, Math.ceil(message.length / 16));
  const complete = message.length > 0 && message.length % 16 === 0;
  const last = Buffer.alloc(16);
  message.subarray((n - 1) * 16).copy(last);
  if (!complete) last[message.length - (n - 1) * 16] = 0x80;
  const lastKey = complete ? k1 : k2;
  let x: Buffer = Buffer.alloc(16);
  for (let i = 0; i < n; i++) {
    const m = i < n - 1 ? message.subarray(i * 16, i * 16 + 16) : last.map((v, j) => v ^ (lastKey[j] ?? 0));
    x = block(Buffer.from(x.map((v, j) => v ^ (m[j] ?? 0))));
  }
  return x;
}

/** One PRF input field of the reference, in CK_PRF_DATA_PARAM order. */
type RefField =
  | { iteration: [boolean, number] | 'feedback' }
  | { counter: [boolean, number] }
  | { dkm: ['keys' | 'segments', boolean, number] }
  | { bytes: Buffer };

const integer = (value: number, littleEndian: boolean, bits: number): Buffer => {
  const b = Buffer.alloc(bits / 8);
  for (let i = 0, v = BigInt(value); i < b.length; i++, v >>= 8n) b[littleEndian ? i : b.length - 1 - i] = Number(v & 0xffn);
  return b;
};

/** NIST SP 800-108 sections 5.1 / 5.2 with the PKCS#11 field list, each key from whole segments in turn. */
function kbkdf(prf: (data: Buffer) => Buffer, h: number, fields: RefField[], lengths: number[], iv = Buffer.alloc(0)): Buffer[] {
  const segments = lengths.map((l) => Math.ceil(l / h));
  const n = segments.reduce((a, b) => a + b, 0);
  const blocks: Buffer[] = [];
  let previous: Buffer = iv;
  for (let i = 1; i <= n; i++) {
    const input = fields.map((f) => {
      if ('bytes' in f) return f.bytes;
      if ('counter' in f) return integer(i, ...f.counter);
      if ('dkm' in f) return integer(8 * (f.dkm[0] === 'keys' ? lengths.reduce((a, b) => a + b, 0) : n * h), f.dkm[1], f.dkm[2]);
      return f.iteration === 'feedback' ? previous : integer(i, ...f.iteration);
    });
    previous = prf(Buffer.concat(input));
    blocks.push(previous);
  }
  const dkm = Buffer.concat(blocks);
  let at = 0;
  return lengths.map((l, k) => {
    const key = dkm.subarray(at, at + l);
    at += (segments[k] ?? 0) * h;
    return key;
  });
}
const hmacPrf = (digest: string, key: Buffer) => (data: Buffer) => createHmac(digest, key).update(data).digest();

const T = CK_SP800_108_PRF_DATA;
const SUM_OF_KEYS = CK_SP800_108_DKM.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS;
const SUM_OF_SEGMENTS = CK_SP800_108_DKM.CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS;
/** The wire form of a reference field (derive_cases.py's "data" entries). */
const wireField = (f: RefField): Record<string, unknown> => {
  if ('bytes' in f) return { type: T.CK_SP800_108_BYTE_ARRAY, hex: f.bytes.toString('hex') };
  if ('counter' in f) return { type: T.CK_SP800_108_COUNTER, counter: f.counter };
  if ('dkm' in f) return { type: T.CK_SP800_108_DKM_LENGTH, dkm: [f.dkm[0] === 'keys' ? SUM_OF_KEYS : SUM_OF_SEGMENTS, f.dkm[1], f.dkm[2]] };
  return f.iteration === 'feedback' ? { type: T.CK_SP800_108_ITERATION_VARIABLE, null: true } : { type: T.CK_SP800_108_ITERATION_VARIABLE, counter: f.iteration };
};
const sp800 = (mode: 'counter' | 'feedback', prf: number, fields: (RefField | Record<string, unknown>)[], extra: Partial<Record<'iv' | 'additional', unknown>> = {}) => ({
  kind: 'sp800',
  mode,
  prf,
  data: fields.map((f) => ('type' in f ? f : wireField(f as RefField))),
  ...extra,
});
const additional = (...templates: Attr[][]) => templates.map((template) => ({ template }));

// NIST CAVP KBKDF CounterMode.zip, [PRF=CMAC_AES128] [CTRLOCATION=BEFORE_FIXED] [RLEN=32_BITS], L=128 (as OpenSSL's test/evp_kdf_test.c, test_kdf_kbkdf_fixedinfo, carries it).
const CAVP_CMAC = {
  ki: hex('c10b152e8c97b77e18704e0f0bd38305'),
  fixed: hex('98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4'),
  ko: '26faf61908ad9ee881b8305c221db53f',
};
// RFC 8009 appendix A, the PRF test vectors (as OpenSSL's test_kdf_kbkdf_8009_prf1/2 carry them): KDF-HMAC-SHA2(key, "prf", "test").
const RFC8009 = {
  sha256: { key: hex('3705D96080C17728A0E800EAB6E0D23C'), out: '9d188616f63852fe86915bb840b4a886ff3e6bb0f819b49b893393d393854295' },
  sha384: {
    key: hex('6D404D37FAF79F9DF0D33568D320669800EB4836472EA8A026D16B7182460C52'),
    out: '9801f69a368c2bf675e59521e177d9a07f67efe1cfde8d3c8d6f6a0256e3b17db3c1b62ad1b8553360d17367eb1514d2',
  },
};
const rfc8009Fields = (): RefField[] => [{ iteration: [false, 32] }, { bytes: Buffer.from('prf') }, { bytes: Buffer.of(0) }, { bytes: Buffer.from('test') }, { dkm: ['keys', false, 32] }];
const kdfKey = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
const label = Buffer.from('craton label');
const context = Buffer.from('craton context');
const feedbackIv = hex('f0e0d0c0b0a090807060504030201000');
const SP_CASES: Record<string, { case: Case; expect?: () => Buffer[] }> = {
  cavpCmac: {
    case: { op: 'derive', mechanism: CKM.CKM_SP800_108_COUNTER_KDF, base: secret(CKK.CKK_AES, CAVP_CMAC.ki), param: sp800('counter', CKM.CKM_AES_CMAC, [{ iteration: [false, 32] }, { bytes: CAVP_CMAC.fixed }]), template: readable(CKK.CKK_AES, 16) },
  },
  rfc8009Sha256: {
    case: { op: 'derive', mechanism: CKM.CKM_SP800_108_COUNTER_KDF, base: secret(CKK.CKK_GENERIC_SECRET, RFC8009.sha256.key), param: sp800('counter', CKM.CKM_SHA256_HMAC, rfc8009Fields()), template: readable(CKK.CKK_GENERIC_SECRET, 32) },
  },
  rfc8009Sha384: {
    case: { op: 'derive', mechanism: CKM.CKM_SP800_108_COUNTER_KDF, base: secret(CKK.CKK_SHA384_HMAC, RFC8009.sha384.key), param: sp800('counter', CKM.CKM_SHA384_HMAC, rfc8009Fields()), template: readable(CKK.CKK_GENERIC_SECRET, 48) },
  },
};
const widthCases: [string, number, string, number, RefField[], number][] = [
  ['le8Sha1', CKM.CKM_SHA_1_HMAC, 'sha1', 20, [{ iteration: [true, 8] }, { bytes: label }, { dkm: ['segments', true, 16] }], 70],
  ['le16Sha224', CKM.CKM_SHA224_HMAC, 'sha224', 28, [{ bytes: label }, { iteration: [true, 16] }, { bytes: context }, { dkm: ['keys', true, 24] }], 61],
  ['le24Sha512', CKM.CKM_SHA512_HMAC, 'sha512', 64, [{ dkm: ['segments', true, 32] }, { iteration: [true, 24] }, { bytes: context }], 130],
  ['be24Sha3', CKM.CKM_SHA3_256_HMAC, 'sha3-256', 32, [{ bytes: label }, { bytes: Buffer.of(0) }, { bytes: context }, { iteration: [false, 24] }, { dkm: ['keys', false, 64] }], 40],
];
for (const [name, prf, , , fields, length] of widthCases) {
  SP_CASES[name] = { case: { op: 'derive', mechanism: CKM.CKM_SP800_108_COUNTER_KDF, base: secret(CKK.CKK_GENERIC_SECRET, kdfKey), param: sp800('counter', prf, fields), template: readable(CKK.CKK_GENERIC_SECRET, length) } };
}
const spFields = (dkm: 'keys' | 'segments'): RefField[] => [{ iteration: [false, 16] }, { bytes: label }, { bytes: Buffer.of(0) }, { bytes: context }, { dkm: [dkm, false, 16] }];
for (const dkm of ['keys', 'segments'] as const) {
  // The spec's example: a 48-byte key and a 16-byte one with HMAC-SHA256 (DKM 512 or 768 bits), plus a 20-byte one.
  SP_CASES[`additional_${dkm}`] = {
    case: {
      op: 'derive',
      mechanism: CKM.CKM_SP800_108_COUNTER_KDF,
      base: secret(CKK.CKK_SHA256_HMAC, kdfKey),
      param: sp800('counter', CKM.CKM_SHA256_HMAC, spFields(dkm), { additional: additional(readable(CKK.CKK_AES, 16), readable(CKK.CKK_GENERIC_SECRET, 20)) }),
      template: readable(CKK.CKK_GENERIC_SECRET, 48),
    },
  };
}
const feedbackFields: RefField[] = [{ iteration: 'feedback' }, { counter: [true, 16] }, { bytes: label }, { bytes: Buffer.of(0) }, { bytes: context }, { dkm: ['keys', false, 32] }];
SP_CASES.feedbackCmac = {
  case: { op: 'derive', mechanism: CKM.CKM_SP800_108_FEEDBACK_KDF, base: secret(CKK.CKK_AES, kdfKey), param: sp800('feedback', CKM.CKM_AES_CMAC, feedbackFields, { iv: feedbackIv.toString('hex'), additional: additional(readable(CKK.CKK_AES, 32)) }), template: readable(CKK.CKK_GENERIC_SECRET, 40) },
};
SP_CASES.feedbackNoIv = {
  case: { op: 'derive', mechanism: CKM.CKM_SP800_108_FEEDBACK_KDF, base: secret(CKK.CKK_GENERIC_SECRET, kdfKey), param: sp800('feedback', CKM.CKM_SHA3_512_HMAC, [{ bytes: label }, { iteration: 'feedback' }]), template: readable(CKK.CKK_GENERIC_SECRET, 100) },
};
// Without CKA_SENSITIVE / CKA_EXTRACTABLE the derived key takes the base key's (readable here; the defaults are not).
SP_CASES.inheritsProtection = {
  case: {
    op: 'derive',
    mechanism: CKM.CKM_SP800_108_COUNTER_KDF,
    base: { attrs: [...secret(CKK.CKK_GENERIC_SECRET, kdfKey).attrs, [CKA.CKA_SENSITIVE, 'bool', false], [CKA.CKA_EXTRACTABLE, 'bool', true]] },
    param: sp800('counter', CKM.CKM_SHA256_HMAC, spFields('keys')),
    template: [[CKA.CKA_CLASS, 'ulong', CKO.CKO_SECRET_KEY], [CKA.CKA_KEY_TYPE, 'ulong', CKK.CKK_GENERIC_SECRET], [CKA.CKA_VALUE_LEN, 'ulong', 32]],
  },
};
const counterCase = (base: { attrs: Attr[] }, prf: number, fields: (RefField | Record<string, unknown>)[], template: Attr[] = readable(CKK.CKK_GENERIC_SECRET, 32), extra = {}): { case: Case } => ({
  case: { op: 'derive', mechanism: CKM.CKM_SP800_108_COUNTER_KDF, base, param: sp800('counter', prf, fields, extra), template },
});
const generic = secret(CKK.CKK_GENERIC_SECRET, kdfKey);
const REJECTED: Record<string, [number, { case: Case }]> = {
  keyHandleField: [CKR.CKR_MECHANISM_PARAM_INVALID, counterCase(generic, CKM.CKM_SHA256_HMAC, [{ iteration: [false, 32] }, { type: T.CK_SP800_108_KEY_HANDLE, base_handle: true }])],
  counterInCounterMode: [CKR.CKR_MECHANISM_PARAM_INVALID, counterCase(generic, CKM.CKM_SHA256_HMAC, [{ iteration: [false, 32] }, { counter: [false, 32] }])],
  noIterationVariable: [CKR.CKR_MECHANISM_PARAM_INVALID, counterCase(generic, CKM.CKM_SHA256_HMAC, [{ bytes: label }])],
  twoIterationVariables: [CKR.CKR_MECHANISM_PARAM_INVALID, counterCase(generic, CKM.CKM_SHA256_HMAC, [{ iteration: [false, 32] }, { iteration: [false, 8] }])],
  oddCounterWidth: [CKR.CKR_MECHANISM_PARAM_INVALID, counterCase(generic, CKM.CKM_SHA256_HMAC, [{ iteration: [false, 12] }])],
  emptyByteArray: [CKR.CKR_MECHANISM_PARAM_INVALID, counterCase(generic, CKM.CKM_SHA256_HMAC, [{ iteration: [false, 32] }, { type: T.CK_SP800_108_BYTE_ARRAY, null: true }])],
  notAPrf: [CKR.CKR_MECHANISM_PARAM_INVALID, counterCase(generic, CKM.CKM_SHA256, [{ iteration: [false, 32] }])],
  cmacGenericBase: [CKR.CKR_KEY_TYPE_INCONSISTENT, counterCase(generic, CKM.CKM_AES_CMAC, [{ iteration: [false, 32] }])],
  hmacOtherDigestKey: [CKR.CKR_KEY_TYPE_INCONSISTENT, counterCase(secret(CKK.CKK_SHA512_HMAC, kdfKey), CKM.CKM_SHA256_HMAC, [{ iteration: [false, 32] }])],
  dkmTooNarrow: [CKR.CKR_TEMPLATE_INCONSISTENT, counterCase(generic, CKM.CKM_SHA256_HMAC, [{ iteration: [false, 32] }, { dkm: ['keys', false, 8] }])],
  counterWraps: [
    CKR.CKR_TEMPLATE_INCONSISTENT,
    counterCase(generic, CKM.CKM_SHA_1_HMAC, [{ iteration: [false, 8] }], readable(CKK.CKK_GENERIC_SECRET, 4096), { additional: additional(readable(CKK.CKK_GENERIC_SECRET, 4096)) }),
  ],
  feedbackIterationWithValue: [CKR.CKR_MECHANISM_PARAM_INVALID, { case: { ...SP_CASES.feedbackNoIv?.case as Case, param: sp800('feedback', CKM.CKM_SHA256_HMAC, [{ iteration: [false, 32] }]) } }],
  additionalNullHandle: [CKR.CKR_ARGUMENTS_BAD, counterCase(generic, CKM.CKM_SHA256_HMAC, spFields('keys'), undefined, { additional: [{ template: readable(CKK.CKK_AES, 16), null_handle: true }] })],
  additionalWithoutKeyType: [CKR.CKR_TEMPLATE_INCOMPLETE, counterCase(generic, CKM.CKM_SHA256_HMAC, spFields('keys'), undefined, { additional: additional([[CKA.CKA_VALUE_LEN, 'ulong', 16]]) })],
  // Fails only when the objects are built, after the KDF ran: still no key at all.
  additionalBadAesLength: [CKR.CKR_ATTRIBUTE_VALUE_INVALID, counterCase(generic, CKM.CKM_SHA256_HMAC, spFields('keys'), undefined, { additional: additional(readable(CKK.CKK_AES, 16), readable(CKK.CKK_AES, 17)) })],
};
for (const [name, [, c]] of Object.entries(REJECTED)) SP_CASES[name] = c;
for (const [name, c] of Object.entries(SP_CASES)) CASES[`sp800_${name}`] = c.case;

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

  const sp = (name: string): Result => results[`sp800_${name}`] ?? { rv: -1, created: -1 };
  const spOk = (name: string): Result => {
    expect(sp(name).rv, name).toBe(CKR.CKR_OK);
    return sp(name);
  };

  it('the test AES-CMAC matches RFC 4493', () => {
    const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
    const m = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411');
    expect(cmac(key, m.subarray(0, 0)).toString('hex')).toBe('bb1d6929e95937287fa37d129b756746');
    expect(cmac(key, m.subarray(0, 16)).toString('hex')).toBe('070a16b46b4d4144f79bdd9dd04a287c');
    expect(cmac(key, m).toString('hex')).toBe('dfa66747de9ae63030ca32611497c827');
  });

  it('SP800-108 counter mode matches the NIST CAVP CMAC vector and RFC 8009', () => {
    expect(spOk('cavpCmac').value).toBe(CAVP_CMAC.ko);
    expect(spOk('rfc8009Sha256').value).toBe(RFC8009.sha256.out);
    expect(spOk('rfc8009Sha384').value).toBe(RFC8009.sha384.out);
    const ref = kbkdf((d) => cmac(CAVP_CMAC.ki, d), 16, [{ iteration: [false, 32] }, { bytes: CAVP_CMAC.fixed }], [16]);
    expect(ref[0]?.toString('hex')).toBe(CAVP_CMAC.ko);
  });

  it.each(widthCases)('SP800-108 counter mode %s: counter and DKM widths, both byte orders', (name, _prf, digest, h, fields, length) => {
    expect(spOk(name).value).toBe(kbkdf(hmacPrf(digest, kdfKey), h, fields, [length])[0]?.toString('hex'));
  });

  it.each(['keys', 'segments'] as const)('SP800-108 additional keys take the following segments (DKM length: sum of %s)', (dkm) => {
    const r = spOk(`additional_${dkm}`);
    const [main, first, second] = kbkdf(hmacPrf('sha256', kdfKey), 32, spFields(dkm), [48, 16, 20]);
    expect(r.value).toBe(main?.toString('hex'));
    expect(r.additional?.map((k) => k.value)).toEqual([first?.toString('hex'), second?.toString('hex')]);
    expect(new Set(r.additional?.map((k) => k.handle)).size).toBe(2);
    expect(r.additional?.every((k) => k.handle !== 0)).toBe(true);
    expect(r.created).toBe(3);
  });

  it('SP800-108 feedback mode, with and without an IV', () => {
    const r = spOk('feedbackCmac');
    const [main, extra] = kbkdf((d) => cmac(kdfKey, d), 16, feedbackFields, [40, 32], feedbackIv);
    expect(r.value).toBe(main?.toString('hex'));
    expect(r.additional?.[0]?.value).toBe(extra?.toString('hex'));
    expect(spOk('feedbackNoIv').value).toBe(kbkdf(hmacPrf('sha3-512', kdfKey), 64, [{ bytes: label }, { iteration: 'feedback' }], [100])[0]?.toString('hex'));
  });

  it('SP800-108 keys take CKA_SENSITIVE and CKA_EXTRACTABLE from the base key when the template omits them', () => {
    expect(spOk('inheritsProtection').value).toBe(kbkdf(hmacPrf('sha256', kdfKey), 32, spFields('keys'), [32])[0]?.toString('hex'));
  });

  it.each(Object.entries(REJECTED).map(([name, [rv]]) => [name, rv] as const))('SP800-108 rejects %s, making no key', (name, rv) => {
    expect(sp(name).rv).toBe(rv);
    expect(sp(name).created).toBe(0);
  });

  it('AES ECB and CBC data encryption derive what Node encrypts', () => {
    expect(ok('ecbEncryptData')).toBe(aes('ecb', null).subarray(0, 16).toString('hex'));
    expect(ok('ecbEncryptDataWhole')).toBe(aes('ecb', null).toString('hex'));
    expect(ok('cbcEncryptData')).toBe(aes('cbc', cbcIv).toString('hex'));
    expect(results.encryptDataNotBlocks?.rv).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
  });
});
