/**
 * NIST SP 800-108 key derivation (PKCS#11 3.0 "SP800-108 Key Derivation"):
 * CKM_SP800_108_COUNTER_KDF (SP 800-108 section 5.1) and
 * CKM_SP800_108_FEEDBACK_KDF (section 5.2), with HMAC (SHA-1, SHA-2, SHA-3) or
 * AES-CMAC as the PRF. The PRF input is the CK_PRF_DATA_PARAM array's fields
 * concatenated in order; the CK_DERIVED_KEY array makes further keys, each
 * from whole segments of PRF output after the previous key's.
 * CK_SP800_108_KEY_HANDLE (another key's value as PRF input) is not supported:
 * CKR_MECHANISM_PARAM_INVALID. The double-pipeline mode is not offered.
 */
import { CK_SP800_108_DKM, CK_SP800_108_PRF_DATA, CKF_MECH, CKK, CKM, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import { DIGEST_LENGTHS, type CryptoBackend } from '../backends/backend';
import type { MacSpec } from '../backends/symmetric';
import { ValueKind, outUlongData, writebackIndex, type StructValue, type WireParam } from '../wire/codec';
import { HMAC_KEY_TYPES, hmacOf } from './hmac';
import type { AdditionalKey, DerivedLengths, MechanismFamily, MechanismSpec, SecretDerivation } from './mechanism';
import {
  boolField,
  bytesField,
  checkOutUlongField,
  choiceField,
  structArrayField,
  structParam,
  templateField,
  ulongField,
  type Fields,
} from './params';

const MAX_KEY_BYTES = 4096;
const AES_KEY_BYTES = [16, 24, 32];

const invalid = (why: string): never => {
  throw new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, why);
};

type Mode = 'counter' | 'feedback';

/** The PRF a parameter's prfType names: the backend MAC for a key (throwing for a bad size), its output length, and the base key types it takes. */
interface Prf {
  readonly outputLength: number;
  readonly keyTypes: readonly number[];
  mac(key: Uint8Array): MacSpec;
}

function prfOf(prfType: number): Prf {
  if (prfType === CKM.CKM_AES_CMAC) {
    // "for an AES-CMAC PRF the base key must be of type CKK_AES and must be either 16-bytes, 24-bytes or 32-bytes".
    return {
      outputLength: 16,
      keyTypes: [CKK.CKK_AES],
      mac(key) {
        require(AES_KEY_BYTES.includes(key.length), CKR.CKR_KEY_SIZE_RANGE, 'AES-CMAC needs a 16-, 24- or 32-byte key');
        return { algorithm: 'cmac', key };
      },
    };
  }
  const hmac = hmacOf(prfType);
  if (!hmac) return invalid(`0x${prfType.toString(16)} is not a supported PRF`);
  return {
    outputLength: DIGEST_LENGTHS[hmac.digest],
    keyTypes: [CKK.CKK_GENERIC_SECRET, hmac.keyType],
    mac: (key) => ({ algorithm: 'hmac', digest: hmac.digest, key }),
  };
}

/** How an integer is written into the PRF input (CK_SP800_108_COUNTER_FORMAT, CK_SP800_108_DKM_LENGTH_FORMAT). */
interface IntegerFormat {
  readonly littleEndian: boolean;
  readonly widthInBits: number;
}

function integerFormat(f: Fields, what: string, maxBits: number): IntegerFormat {
  const widthInBits = ulongField(f, 'ulWidthInBits');
  require(widthInBits % 8 === 0 && widthInBits >= 8 && widthInBits <= maxBits, CKR.CKR_MECHANISM_PARAM_INVALID, `${what} width must be 8 to ${maxBits} bits, whole bytes`);
  return { littleEndian: boolField(f, 'bLittleEndian'), widthInBits };
}

function encodeInteger(value: number, format: IntegerFormat): Uint8Array {
  const out = new Uint8Array(format.widthInBits / 8);
  let v = BigInt(value);
  for (let i = 0; i < out.length; i++, v >>= 8n) out[format.littleEndian ? i : out.length - 1 - i] = Number(v & 0xffn);
  return out;
}

/** One field of the PRF input, in CK_PRF_DATA_PARAM order. */
type DataField =
  | { readonly kind: 'iteration'; readonly format?: IntegerFormat }
  | { readonly kind: 'counter'; readonly format: IntegerFormat }
  | { readonly kind: 'dkm-length'; readonly sumOfSegments: boolean; readonly format: IntegerFormat }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array };

function counterFormat(param: WireParam): IntegerFormat {
  return integerFormat(structParam(param, 'CK_SP800_108_COUNTER_FORMAT'), 'the counter', 32);
}

function readDataField(element: StructValue, mode: Mode): DataField {
  const type = ulongField(element.fields, 'type');
  const value = choiceField(element.fields, 'pValue');
  switch (type) {
    case CK_SP800_108_PRF_DATA.CK_SP800_108_ITERATION_VARIABLE:
      if (mode === 'counter') return { kind: 'iteration', format: counterFormat(value) };
      // In feedback mode the iteration variable is K(i-1): "pValue must be set to NULL_PTR and ulValueLen must be set to 0".
      require(value.kind === ValueKind.Null && value.length === 0, CKR.CKR_MECHANISM_PARAM_INVALID, 'the feedback iteration variable takes no value');
      return { kind: 'iteration' };
    case CK_SP800_108_PRF_DATA.CK_SP800_108_COUNTER:
      require(mode === 'feedback', CKR.CKR_MECHANISM_PARAM_INVALID, 'CK_SP800_108_COUNTER is invalid in counter mode');
      return { kind: 'counter', format: counterFormat(value) };
    case CK_SP800_108_PRF_DATA.CK_SP800_108_DKM_LENGTH: {
      const f = structParam(value, 'CK_SP800_108_DKM_LENGTH_FORMAT');
      const method = ulongField(f, 'dkmLengthMethod');
      const known = method === CK_SP800_108_DKM.CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS || method === CK_SP800_108_DKM.CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS;
      require(known, CKR.CKR_MECHANISM_PARAM_INVALID, `unknown DKM length method ${method}`);
      return { kind: 'dkm-length', sumOfSegments: method === CK_SP800_108_DKM.CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS, format: integerFormat(f, 'the DKM length', 64) };
    }
    case CK_SP800_108_PRF_DATA.CK_SP800_108_BYTE_ARRAY:
      require(value.kind === ValueKind.Raw && value.bytes && value.bytes.length > 0, CKR.CKR_MECHANISM_PARAM_INVALID, 'a byte array needs a value');
      return { kind: 'bytes', bytes: value.bytes };
    case CK_SP800_108_PRF_DATA.CK_SP800_108_KEY_HANDLE:
      return invalid('CK_SP800_108_KEY_HANDLE is not supported');
    default:
      return invalid(`unknown PRF data type ${type}`);
  }
}

/** The fields of the PRF input, with the spec's counts: one iteration variable, at most one counter and one DKM length. */
function readDataFields(f: Fields, mode: Mode): DataField[] {
  const fields = structArrayField(f, 'pDataParams', 'CK_PRF_DATA_PARAM').map((e) => readDataField(e, mode));
  const count = (kind: DataField['kind']) => fields.filter((d) => d.kind === kind).length;
  require(count('iteration') === 1, CKR.CKR_MECHANISM_PARAM_INVALID, 'exactly one CK_SP800_108_ITERATION_VARIABLE is required');
  require(count('counter') <= 1 && count('dkm-length') <= 1, CKR.CKR_MECHANISM_PARAM_INVALID, 'at most one counter and one DKM length');
  return fields;
}

function readAdditionalKeys(param: WireParam, f: Fields): AdditionalKey[] {
  const root = param.value ?? invalid('a structure parameter is required');
  return structArrayField(f, 'pAdditionalDerivedKeys', 'CK_DERIVED_KEY').map((key) => {
    checkOutUlongField(key.fields, 'phKey');
    const field = writebackIndex(root, key, 'phKey');
    return { template: templateField(key.fields, 'pTemplate'), handleWriteback: (handle) => ({ field, data: outUlongData(handle) }) };
  });
}

/** Runs the KDF: each key takes whole segments of PRF output, in order ("Deriving Additional Keys"). */
function derive(backend: CryptoBackend, prf: Prf, key: Uint8Array, fields: readonly DataField[], iv: Uint8Array, lengths: DerivedLengths): Uint8Array[] {
  const h = prf.outputLength;
  const spec = prf.mac(key);
  for (const length of lengths) require(length >= 1 && length <= MAX_KEY_BYTES, CKR.CKR_TEMPLATE_INCONSISTENT, `SP800-108 keys are 1 to ${MAX_KEY_BYTES} bytes`);
  const segments = lengths.map((length) => Math.ceil(length / h));
  const n = segments.reduce((a, b) => a + b, 0);
  const dkmBits = (sumOfSegments: boolean) => 8 * (sumOfSegments ? n * h : lengths.reduce((a, b) => a + b, 0));
  // Neither the counter may wrap (at most 2^r - 1 iterations) nor the DKM length overflow its field.
  for (const d of fields) {
    if ((d.kind === 'iteration' || d.kind === 'counter') && d.format) {
      require(n < 2 ** d.format.widthInBits, CKR.CKR_TEMPLATE_INCONSISTENT, `a ${d.format.widthInBits}-bit counter allows ${2 ** d.format.widthInBits - 1} segments`);
    }
    if (d.kind === 'dkm-length') require(dkmBits(d.sumOfSegments) < 2 ** d.format.widthInBits, CKR.CKR_TEMPLATE_INCONSISTENT, `the DKM length does not fit ${d.format.widthInBits} bits`);
  }
  const output = new Uint8Array(n * h);
  let previous = iv;
  for (let i = 1; i <= n; i++) {
    const mac = backend.createMac(spec);
    let block: Uint8Array;
    try {
      for (const d of fields) {
        switch (d.kind) {
          case 'iteration': mac.update(d.format ? encodeInteger(i, d.format) : previous); break;
          case 'counter': mac.update(encodeInteger(i, d.format)); break;
          case 'dkm-length': mac.update(encodeInteger(dkmBits(d.sumOfSegments), d.format)); break;
          case 'bytes': mac.update(d.bytes); break;
        }
      }
      block = mac.final();
    } finally {
      mac.dispose();
    }
    output.set(block, (i - 1) * h);
    if (previous !== iv) previous.fill(0);
    previous = block;
  }
  if (previous !== iv) previous.fill(0);
  let at = 0;
  const values = lengths.map((length, k) => {
    const value = output.slice(at, at + length);
    at += (segments[k] ?? 0) * h;
    return value;
  });
  output.fill(0);
  return values;
}

function sp800108Derivation(param: WireParam, mode: Mode): SecretDerivation {
  const f = structParam(param, mode === 'counter' ? 'CK_SP800_108_KDF_PARAMS' : 'CK_SP800_108_FEEDBACK_KDF_PARAMS');
  const prf = prfOf(ulongField(f, 'prfType'));
  const fields = readDataFields(f, mode);
  const iv = mode === 'feedback' ? feedbackIv(f) : new Uint8Array(0);
  return {
    objectClass: CKO.CKO_SECRET_KEY,
    baseMayBeData: false,
    baseKeyTypes: prf.keyTypes,
    additionalKeys: readAdditionalKeys(param, f),
    inheritsProtection: true,
    derive: (backend, base, lengths) => derive(backend, prf, base, fields, iv, lengths),
  };
}

/** The feedback IV, K(0): optional, but a NULL pIV must come with ulIVLen 0. */
function feedbackIv(f: Fields): Uint8Array {
  if (f.pIV === null && ulongField(f, 'ulIVLen') !== 0) throw new CkError(CKR.CKR_ARGUMENTS_BAD, 'pIV is NULL');
  return bytesField(f, 'pIV');
}

const BASE_KEY_TYPES = [CKK.CKK_GENERIC_SECRET, CKK.CKK_AES, ...HMAC_KEY_TYPES];

function sp800108(type: number, mode: Mode): MechanismSpec {
  return {
    type,
    // Base key sizes in bits, as this section of the spec gives them.
    minKeySize: 8,
    maxKeySize: MAX_KEY_BYTES * 8,
    flags: CKF_MECH.CKF_DERIVE,
    keySizeInBits: true,
    fipsApproved: false,
    keyTypes: BASE_KEY_TYPES,
    secretDerivation: (param) => sp800108Derivation(param, mode),
  };
}

export const sp800108Family: MechanismFamily = {
  name: 'sp800-108',
  mechanisms: [sp800108(CKM.CKM_SP800_108_COUNTER_KDF, 'counter'), sp800108(CKM.CKM_SP800_108_FEEDBACK_KDF, 'feedback')],
};
