/**
 * Cross-language wire round trip: does the runtime's codec (src/wire/codec.ts)
 * read exactly what the shim's marshaller (shim/marshal.c) writes, and does
 * the shim write into caller memory exactly what the runtime's replies say?
 *
 * The C half is test/shim/wire_crosscheck.c, built here with cc straight from
 * the shim sources (never a stale binary). It calls the generated entry points
 * through the 3.0 function list with parameter structures declared as in the
 * OASIS headers.
 *  - `encode`: request frames for every complex argument kind; each is decoded
 *    with decodeArgs and compared, field by field, with what C put in.
 *  - `decode-requests` / `decode`: the C side's decode cases send requests;
 *    replies built here with startReply/encodeReplyPayload/finishReply go back,
 *    and the C side reports what landed in caller memory (buffers pre-filled
 *    with 0xCC, each followed by 8 canary bytes of 0xA5).
 * Test data: byte i of pattern `seed` is ((seed << 4) ^ (i * 37 + 11)) & 0xff on both sides.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CK_SP800_108_DKM, CK_SP800_108_PRF_DATA, CKA, CKD, CKF_HKDF, CKF_INIT, CKG_IV, CKG_MGF, CKK, CKM, CKO, CKP_PBKD2, CKR, CKZ } from '../../src/generated/constants';
import { FUNCTIONS, STRUCTS } from '../../src/generated/wire-table';
import { Action, ValueKind, decodeArgs, encodeReplyPayload, outUlongData, writebackIndex, type ArgValue, type OutValue, type SlotReply, type StructArray } from '../../src/wire/codec';
import { FRAME_REQUEST, HEADER_SIZE, finishReply, parseHeader, startReply, type FrameHeader } from '../../src/wire/frame';

const ROOT = resolve(__dirname, '..', '..');
const BUILD = join(ROOT, 'build');
const BINARY = join(BUILD, 'wire_crosscheck');
const SOURCES = ['test/shim/wire_crosscheck.c', 'shim/marshal.c', 'shim/wire.c', 'shim/generated/craton_table.c'].map((p) => join(ROOT, p));

// ------------------------------------------------------------------ helpers

function pat(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((seed << 4) ^ (i * 37 + 11)) & 0xff;
  return b;
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const big = (n: number): bigint => BigInt(n);
const fill = (n: number): string => 'cc'.repeat(n);

/** A CK_ULONG in the caller's width, little-endian, as hex. */
let ULONG = 8;
let ATTRIBUTE = 24;
const ulongHex = (v: bigint): string => {
  let s = '';
  for (let i = 0; i < ULONG; i++) s += ((v >> big(8 * i)) & 0xffn).toString(16).padStart(2, '0');
  return s;
};
const ALL_ONES = (): string => ((1n << big(8 * ULONG)) - 1n).toString();
const CC_ULONG = (): string => BigInt(`0x${fill(ULONG)}`).toString();

/**
 * Decoded values in a comparable form: every number becomes a bigint (so a
 * clamped u64 cannot pass for the C value), every byte string becomes hex, a
 * structure descriptor becomes its name. `kind` stays as it is (an ArgValue
 * kind or a ValueKind).
 */
function norm(v: unknown, key = ''): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'number') return key === 'kind' ? v : BigInt(v);
  if (typeof v === 'boolean' || typeof v === 'string' || typeof v === 'bigint') return v;
  if (v instanceof Uint8Array) return hex(v);
  if (Array.isArray(v)) return v.map((x) => norm(x));
  const o = v as Record<string, unknown>;
  if (key === 'struct' && typeof o.name === 'string' && Array.isArray(o.fields)) return o.name;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) if (x !== undefined) out[k] = norm(x, k);
  return out;
}

interface Record_ {
  readonly name: string;
  readonly frame: Uint8Array;
}

function parseRecords(buf: Buffer): Record_[] {
  const out: Record_[] = [];
  let at = 0;
  while (at < buf.length) {
    const nameLen = buf.readUInt32LE(at);
    const name = buf.subarray(at + 4, at + 4 + nameLen).toString();
    at += 4 + nameLen;
    const frameLen = buf.readUInt32LE(at);
    out.push({ name, frame: new Uint8Array(buf.subarray(at + 4, at + 4 + frameLen)) });
    at += 4 + frameLen;
  }
  return out;
}

function run(mode: string, input?: Buffer): Buffer {
  const r = spawnSync(BINARY, [mode], { input, maxBuffer: 64 << 20, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`wire_crosscheck ${mode} exited ${r.status} ${r.signal ?? ''}: ${r.stderr.toString()}`);
  return r.stdout;
}

function decodeRequest(frame: Uint8Array): { header: FrameHeader; fn: string; args: Record<string, unknown> } {
  const header = parseHeader(frame);
  expect(header.kind).toBe(FRAME_REQUEST);
  expect(header.payloadLength).toBe(frame.length - HEADER_SIZE);
  const fn = FUNCTIONS.find((f) => f.id === header.functionId);
  if (!fn) throw new Error(`unknown function id ${header.functionId}`);
  const args = decodeArgs(fn, frame.subarray(HEADER_SIZE));
  return { header, fn: fn.name, args: Object.fromEntries([...args].map(([k, v]) => [k, norm(v)])) };
}

/** Depth-first index of a structure field, as write-backs name it. */
function fieldIndex(struct: string, field: string): number {
  const s = STRUCTS.find((x) => x.name === struct);
  const i = s?.fields.findIndex((f) => f.name === field) ?? -1;
  if (i < 0) throw new Error(`${struct}.${field}?`);
  return i;
}

// ---------------------------------------------------- expectation builders

const ul = (name: string, value: number | bigint) => [name, { kind: 'ulong', value: BigInt(value) }] as const;
const inBytes = (name: string, data: Uint8Array | null, length = data?.length ?? 0) =>
  [name, { kind: 'in_bytes', present: data !== null, length: big(length), data: data ? hex(data) : null }] as const;
const outBytes = (name: string, lengthPtr: boolean, buffer: boolean, capacity: number) =>
  [name, { kind: 'out_bytes', lengthPtr, buffer, capacity: big(capacity) }] as const;
const outUlong = (name: string) => [name, { kind: 'out_ulong', present: true }] as const;
const structParam = (name: string, length: number, fields: Record<string, unknown>) => ({
  kind: ValueKind.Struct,
  length: big(length),
  value: { struct: name, fields },
});
const mech = (type: number, param: unknown) => ['pMechanism', { kind: 'mechanism', mechanism: { type: big(type), param } }] as const;

type Attr = Record<string, unknown>;
const aUlong = (type: number, value: number | bigint): Attr => ({ type: big(type), kind: ValueKind.Ulong, length: big(ULONG), ulong: BigInt(value) });
const aRaw = (type: number, bytes: Uint8Array): Attr => ({ type: big(type), kind: ValueKind.Raw, length: big(bytes.length), bytes: hex(bytes) });
const aAttrs = (type: number, attrs: Attr[]): Attr => ({ type: big(type), kind: ValueKind.Attrs, length: big(attrs.length * ATTRIBUTE), attrs });
const aMechs = (type: number, mechs: number[]): Attr => ({ type: big(type), kind: ValueKind.Mechs, length: big(mechs.length * ULONG), mechs: mechs.map(big) });
const aOnly = (type: number, kind: ValueKind, length: number): Attr => ({ type: big(type), kind, length: big(length) });
const template = (name: string, attributes: Attr[] | null) =>
  [name, { kind: 'in_template', template: { present: attributes !== null, count: big(attributes?.length ?? 0), attributes: attributes ?? [] } }] as const;
const slot = (type: number, kind: ValueKind, buffer: boolean, capacity: number, nested?: unknown[]) => ({
  type: big(type),
  kind,
  buffer,
  capacity: big(capacity),
  ...(nested ? { nested } : {}),
});

interface EncodeCase {
  readonly fn: string;
  readonly args: () => Record<string, unknown>;
}

// The derive template of wire_crosscheck.c (the first n entries are passed).
const deriveTemplate = (n: number): Attr[] =>
  [aUlong(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY), aUlong(CKA.CKA_KEY_TYPE, CKK.CKK_AES), aUlong(CKA.CKA_VALUE_LEN, 32), aRaw(CKA.CKA_SENSITIVE, Uint8Array.of(1))].slice(0, n);

let SIZES: Record<string, number> = {};

// SP800-108 parameter pieces, as the runtime decodes them.
const structArray = (elements: unknown[]) => ({ form: 'struct_array', present: true, count: big(elements.length), elements });
const prfData = (type: number, param: unknown) => ({
  struct: 'CK_PRF_DATA_PARAM',
  fields: { type: big(type), pValue: { form: 'choice_ptr', param }, ulValueLen: (param as { length: bigint }).length },
});
const derivedKey = (attrs: Attr[] | null, handle: boolean) => ({
  struct: 'CK_DERIVED_KEY',
  fields: {
    pTemplate: { form: 'template', template: { present: attrs !== null, count: big(attrs?.length ?? 0), attributes: attrs ?? [] } },
    ulAttributeCount: big(attrs?.length ?? 0),
    phKey: { form: 'out_ulong', present: handle },
  },
});

const ENCODE_CASES: Record<string, EncodeCase> = {
  initialize: {
    fn: 'C_Initialize',
    args: () => ({
      pInitArgs: {
        kind: 'init_args',
        args: { createMutex: true, destroyMutex: true, lockMutex: false, unlockMutex: true, flags: big(CKF_INIT.CKF_OS_LOCKING_OK), reserved: false },
      },
    }),
  },
  initialize_null: { fn: 'C_Initialize', args: () => ({ pInitArgs: { kind: 'init_args', args: null } }) },
  init_token: {
    fn: 'C_InitToken',
    args: () => Object.fromEntries([ul('slotID', 3), inBytes('pPin', ascii('123456')), ['pLabel', { kind: 'in_label32', label: hex(pat(32, 1)) }]]),
  },
  gcm: {
    fn: 'C_EncryptInit',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_AES_GCM,
          structParam('CK_GCM_PARAMS', SIZES.CK_GCM_PARAMS ?? 0, {
            pIv: hex(pat(12, 2)),
            ulIvLen: 12n,
            ulIvBits: 96n,
            pAAD: hex(pat(20, 3)),
            ulAADLen: 20n,
            ulTagBits: 128n,
          }),
        ),
        ul('hKey', 0x22),
      ]),
  },
  ccm: {
    fn: 'C_DecryptInit',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_AES_CCM,
          structParam('CK_CCM_PARAMS', SIZES.CK_CCM_PARAMS ?? 0, {
            ulDataLen: 64n,
            pNonce: hex(pat(13, 4)),
            ulNonceLen: 13n,
            pAAD: hex(pat(5, 5)),
            ulAADLen: 5n,
            ulMACLen: 16n,
          }),
        ),
        ul('hKey', 0x23),
      ]),
  },
  ctr: {
    fn: 'C_EncryptInit',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(CKM.CKM_AES_CTR, structParam('CK_AES_CTR_PARAMS', SIZES.CK_AES_CTR_PARAMS ?? 0, { ulCounterBits: 32n, cb: hex(pat(16, 6)) })),
        ul('hKey', 0x24),
      ]),
  },
  pss: {
    fn: 'C_SignInit',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_SHA256_RSA_PKCS_PSS,
          structParam('CK_RSA_PKCS_PSS_PARAMS', SIZES.CK_RSA_PKCS_PSS_PARAMS ?? 0, { hashAlg: big(CKM.CKM_SHA256), mgf: big(CKG_MGF.CKG_MGF1_SHA256), sLen: 32n }),
        ),
        ul('hKey', 0x25),
      ]),
  },
  oaep: {
    fn: 'C_EncryptInit',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_RSA_PKCS_OAEP,
          structParam('CK_RSA_PKCS_OAEP_PARAMS', SIZES.CK_RSA_PKCS_OAEP_PARAMS ?? 0, {
            hashAlg: big(CKM.CKM_SHA256),
            mgf: big(CKG_MGF.CKG_MGF1_SHA256),
            source: big(CKZ.CKZ_DATA_SPECIFIED),
            pSourceData: hex(pat(9, 7)),
            ulSourceDataLen: 9n,
          }),
        ),
        ul('hKey', 0x26),
      ]),
  },
  rsa_aes_key_wrap: {
    fn: 'C_WrapKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_RSA_AES_KEY_WRAP,
          structParam('CK_RSA_AES_KEY_WRAP_PARAMS', SIZES.CK_RSA_AES_KEY_WRAP_PARAMS ?? 0, {
            ulAESKeyBits: 256n,
            pOAEPParams: {
              struct: 'CK_RSA_PKCS_OAEP_PARAMS',
              fields: {
                hashAlg: big(CKM.CKM_SHA_1),
                mgf: big(CKG_MGF.CKG_MGF1_SHA1),
                source: big(CKZ.CKZ_DATA_SPECIFIED),
                pSourceData: hex(pat(3, 8)),
                ulSourceDataLen: 3n,
              },
            },
          }),
        ),
        ul('hWrappingKey', 0x27),
        ul('hKey', 0x28),
        outBytes('pWrappedKey', true, false, 0),
      ]),
  },
  rsa_aes_key_wrap_null_oaep: {
    fn: 'C_WrapKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(CKM.CKM_RSA_AES_KEY_WRAP, structParam('CK_RSA_AES_KEY_WRAP_PARAMS', SIZES.CK_RSA_AES_KEY_WRAP_PARAMS ?? 0, { ulAESKeyBits: 128n, pOAEPParams: null })),
        ul('hWrappingKey', 0x27),
        ul('hKey', 0x28),
        outBytes('pWrappedKey', true, true, 512),
      ]),
  },
  ecdh1_derive: {
    fn: 'C_DeriveKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_ECDH1_DERIVE,
          structParam('CK_ECDH1_DERIVE_PARAMS', SIZES.CK_ECDH1_DERIVE_PARAMS ?? 0, {
            kdf: big(CKD.CKD_SHA256_KDF),
            ulSharedDataLen: 7n,
            pSharedData: hex(pat(7, 9)),
            ulPublicDataLen: 65n,
            pPublicData: hex(pat(65, 10)),
          }),
        ),
        ul('hBaseKey', 0x29),
        template('pTemplate', deriveTemplate(4)),
        outUlong('phKey'),
      ]),
  },
  hkdf: {
    fn: 'C_DeriveKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_HKDF_DERIVE,
          structParam('CK_HKDF_PARAMS', SIZES.CK_HKDF_PARAMS ?? 0, {
            bExtract: true,
            bExpand: true,
            prfHashMechanism: big(CKM.CKM_SHA256),
            ulSaltType: big(CKF_HKDF.CKF_HKDF_SALT_DATA),
            pSalt: hex(pat(32, 11)),
            ulSaltLen: 32n,
            hSaltKey: 0n,
            pInfo: hex(pat(10, 12)),
            ulInfoLen: 10n,
          }),
        ),
        ul('hBaseKey', 0x2a),
        template('pTemplate', deriveTemplate(1)),
        outUlong('phKey'),
      ]),
  },
  pbkdf2: {
    fn: 'C_GenerateKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_PKCS5_PBKD2,
          structParam('CK_PKCS5_PBKD2_PARAMS2', SIZES.CK_PKCS5_PBKD2_PARAMS2 ?? 0, {
            saltSource: big(CKZ.CKZ_SALT_SPECIFIED),
            pSaltSourceData: hex(pat(16, 13)),
            ulSaltSourceDataLen: 16n,
            iterations: 600000n,
            prf: big(CKP_PBKD2.CKP_PKCS5_PBKD2_HMAC_SHA256),
            pPrfData: null,
            ulPrfDataLen: 0n,
            pPassword: hex(ascii('hunter2')),
            ulPasswordLen: 7n,
          }),
        ),
        template('pTemplate', deriveTemplate(2)),
        outUlong('phKey'),
      ]),
  },
  eddsa: {
    fn: 'C_SignInit',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(CKM.CKM_EDDSA, structParam('CK_EDDSA_PARAMS', SIZES.CK_EDDSA_PARAMS ?? 0, { phFlag: true, ulContextDataLen: 5n, pContextData: hex(ascii('ctx01')) })),
        ul('hKey', 0x2b),
      ]),
  },
  key_derivation_string: {
    fn: 'C_DeriveKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_CONCATENATE_DATA_AND_BASE,
          structParam('CK_KEY_DERIVATION_STRING_DATA', SIZES.CK_KEY_DERIVATION_STRING_DATA ?? 0, { pData: hex(pat(24, 14)), ulLen: 24n }),
        ),
        ul('hBaseKey', 0x2c),
        template('pTemplate', null),
        outUlong('phKey'),
      ]),
  },
  aes_cbc_encrypt_data: {
    fn: 'C_DeriveKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_AES_CBC_ENCRYPT_DATA,
          structParam('CK_AES_CBC_ENCRYPT_DATA_PARAMS', SIZES.CK_AES_CBC_ENCRYPT_DATA_PARAMS ?? 0, { iv: hex(pat(16, 15)), pData: hex(pat(32, 16)), length: 32n }),
        ),
        ul('hBaseKey', 0x2d),
        template('pTemplate', deriveTemplate(3)),
        outUlong('phKey'),
      ]),
  },
  mac_general: {
    fn: 'C_SignInit',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(CKM.CKM_SHA256_HMAC_GENERAL, structParam('CK_MAC_GENERAL_PARAMS', SIZES.CK_MAC_GENERAL_PARAMS ?? 0, { ulLength: 16n })),
        ul('hKey', 0x2e),
      ]),
  },
  // The runtime clamps values above 2^53 (docs/ARCHITECTURE.md); see CLAMPED.
  ulong_above_2_53: {
    fn: 'C_SignInit',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(CKM.CKM_SHA256_HMAC_GENERAL, structParam('CK_MAC_GENERAL_PARAMS', SIZES.CK_MAC_GENERAL_PARAMS ?? 0, { ulLength: (1n << big(8 * ULONG)) - 1n })),
        ul('hKey', ULONG >= 8 ? (1n << 53n) + 1n : (1n << big(8 * ULONG)) - 1n),
      ]),
  },
  raw_iv: {
    fn: 'C_EncryptInit',
    args: () => Object.fromEntries([ul('hSession', 0x11), mech(CKM.CKM_AES_CBC, { kind: ValueKind.Raw, length: 16n, bytes: hex(pat(16, 17)) }), ul('hKey', 0x2f)]),
  },
  null_param: {
    fn: 'C_DigestInit',
    args: () => Object.fromEntries([ul('hSession', 0x11), mech(CKM.CKM_SHA256, { kind: ValueKind.Null, length: 0n })]),
  },
  null_param_struct_mech: {
    fn: 'C_EncryptInit',
    args: () => Object.fromEntries([ul('hSession', 0x11), mech(CKM.CKM_AES_GCM, { kind: ValueKind.Null, length: big(SIZES.CK_GCM_PARAMS ?? 0) }), ul('hKey', 0x30)]),
  },
  wrong_size_gcm_240: {
    fn: 'C_EncryptInit',
    args: () => Object.fromEntries([ul('hSession', 0x11), mech(CKM.CKM_AES_GCM, { kind: ValueKind.Malformed, length: big(SIZES.CK_GCM_PARAMS_240 ?? 0) }), ul('hKey', 0x31)]),
  },
  wrong_size_mac_general: {
    fn: 'C_SignInit',
    args: () => Object.fromEntries([ul('hSession', 0x11), mech(CKM.CKM_SHA256_HMAC_GENERAL, { kind: ValueKind.Malformed, length: 4n }), ul('hKey', 0x32)]),
  },
  wrong_size_pss_long: {
    fn: 'C_SignInit',
    args: () => Object.fromEntries([ul('hSession', 0x11), mech(CKM.CKM_RSA_PKCS_PSS, { kind: ValueKind.Malformed, length: big(4 * ULONG) }), ul('hKey', 0x33)]),
  },
  create_object: {
    fn: 'C_CreateObject',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        template('pTemplate', [
          aUlong(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
          aUlong(CKA.CKA_KEY_TYPE, CKK.CKK_AES),
          aRaw(CKA.CKA_TOKEN, Uint8Array.of(1)),
          aRaw(CKA.CKA_LABEL, ascii('crosscheck')),
          aRaw(CKA.CKA_VALUE, pat(32, 18)),
          aAttrs(CKA.CKA_WRAP_TEMPLATE, [
            aUlong(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            aRaw(CKA.CKA_EXTRACTABLE, Uint8Array.of(0)),
            aRaw(CKA.CKA_LABEL, ascii('inner')),
            aAttrs(CKA.CKA_DERIVE_TEMPLATE, [aMechs(CKA.CKA_ALLOWED_MECHANISMS, [CKM.CKM_AES_CTR])]),
          ]),
          aMechs(CKA.CKA_ALLOWED_MECHANISMS, [CKM.CKM_AES_GCM, CKM.CKM_AES_CBC_PAD, CKM.CKM_AES_KEY_WRAP]),
          aOnly(CKA.CKA_ID, ValueKind.Null, 0),
          aOnly(CKA.CKA_START_DATE, ValueKind.Null, 8),
          aOnly(CKA.CKA_VALUE_LEN, ValueKind.Malformed, 4),
          aUlong(CKA.CKA_CERTIFICATE_CATEGORY, CKO.CKO_VENDOR_DEFINED + 0x1234),
          aRaw(CKA.CKA_SUBJECT, new Uint8Array(0)),
        ]),
        outUlong('phObject'),
      ]),
  },
  create_object_malformed: {
    fn: 'C_CreateObject',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        template('pTemplate', [
          aOnly(CKA.CKA_WRAP_TEMPLATE, ValueKind.Malformed, ATTRIBUTE + 1),
          aOnly(CKA.CKA_ALLOWED_MECHANISMS, ValueKind.Malformed, ULONG + 4),
          aOnly(CKA.CKA_CLASS, ValueKind.Malformed, ULONG + 1),
          aMechs(CKA.CKA_ALLOWED_MECHANISMS, []),
        ]),
        outUlong('phObject'),
      ]),
  },
  get_attribute_value: {
    fn: 'C_GetAttributeValue',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        ul('hObject', 0x99),
        [
          'pTemplate',
          {
            kind: 'get_template',
            template: {
              present: true,
              count: 8n,
              slots: [
                slot(CKA.CKA_CLASS, ValueKind.Ulong, true, ULONG),
                slot(CKA.CKA_LABEL, ValueKind.Raw, false, 0),
                slot(CKA.CKA_VALUE, ValueKind.Raw, true, 32),
                slot(CKA.CKA_ALLOWED_MECHANISMS, ValueKind.Mechs, false, 0),
                slot(CKA.CKA_UNWRAP_TEMPLATE, ValueKind.Attrs, true, 2 * ATTRIBUTE, [
                  slot(CKA.CKA_CLASS, ValueKind.Ulong, true, ULONG),
                  slot(CKA.CKA_LABEL, ValueKind.Raw, false, 0),
                ]),
                slot(CKA.CKA_WRAP_TEMPLATE, ValueKind.Attrs, false, 0),
                slot(CKA.CKA_DERIVE_TEMPLATE, ValueKind.Malformed, true, ATTRIBUTE + 1),
                slot(CKA.CKA_SENSITIVE, ValueKind.Raw, true, 1),
              ],
            },
          },
        ],
      ]),
  },
  message_encrypt_init: {
    fn: 'C_MessageEncryptInit',
    args: () => Object.fromEntries([ul('hSession', 0x44), mech(CKM.CKM_AES_GCM, { kind: ValueKind.Null, length: 0n }), ul('hKey', 0x55)]),
  },
  encrypt_message: {
    fn: 'C_EncryptMessage',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x44),
        [
          'pParameter',
          {
            kind: 'msg_param',
            param: structParam('CK_GCM_MESSAGE_PARAMS', SIZES.CK_GCM_MESSAGE_PARAMS ?? 0, {
              pIv: hex(pat(12, 19)),
              ulIvLen: 12n,
              ulIvFixedBits: 32n,
              ivGenerator: big(CKG_IV.CKG_GENERATE_COUNTER),
              pTag: '00'.repeat(16),
              ulTagBits: 128n,
            }),
          },
        ],
        inBytes('pAssociatedData', pat(8, 20)),
        inBytes('pPlaintext', pat(20, 21)),
        outBytes('pCiphertext', true, false, 0),
      ]),
  },
  message_encrypt_init_ccm: {
    fn: 'C_MessageEncryptInit',
    args: () => Object.fromEntries([ul('hSession', 0x45), mech(CKM.CKM_AES_CCM, { kind: ValueKind.Null, length: 0n }), ul('hKey', 0x56)]),
  },
  encrypt_message_ccm: {
    fn: 'C_EncryptMessage',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x45),
        [
          'pParameter',
          {
            kind: 'msg_param',
            param: structParam('CK_CCM_MESSAGE_PARAMS', SIZES.CK_CCM_MESSAGE_PARAMS ?? 0, {
              ulDataLen: 20n,
              pNonce: hex(pat(13, 22)),
              ulNonceLen: 13n,
              ulNonceFixedBits: 0n,
              nonceGenerator: 0n,
              pMAC: '00'.repeat(16),
              ulMACLen: 16n,
            }),
          },
        ],
        inBytes('pAssociatedData', pat(8, 20)),
        inBytes('pPlaintext', pat(20, 21)),
        outBytes('pCiphertext', true, true, 36),
      ]),
  },
  // Without a recorded C_MessageEncryptInit the shim cannot know the structure: raw bytes (checked by length only: they hold pointers).
  encrypt_message_unrecorded: {
    fn: 'C_EncryptMessage',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x46),
        ['pParameter', { kind: 'msg_param', param: { kind: ValueKind.Raw, length: big(SIZES.CK_GCM_MESSAGE_PARAMS ?? 0), bytes: `<${SIZES.CK_GCM_MESSAGE_PARAMS} bytes>` } }],
        inBytes('pAssociatedData', null),
        inBytes('pPlaintext', pat(20, 21)),
        outBytes('pCiphertext', true, false, 36),
      ]),
  },
  sp800_counter: {
    fn: 'C_DeriveKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_SP800_108_COUNTER_KDF,
          structParam('CK_SP800_108_KDF_PARAMS', SIZES.CK_SP800_108_KDF_PARAMS ?? 0, {
            prfType: big(CKM.CKM_SHA256_HMAC),
            ulNumberOfDataParams: 6n,
            pDataParams: structArray([
              prfData(CK_SP800_108_PRF_DATA.CK_SP800_108_ITERATION_VARIABLE, structParam('CK_SP800_108_COUNTER_FORMAT', SIZES.CK_SP800_108_COUNTER_FORMAT ?? 0, { bLittleEndian: true, ulWidthInBits: 24n })),
              prfData(CK_SP800_108_PRF_DATA.CK_SP800_108_BYTE_ARRAY, { kind: ValueKind.Raw, length: 5n, bytes: hex(pat(5, 23)) }),
              prfData(
                CK_SP800_108_PRF_DATA.CK_SP800_108_DKM_LENGTH,
                structParam('CK_SP800_108_DKM_LENGTH_FORMAT', SIZES.CK_SP800_108_DKM_LENGTH_FORMAT ?? 0, {
                  dkmLengthMethod: big(CK_SP800_108_DKM.CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS),
                  bLittleEndian: false,
                  ulWidthInBits: 16n,
                }),
              ),
              // No structure is declared for a key handle: the CK_OBJECT_HANDLE's bytes arrive raw.
              prfData(CK_SP800_108_PRF_DATA.CK_SP800_108_KEY_HANDLE, { kind: ValueKind.Raw, length: big(ULONG), bytes: ulongHex(0x35n) }),
              prfData(CK_SP800_108_PRF_DATA.CK_SP800_108_COUNTER, { kind: ValueKind.Null, length: 0n }),
              prfData(CK_SP800_108_PRF_DATA.CK_SP800_108_DKM_LENGTH, { kind: ValueKind.Malformed, length: big(SIZES.CK_SP800_108_COUNTER_FORMAT ?? 0) }),
            ]),
            ulAdditionalDerivedKeys: 3n,
            pAdditionalDerivedKeys: structArray([derivedKey(deriveTemplate(3), true), derivedKey(null, true), derivedKey(deriveTemplate(1), false)]),
          }),
        ),
        ul('hBaseKey', 0x34),
        template('pTemplate', deriveTemplate(2)),
        outUlong('phKey'),
      ]),
  },
  sp800_feedback: {
    fn: 'C_DeriveKey',
    args: () =>
      Object.fromEntries([
        ul('hSession', 0x11),
        mech(
          CKM.CKM_SP800_108_FEEDBACK_KDF,
          structParam('CK_SP800_108_FEEDBACK_KDF_PARAMS', SIZES.CK_SP800_108_FEEDBACK_KDF_PARAMS ?? 0, {
            prfType: big(CKM.CKM_AES_CMAC),
            ulNumberOfDataParams: 2n,
            pDataParams: { form: 'struct_array', present: false, count: 2n, elements: [] },
            ulIVLen: 16n,
            pIV: hex(pat(16, 24)),
            ulAdditionalDerivedKeys: 0n,
            pAdditionalDerivedKeys: { form: 'struct_array', present: false, count: 0n, elements: [] },
          }),
        ),
        ul('hBaseKey', 0x36),
        template('pTemplate', null),
        outUlong('phKey'),
      ]),
  },
  // The shim refuses to encode it (CKR_ARGUMENTS_BAD): no frame; see ENCODE_REFUSED.
  sp800_array_too_large: { fn: 'C_DeriveKey', args: () => ({}) },
};

/** Cases the shim must refuse to encode: it sends nothing and the caller gets CKR_ARGUMENTS_BAD. */
const ENCODE_REFUSED = new Set(['sp800_array_too_large']);

/** Cases whose values the TS decoder cannot represent exactly (reported; expected to fail). */
/** Values above 2^53 arrive clamped (docs/ARCHITECTURE.md, "Wire protocol"); checked by its own test below. */
const CLAMPED = new Set(['ulong_above_2_53']);

// ------------------------------------------------------------------- build

beforeAll(() => {
  mkdirSync(BUILD, { recursive: true });
  const tmp = `${BINARY}.${process.pid}.tmp`;
  execFileSync(process.env.CC ?? 'cc', ['-std=c11', '-g', '-O1', '-Wall', '-Wextra', '-Wno-unused-parameter', '-I', join(ROOT, 'shim'), '-o', tmp, ...SOURCES], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  renameSync(tmp, BINARY);
  const abi = JSON.parse(run('abi').toString()) as Record<string, number>;
  ULONG = abi.ulong ?? 8;
  ATTRIBUTE = abi.attribute ?? 24;
  SIZES = abi;
}, 120_000);

// ------------------------------------------------- C encode -> TS decodeArgs

describe('wire crosscheck: shim requests decoded by the runtime', () => {
  let records: Record_[] = [];
  beforeAll(() => {
    records = parseRecords(run('encode'));
  });

  it('the C side sent one frame per case, in order, with increasing request ids', () => {
    const names = Object.keys(ENCODE_CASES);
    expect(records.map((r) => r.name)).toEqual(names);
    const sent = records.filter((r) => !ENCODE_REFUSED.has(r.name));
    expect(sent.map((r) => parseHeader(r.frame).requestId)).toEqual(sent.map((r) => names.indexOf(r.name) + 1));
  });

  it.each([...ENCODE_REFUSED])('%s: the shim refuses to encode it', (name) => {
    expect(records.find((r) => r.name === name)?.frame.length).toBe(0);
  });

  const check = (name: string): void => {
    const record = records.find((r) => r.name === name);
    expect(record, `no frame for ${name}`).toBeDefined();
    expect(record?.frame.length, `${name}: the C side could not encode it`).toBeGreaterThan(HEADER_SIZE - 1);
    const want = ENCODE_CASES[name];
    if (!record || !want) return;
    const got = decodeRequest(record.frame);
    expect(got.fn).toBe(want.fn);
    if (name === 'encrypt_message_unrecorded') {
      const p = (got.args.pParameter as { param: { bytes: string } }).param;
      expect(p.bytes.length / 2).toBe(SIZES.CK_GCM_MESSAGE_PARAMS);
      p.bytes = `<${SIZES.CK_GCM_MESSAGE_PARAMS} bytes>`;
    }
    expect(got.args).toEqual(want.args());
  };
  const names = Object.keys(ENCODE_CASES);
  it.each(names.filter((n) => !CLAMPED.has(n) && !ENCODE_REFUSED.has(n)))('%s: every field decodes to what C put in', check);
  it('ulong_above_2_53: the runtime sees a clamped value, never a wrapped or truncated one', () => {
    const got = decodeRequest(records.find((r) => r.name === 'ulong_above_2_53')?.frame ?? new Uint8Array()).args;
    expect(got.hKey).toEqual({ kind: 'ulong', value: big(Number.MAX_SAFE_INTEGER) });
    expect(got.pMechanism).toMatchObject({ mechanism: { param: { value: { fields: { ulLength: big(Number.MAX_SAFE_INTEGER) } } } } });
  });
});

// -------------------------------------- TS encodeReplyPayload -> C decode

interface DecodeCase {
  /** The function the C side calls (checked against the request). */
  readonly fn: string;
  readonly rv?: number;
  /** The out-values of the reply, given the request as the runtime decoded it. */
  readonly outs?: (request: ReadonlyMap<string, ArgValue>) => Record<string, OutValue>;
  /** What the C side must report, key by key (only these keys are compared). */
  readonly expect: () => Record<string, string | boolean>;
}

const DEVICE_ERROR = String(CKR.CKR_DEVICE_ERROR);
const gcmMsg = (f: string) => fieldIndex('CK_GCM_MESSAGE_PARAMS', f);
const bytesOut = (data: Uint8Array): OutValue => ({ kind: 'out_bytes', action: Action.Data, length: data.length, data });
const lengthOut = (length: number): OutValue => ({ kind: 'out_bytes', action: Action.Length, length });
const writebacks = (...writes: [number, Uint8Array][]): OutValue => ({ kind: 'writebacks', writes: writes.map(([field, data]) => ({ field, data })) });
const slots = (...s: SlotReply[]): OutValue => ({ kind: 'get_template', slots: s });
const attrNull = (prefix: string, type: number, len: number | string): Record<string, string> => ({
  [`${prefix}.type`]: String(type),
  [`${prefix}.len`]: String(len),
  [`${prefix}.pValue`]: 'null',
});
const attrSame = (prefix: string, type: number, len: number | string): Record<string, string> => ({
  [`${prefix}.type`]: String(type),
  [`${prefix}.len`]: String(len),
  [`${prefix}.pValue`]: 'same',
});

/** The write-back index of additional key `i`'s `field` in a decoded CKM_SP800_108_COUNTER_KDF request, as the runtime computes it. */
function derivedKeyIndex(request: ReadonlyMap<string, ArgValue>, i: number, field = 'phKey'): number {
  const m = request.get('pMechanism');
  const root = m?.kind === 'mechanism' ? m.mechanism?.param.value : undefined;
  const key = (root?.fields.pAdditionalDerivedKeys as StructArray | undefined)?.elements[i];
  if (!root || !key) throw new Error('not an SP800-108 request');
  return writebackIndex(root, key, field);
}
const handleOut = (value: number): OutValue => ({ kind: 'out_ulong', value });
const sp800Untouched = (): Record<string, string | boolean> => ({
  rv: DEVICE_ERROR,
  h0: fill(ULONG),
  h1: fill(ULONG),
  h2: fill(ULONG),
  'h0.canary': true,
  'h1.canary': true,
  'h2.canary': true,
  unchanged: true,
});

const DECODE_CASES: Record<string, DecodeCase> = {
  msg_init_gcm: { fn: 'C_MessageEncryptInit', expect: () => ({ rv: '0' }) },
  msg_gcm_writeback: {
    fn: 'C_EncryptMessage',
    outs: () => ({ pParameter: writebacks([gcmMsg('pIv'), pat(12, 0x31)], [gcmMsg('pTag'), pat(16, 0x41)]), pCiphertext: bytesOut(pat(20, 0x51)) }),
    expect: () => ({
      rv: '0',
      iv: hex(pat(12, 0x31)),
      'iv.canary': true,
      tag: hex(pat(16, 0x41)),
      'tag.canary': true,
      ct: hex(pat(20, 0x51)) + fill(12),
      'ct.canary': true,
      ctLen: '20',
      pIvSame: true,
      pTagSame: true,
      ulIvLen: '12',
      ulTagBits: '128',
    }),
  },
  msg_gcm_tag96: {
    fn: 'C_EncryptMessage',
    outs: () => ({ pParameter: writebacks([gcmMsg('pIv'), pat(12, 0x32)], [gcmMsg('pTag'), pat(12, 0x42)]), pCiphertext: bytesOut(pat(20, 0x52)) }),
    expect: () => ({
      rv: '0',
      iv: hex(pat(12, 0x32)),
      'iv.canary': true,
      tag: hex(pat(12, 0x42)),
      'tag.canary': true,
      ct: hex(pat(20, 0x52)) + fill(12),
      'ct.canary': true,
      ctLen: '20',
    }),
  },
  init_gcm_writeback: {
    fn: 'C_EncryptInit',
    outs: () => ({ pMechanism: writebacks([fieldIndex('CK_GCM_PARAMS', 'pIv'), pat(12, 0x61)]) }),
    expect: () => ({ rv: '0', iv: hex(pat(12, 0x61)), 'iv.canary': true }),
  },
  encrypt_length_only: { fn: 'C_Encrypt', outs: () => ({ pEncryptedData: lengthOut(36) }), expect: () => ({ rv: '0', len: '36' }) },
  encrypt_data: {
    fn: 'C_Encrypt',
    outs: () => ({ pEncryptedData: bytesOut(pat(20, 0x71)) }),
    expect: () => ({ rv: '0', ct: hex(pat(20, 0x71)) + fill(12), 'ct.canary': true, len: '20' }),
  },
  encrypt_too_small: {
    fn: 'C_Encrypt',
    rv: CKR.CKR_BUFFER_TOO_SMALL,
    outs: () => ({ pEncryptedData: lengthOut(48) }),
    expect: () => ({ rv: String(CKR.CKR_BUFFER_TOO_SMALL), ct: fill(16), 'ct.canary': true, len: '48' }),
  },
  get_attrs_sizes: {
    fn: 'C_GetAttributeValue',
    rv: CKR.CKR_ATTRIBUTE_SENSITIVE,
    outs: () => slotsOut(slots({ length: ULONG }, { length: 10 }, { length: 3 * ULONG }, { length: 3 * ATTRIBUTE }, { length: -1 })),
    expect: () => ({
      rv: String(CKR.CKR_ATTRIBUTE_SENSITIVE),
      ...attrNull('t0', CKA.CKA_CLASS, ULONG),
      ...attrNull('t1', CKA.CKA_LABEL, 10),
      ...attrNull('t2', CKA.CKA_ALLOWED_MECHANISMS, 3 * ULONG),
      ...attrNull('t3', CKA.CKA_UNWRAP_TEMPLATE, 3 * ATTRIBUTE),
      ...attrNull('t4', CKA.CKA_PRIVATE_EXPONENT, ALL_ONES()),
    }),
  },
  get_attrs_values: {
    fn: 'C_GetAttributeValue',
    outs: () =>
      slotsOut(
        slots(
          { length: ULONG, value: CKO.CKO_SECRET_KEY },
          { length: 10, value: ascii('crosscheck') },
          { length: 3 * ULONG, value: [CKM.CKM_AES_GCM, CKM.CKM_AES_CBC_PAD, CKM.CKM_AES_KEY_WRAP] },
          {
            length: 3 * ATTRIBUTE,
            value: [
              { type: CKA.CKA_CLASS, length: ULONG },
              { type: CKA.CKA_ENCRYPT, length: 1 },
              { type: CKA.CKA_LABEL, length: 5 },
            ],
          },
          { length: 1, value: Uint8Array.of(1) },
          { length: 32 },
        ),
      ),
    expect: () => ({
      rv: '0',
      ...attrSame('t0', CKA.CKA_CLASS, ULONG),
      't0.value': String(CKO.CKO_SECRET_KEY),
      't0.bytes': ulongHex(big(CKO.CKO_SECRET_KEY)),
      't0.bytes.canary': true,
      ...attrSame('t1', CKA.CKA_LABEL, 10),
      't1.bytes': hex(ascii('crosscheck')) + fill(6),
      't1.bytes.canary': true,
      ...attrSame('t2', CKA.CKA_ALLOWED_MECHANISMS, 3 * ULONG),
      't2.value0': String(CKM.CKM_AES_GCM),
      't2.value1': String(CKM.CKM_AES_CBC_PAD),
      't2.value2': String(CKM.CKM_AES_KEY_WRAP),
      't2.value3': CC_ULONG(),
      't2.bytes.canary': true,
      ...attrSame('t3', CKA.CKA_UNWRAP_TEMPLATE, 3 * ATTRIBUTE),
      ...attrNull('t3.inner0', CKA.CKA_CLASS, ULONG),
      ...attrNull('t3.inner1', CKA.CKA_ENCRYPT, 1),
      ...attrNull('t3.inner2', CKA.CKA_LABEL, 5),
      't3.inner.canary': true,
      ...attrSame('t4', CKA.CKA_SENSITIVE, 1),
      't4.bytes': '01',
      't4.bytes.canary': true,
      ...attrNull('t5', CKA.CKA_VALUE, 32),
    }),
  },
  get_attrs_nested_values: {
    fn: 'C_GetAttributeValue',
    outs: () =>
      slotsOut(
        slots({
          length: 5 * ATTRIBUTE,
          value: [
            { type: CKA.CKA_CLASS, length: ULONG, value: CKO.CKO_SECRET_KEY },
            { type: CKA.CKA_ENCRYPT, length: 1, value: Uint8Array.of(1) },
            { type: CKA.CKA_LABEL, length: 5, value: ascii('inner') },
            { type: CKA.CKA_ALLOWED_MECHANISMS, length: ULONG, value: [CKM.CKM_AES_GCM] },
            { type: CKA.CKA_VALUE, length: -1 },
          ],
        }),
      ),
    expect: () => ({
      rv: '0',
      ...attrSame('t0', CKA.CKA_UNWRAP_TEMPLATE, 5 * ATTRIBUTE),
      ...attrSame('i0', CKA.CKA_CLASS, ULONG),
      'i0.value': String(CKO.CKO_SECRET_KEY),
      'i0.bytes': ulongHex(big(CKO.CKO_SECRET_KEY)),
      'i0.bytes.canary': true,
      ...attrSame('i1', CKA.CKA_ENCRYPT, 1),
      'i1.bytes': '01',
      'i1.bytes.canary': true,
      ...attrSame('i2', CKA.CKA_LABEL, 5),
      'i2.bytes': hex(ascii('inner')) + fill(3),
      'i2.bytes.canary': true,
      ...attrSame('i3', CKA.CKA_ALLOWED_MECHANISMS, ULONG),
      'i3.value0': String(CKM.CKM_AES_GCM),
      'i3.bytes': ulongHex(big(CKM.CKM_AES_GCM)) + fill(ULONG),
      'i3.bytes.canary': true,
      ...attrNull('i4', CKA.CKA_VALUE, ALL_ONES()),
      'inner.canary': true,
    }),
  },
  // ---- replies the shim must refuse
  reject_out_bytes_overflow: {
    fn: 'C_Encrypt',
    outs: () => ({ pEncryptedData: bytesOut(pat(17, 0x72)) }),
    expect: () => ({ rv: DEVICE_ERROR, ct: fill(16), 'ct.canary': true, len: '16' }),
  },
  reject_out_bytes_null_buffer: {
    fn: 'C_Encrypt',
    outs: () => ({ pEncryptedData: bytesOut(pat(4, 0x73)) }),
    expect: () => ({ rv: DEVICE_ERROR, len: '0' }),
  },
  reject_writeback_overflow: {
    fn: 'C_EncryptMessage',
    outs: () => ({ pParameter: writebacks([gcmMsg('pTag'), pat(16, 0x43)]) }),
    expect: () => ({ rv: DEVICE_ERROR, iv: fill(12), tag: fill(12), 'iv.canary': true, 'tag.canary': true, ctLen: '0' }),
  },
  reject_writeback_not_inout: {
    fn: 'C_EncryptMessage',
    outs: () => ({ pParameter: writebacks([gcmMsg('ulIvLen'), pat(ULONG, 0x44)]) }),
    expect: () => ({ rv: DEVICE_ERROR, iv: fill(12), tag: fill(16), 'iv.canary': true, 'tag.canary': true, ulIvLen: '12', ctLen: '0' }),
  },
  reject_writeback_bad_index: {
    fn: 'C_EncryptMessage',
    outs: () => ({ pParameter: writebacks([9, pat(4, 0x45)]) }),
    expect: () => ({ rv: DEVICE_ERROR, iv: fill(12), tag: fill(16), 'iv.canary': true, 'tag.canary': true }),
  },
  reject_slot_raw_overflow: {
    fn: 'C_GetAttributeValue',
    outs: () => slotsOut(slots({ length: 5, value: ascii('toolong'.slice(0, 5)) })),
    expect: () => ({ rv: DEVICE_ERROR, ...attrSame('t0', CKA.CKA_LABEL, 4), 't0.bytes': fill(4), 't0.bytes.canary': true }),
  },
  reject_slot_ulong_small: {
    fn: 'C_GetAttributeValue',
    outs: () => slotsOut(slots({ length: ULONG, value: CKO.CKO_SECRET_KEY })),
    expect: () => ({ rv: DEVICE_ERROR, ...attrSame('t0', CKA.CKA_CLASS, 4), 't0.bytes': fill(4), 't0.bytes.canary': true }),
  },
  reject_slot_mechs_overflow: {
    fn: 'C_GetAttributeValue',
    outs: () => slotsOut(slots({ length: 2 * ULONG, value: [CKM.CKM_AES_GCM, CKM.CKM_AES_CTR] })),
    expect: () => ({ rv: DEVICE_ERROR, ...attrSame('t0', CKA.CKA_ALLOWED_MECHANISMS, ULONG), 't0.bytes': fill(ULONG), 't0.bytes.canary': true }),
  },
  reject_slot_value_into_null: {
    fn: 'C_GetAttributeValue',
    outs: () => slotsOut(slots({ length: 5, value: ascii('label') })),
    expect: () => ({ rv: DEVICE_ERROR, ...attrNull('t0', CKA.CKA_LABEL, 0) }),
  },
  reject_nested_type_mismatch: {
    fn: 'C_GetAttributeValue',
    outs: () => slotsOut(slots({ length: ATTRIBUTE, value: [{ type: CKA.CKA_VALUE, length: 4, value: pat(4, 0x46) }] })),
    expect: () => ({
      rv: DEVICE_ERROR,
      ...attrSame('t0', CKA.CKA_UNWRAP_TEMPLATE, ATTRIBUTE),
      ...attrSame('i0', CKA.CKA_LABEL, 8),
      'i0.bytes': fill(8),
      'i0.bytes.canary': true,
      'inner.canary': true,
    }),
  },
  reject_nested_value_into_null: {
    fn: 'C_GetAttributeValue',
    outs: () => slotsOut(slots({ length: ATTRIBUTE, value: [{ type: CKA.CKA_VALUE, length: 4, value: pat(4, 0x47) }] })),
    expect: () => ({ rv: DEVICE_ERROR, ...attrSame('t0', CKA.CKA_UNWRAP_TEMPLATE, ATTRIBUTE), ...attrNull('i0', CKA.CKA_LABEL, 0), 'inner.canary': true }),
  },
  reject_nested_count_overflow: {
    fn: 'C_GetAttributeValue',
    outs: () =>
      slotsOut(
        slots({
          length: 2 * ATTRIBUTE,
          value: [
            { type: CKA.CKA_LABEL, length: 5 },
            { type: CKA.CKA_VALUE, length: 4 },
          ],
        }),
      ),
    expect: () => ({ rv: DEVICE_ERROR, ...attrSame('t0', CKA.CKA_UNWRAP_TEMPLATE, ATTRIBUTE), ...attrNull('i0', CKA.CKA_LABEL, 0), 'inner.canary': true }),
  },
  reject_partial_slots: {
    fn: 'C_GetAttributeValue',
    outs: () => slotsOut(slots({ length: ULONG, value: CKO.CKO_SECRET_KEY }, { length: 5, value: ascii('label') })),
    expect: () => ({
      rv: DEVICE_ERROR,
      ...attrSame('t0', CKA.CKA_CLASS, ULONG),
      't0.bytes': fill(ULONG),
      't0.bytes.canary': true,
      ...attrSame('t1', CKA.CKA_LABEL, 4),
      't1.bytes': fill(4),
      't1.bytes.canary': true,
    }),
  },
  reject_partial_writeback_then_out: {
    fn: 'C_EncryptMessage',
    outs: () => ({ pParameter: writebacks([gcmMsg('pIv'), pat(12, 0x33)]), pCiphertext: bytesOut(pat(17, 0x53)) }),
    expect: () => ({ rv: DEVICE_ERROR, iv: fill(12), tag: fill(16), ct: fill(16), 'iv.canary': true, 'tag.canary': true, 'ct.canary': true, ctLen: '16' }),
  },
  sp800_handles: {
    fn: 'C_DeriveKey',
    outs: (r) => ({
      pMechanism: writebacks([derivedKeyIndex(r, 0), outUlongData(0x1111)], [derivedKeyIndex(r, 1), outUlongData(0x2222)]),
      phKey: handleOut(0x1000),
    }),
    expect: () => ({
      rv: '0',
      h0: ulongHex(0x1000n),
      h1: ulongHex(0x1111n),
      h2: ulongHex(0x2222n),
      'h0.canary': true,
      'h1.canary': true,
      'h2.canary': true,
      unchanged: true,
    }),
  },
  reject_handle_short: { fn: 'C_DeriveKey', outs: (r) => ({ pMechanism: writebacks([derivedKeyIndex(r, 0), pat(4, 0x48)]), phKey: handleOut(0x1000) }), expect: sp800Untouched },
  reject_handle_into_null: { fn: 'C_DeriveKey', outs: (r) => ({ pMechanism: writebacks([derivedKeyIndex(r, 1), outUlongData(0x2222)]), phKey: handleOut(0x1000) }), expect: sp800Untouched },
  reject_handle_not_inout: {
    fn: 'C_DeriveKey',
    outs: (r) => ({ pMechanism: writebacks([derivedKeyIndex(r, 0, 'ulAttributeCount'), outUlongData(1)]), phKey: handleOut(0x1000) }),
    expect: sp800Untouched,
  },
  reject_handle_then_bad_index: {
    fn: 'C_DeriveKey',
    outs: (r) => ({ pMechanism: writebacks([derivedKeyIndex(r, 0), outUlongData(0x1111)], [9999, outUlongData(0x2222)]), phKey: handleOut(0x1000) }),
    expect: sp800Untouched,
  },
};

function slotsOut(v: OutValue): Record<string, OutValue> {
  return { pTemplate: v };
}

/**
 * Reported disagreements: the C side writes into caller memory on a reply it
 * then rejects. These tests assert the brief's "rejected, nothing written" and
 * are expected to fail until shim/marshal.c is fixed (then drop them from here).
 */


describe('wire crosscheck: runtime replies written into caller memory by the shim', () => {
  let requests: Record_[] = [];
  let results = new Map<string, Record<string, string | boolean>>();

  beforeAll(() => {
    requests = parseRecords(run('decode-requests'));
    const replies: Buffer[] = [];
    for (const { name, frame } of requests) {
      const c = DECODE_CASES[name];
      if (!c) throw new Error(`no decode case ${name}`);
      const header = parseHeader(frame);
      const fn = FUNCTIONS.find((f) => f.id === header.functionId);
      if (!fn) throw new Error(`unknown function ${header.functionId}`);
      const w = startReply(header);
      encodeReplyPayload(w, fn, c.rv ?? CKR.CKR_OK, new Map(Object.entries(c.outs?.(decodeArgs(fn, frame.subarray(HEADER_SIZE))) ?? {})));
      const reply = finishReply(w);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(reply.length);
      replies.push(len, Buffer.from(reply));
    }
    const out = run('decode', Buffer.concat(replies)).toString();
    // CROSSCHECK_DUMP=1: print each reply frame and what the C side reported (for bug reports).
    if (process.env.CROSSCHECK_DUMP) {
      for (let i = 0; i < requests.length; i++) process.stderr.write(`${requests[i]?.name} reply ${replies[2 * i + 1]?.toString('hex')}\n`);
      process.stderr.write(out);
    }
    results = new Map(
      out
        .trim()
        .split('\n')
        .map((line) => {
          const o = JSON.parse(line) as Record<string, string | boolean>;
          return [String(o.case), o];
        }),
    );
  });

  it('the C side sent one request per decode case, and each decodes', () => {
    expect(requests.map((r) => r.name)).toEqual(Object.keys(DECODE_CASES));
    for (const { name, frame } of requests) expect(decodeRequest(frame).fn, name).toBe(DECODE_CASES[name]?.fn);
  });

  it('the requests describe the caller memory the replies are sized for', () => {
    const req = (name: string) => decodeRequest(requests.find((r) => r.name === name)?.frame ?? new Uint8Array()).args;
    expect(req('msg_gcm_tag96').pParameter).toMatchObject({ param: { kind: ValueKind.Struct, value: { struct: 'CK_GCM_MESSAGE_PARAMS', fields: { ulTagBits: 96n, pTag: fill(12) } } } });
    expect(req('get_attrs_values').pTemplate).toMatchObject({
      template: {
        slots: [
          slot(CKA.CKA_CLASS, ValueKind.Ulong, true, ULONG),
          slot(CKA.CKA_LABEL, ValueKind.Raw, true, 16),
          slot(CKA.CKA_ALLOWED_MECHANISMS, ValueKind.Mechs, true, 4 * ULONG),
          slot(CKA.CKA_UNWRAP_TEMPLATE, ValueKind.Attrs, true, 3 * ATTRIBUTE, [0, 1, 2].map(() => slot(CKA.CKA_CLASS, ValueKind.Ulong, false, 0))),
          slot(CKA.CKA_SENSITIVE, ValueKind.Raw, true, 1),
          slot(CKA.CKA_VALUE, ValueKind.Raw, false, 0),
        ],
      },
    });
    expect(req('get_attrs_nested_values').pTemplate).toMatchObject({
      template: {
        slots: [
          slot(CKA.CKA_UNWRAP_TEMPLATE, ValueKind.Attrs, true, 5 * ATTRIBUTE, [
            slot(CKA.CKA_CLASS, ValueKind.Ulong, true, ULONG),
            slot(CKA.CKA_ENCRYPT, ValueKind.Raw, true, 1),
            slot(CKA.CKA_LABEL, ValueKind.Raw, true, 8),
            slot(CKA.CKA_ALLOWED_MECHANISMS, ValueKind.Mechs, true, 2 * ULONG),
            slot(CKA.CKA_VALUE, ValueKind.Raw, false, 0),
          ]),
        ],
      },
    });
  });

  it('every reply frame was consumed', () => {
    expect(results.get('replies_consumed')).toMatchObject({ left: '0' });
  });

  const names = Object.keys(DECODE_CASES);
  it.each(names)('%s', (name) => {
    const got = results.get(name);
    expect(got, `no result for ${name}`).toBeDefined();
    expect(got).toMatchObject(DECODE_CASES[name]?.expect() ?? {});
  });
});
