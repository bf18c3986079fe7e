/**
 * CKA_EC_PARAMS and CKA_EC_POINT encodings (PKCS#11 3.0 section 2.3): curves
 * named by their DER OBJECT IDENTIFIER (or, for the curves that have one, a
 * PrintableString name), points as a DER OCTET STRING. Edwards and Montgomery
 * public keys (RFC 8032 / RFC 7748 bytes) are wrapped the same way, as 3.0
 * says; 3.1 and later store the bytes bare, so both forms are read.
 */
import { CKA, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { AttributeMap } from './attribute-value';
import { EC_CURVES, EDWARDS_CURVES, MONTGOMERY_CURVES, type EcCurve, type EdwardsCurve, type MontgomeryCurve } from '../backends/asymmetric';

type AnyCurve = EcCurve | EdwardsCurve | MontgomeryCurve;

/**
 * Each curve's encodings as CKA_EC_PARAMS bytes and its names. The
 * Edwards and Montgomery curves are named as RFC 8032 / RFC 7748 do, or by
 * their RFC 8410 OIDs; the GNU OIDs are what older OpenSC tools send. The
 * first encoding is what this module writes.
 */
const CURVES: readonly { curve: AnyCurve; bytes: number; encodings: readonly string[]; names: readonly string[] }[] = [
  { curve: 'P-256', bytes: 32, encodings: ['06082a8648ce3d030107'], names: ['prime256v1', 'secp256r1'] },
  { curve: 'P-384', bytes: 48, encodings: ['06052b81040022'], names: ['secp384r1'] },
  { curve: 'P-521', bytes: 66, encodings: ['06052b81040023'], names: ['secp521r1'] },
  { curve: 'secp256k1', bytes: 32, encodings: ['06052b8104000a'], names: ['secp256k1'] },
  { curve: 'Ed25519', bytes: 32, encodings: ['06032b6570', '06092b06010401da470f01'], names: ['edwards25519'] },
  { curve: 'Ed448', bytes: 57, encodings: ['06032b6571'], names: ['edwards448'] },
  // OpenSC 0.23's pkcs11-tool names curve25519 with a length byte one too large; taken as it is.
  { curve: 'X25519', bytes: 32, encodings: ['06032b656e', '060a2b060104019755010501', '130b63757276653235353139'], names: ['curve25519'] },
  { curve: 'X448', bytes: 56, encodings: ['06032b656f'], names: ['curve448'] },
];

/** Bytes of a coordinate (prime curves) or of a key (Edwards, Montgomery): the backend's byteLength. */
export function curveByteLength(curve: AnyCurve): number {
  const c = CURVES.find((x) => x.curve === curve);
  if (!c) throw new Error(`unknown curve ${curve}`);
  return c.bytes;
}

function anyCurveOf(params: Uint8Array): AnyCurve | undefined {
  const hex = Buffer.from(params).toString('hex');
  const byOid = CURVES.find((c) => c.encodings.includes(hex));
  if (byOid) return byOid.curve;
  // PrintableString (tag 0x13) with the curve's name.
  if (params[0] === 0x13 && params[1] === params.length - 2) {
    const name = new TextDecoder().decode(params.subarray(2));
    return CURVES.find((c) => c.names.includes(name))?.curve;
  }
  return undefined;
}

function curveIn<C extends AnyCurve>(params: Uint8Array, family: readonly C[]): C {
  const curve = anyCurveOf(params);
  if (curve !== undefined && (family as readonly AnyCurve[]).includes(curve)) return curve as C;
  // A curve of another family is as unsupported here as an unknown one (CKR_CURVE_NOT_SUPPORTED).
  throw new CkError(CKR.CKR_CURVE_NOT_SUPPORTED, `CKA_EC_PARAMS ${Buffer.from(params).toString('hex')} names no supported curve of this key type`);
}

/** The public template's CKA_EC_PARAMS, which every EC key-pair generation needs. */
export function requiredEcParams(template: AttributeMap): Uint8Array {
  const params = template.get(CKA.CKA_EC_PARAMS);
  require(params instanceof Uint8Array && params.length > 0, CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_EC_PARAMS is required');
  return params;
}

/** The short-Weierstrass curve CKA_EC_PARAMS names. */
export const curveOf = (params: Uint8Array): EcCurve => curveIn(params, EC_CURVES);
export const edwardsCurveOf = (params: Uint8Array): EdwardsCurve => curveIn(params, EDWARDS_CURVES);
export const montgomeryCurveOf = (params: Uint8Array): MontgomeryCurve => curveIn(params, MONTGOMERY_CURVES);

/** The curve CKA_EC_PARAMS names for a key of this backend type (CKR_CURVE_NOT_SUPPORTED if none). */
export function curveNamedBy(type: 'ec' | 'eddsa' | 'xdh', params: Uint8Array): AnyCurve {
  if (type === 'eddsa') return edwardsCurveOf(params);
  if (type === 'xdh') return montgomeryCurveOf(params);
  return curveOf(params);
}

export function ecParamsOf(curve: AnyCurve): Uint8Array {
  const c = CURVES.find((x) => x.curve === curve);
  if (!c?.encodings[0]) throw new Error(`no OID for ${curve}`);
  return new Uint8Array(Buffer.from(c.encodings[0], 'hex'));
}

/** DER OCTET STRING around a point (its length always fits in the short or one-byte long form here). */
export function wrapPoint(point: Uint8Array): Uint8Array {
  const header = point.length < 0x80 ? [0x04, point.length] : [0x04, 0x81, point.length];
  return new Uint8Array([...header, ...point]);
}

/** The point inside CKA_EC_POINT; a raw point (as some callers give it) is accepted too. */
export function unwrapPoint(value: Uint8Array): Uint8Array {
  if (value[0] === 0x04 && value.length >= 2) {
    const short = value[1] ?? 0;
    if (short < 0x80 && short === value.length - 2) return value.subarray(2);
    if (short === 0x81 && value[2] === value.length - 3) return value.subarray(3);
  }
  return value;
}

/**
 * A public value given raw or DER-wrapped, for a key whose raw encodings have
 * these lengths: the length decides, since a raw value may begin with bytes
 * that look like an OCTET STRING header.
 */
export function publicBytes(value: Uint8Array, rawLengths: readonly number[]): Uint8Array {
  return rawLengths.includes(value.length) ? value : unwrapPoint(value);
}

/** The lengths of a raw public value of a key of this type and size (EC: uncompressed or compressed point). */
export function rawPublicLengths(type: 'ec' | 'eddsa' | 'xdh', byteLength: number): number[] {
  return type === 'ec' ? [2 * byteLength + 1, byteLength + 1] : [byteLength];
}
