/**
 * CKA_EC_PARAMS and CKA_EC_POINT encodings (PKCS#11 3.0 section 2.3): curves
 * named by their DER OBJECT IDENTIFIER (or, for the curves that have one, a
 * PrintableString name), points as a DER OCTET STRING.
 */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { EcCurve } from '../backends/asymmetric';

const CURVES: readonly { curve: EcCurve; oid: string; names: readonly string[] }[] = [
  { curve: 'P-256', oid: '06082a8648ce3d030107', names: ['prime256v1', 'secp256r1'] },
  { curve: 'P-384', oid: '06052b81040022', names: ['secp384r1'] },
  { curve: 'P-521', oid: '06052b81040023', names: ['secp521r1'] },
  { curve: 'secp256k1', oid: '06052b8104000a', names: ['secp256k1'] },
];

/** The curve CKA_EC_PARAMS names; an unknown one is CKR_CURVE_NOT_SUPPORTED. */
export function curveOf(params: Uint8Array): EcCurve {
  const hex = Buffer.from(params).toString('hex');
  const byOid = CURVES.find((c) => c.oid === hex);
  if (byOid) return byOid.curve;
  // PrintableString (tag 0x13) with the curve's name.
  if (params[0] === 0x13 && params[1] === params.length - 2) {
    const name = new TextDecoder().decode(params.subarray(2));
    const byName = CURVES.find((c) => c.names.includes(name));
    if (byName) return byName.curve;
  }
  throw new CkError(CKR.CKR_CURVE_NOT_SUPPORTED, `CKA_EC_PARAMS ${hex} names no supported curve`);
}

export function ecParamsOf(curve: EcCurve): Uint8Array {
  const c = CURVES.find((x) => x.curve === curve);
  if (!c) throw new Error(`no OID for ${curve}`);
  return new Uint8Array(Buffer.from(c.oid, 'hex'));
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
