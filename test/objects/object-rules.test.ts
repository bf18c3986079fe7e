import { describe, expect, it } from 'vitest';
import { CKA, CKC, CKK, CKO, CKR } from '../../src/generated/constants';
import { CkError } from '../../src/ck-error';
import { DEFAULT_ABI } from '../../src/dispatch/caller-abi';
import { ValueKind } from '../../src/wire/codec';
import { UNAVAILABLE, type AttributeMap, type AttributeValue } from '../../src/objects/attribute-value';
import { buildObject, modifyObject, readAttributes } from '../../src/objects/object-rules';

const user = { isSecurityOfficer: false };
const so = { isSecurityOfficer: true };
const bytes = (s: string) => new TextEncoder().encode(s);

function rvOf(f: () => unknown): number {
  try {
    f();
  } catch (e) {
    if (e instanceof CkError) return e.rv;
    throw e;
  }
  return CKR.CKR_OK;
}

const attrs = (...entries: [number, AttributeValue][]): AttributeMap => new Map(entries);
const aesKey = (...more: [number, AttributeValue][]): AttributeMap =>
  attrs([CKA.CKA_CLASS, CKO.CKO_SECRET_KEY], [CKA.CKA_KEY_TYPE, CKK.CKK_AES], [CKA.CKA_VALUE, new Uint8Array(16).fill(7)], ...more);

describe('object rules', () => {
  it('fills defaults for a data object', () => {
    const o = buildObject(attrs([CKA.CKA_CLASS, CKO.CKO_DATA]), new Map(), user);
    expect(o.get(CKA.CKA_TOKEN)).toBe(false);
    expect(o.get(CKA.CKA_PRIVATE)).toBe(false);
    expect(o.get(CKA.CKA_MODIFIABLE)).toBe(true);
    expect(o.get(CKA.CKA_VALUE)).toEqual(new Uint8Array(0));
  });

  it('keys are private and sensitive by default', () => {
    const o = buildObject(aesKey(), new Map(), user);
    expect(o.get(CKA.CKA_PRIVATE)).toBe(true);
    expect(o.get(CKA.CKA_SENSITIVE)).toBe(true);
    expect(o.get(CKA.CKA_LOCAL)).toBe(false);
    expect(o.get(CKA.CKA_ALWAYS_SENSITIVE)).toBe(false);
  });

  it('reports the template errors of section 4.1', () => {
    expect(rvOf(() => buildObject(new Map(), new Map(), user))).toBe(CKR.CKR_TEMPLATE_INCOMPLETE);
    expect(rvOf(() => buildObject(attrs([CKA.CKA_CLASS, CKO.CKO_CERTIFICATE], [CKA.CKA_CERTIFICATE_TYPE, CKC.CKC_X_509]), new Map(), user))).toBe(
      CKR.CKR_TEMPLATE_INCOMPLETE,
    );
    expect(rvOf(() => buildObject(aesKey([CKA.CKA_LOCAL, true]), new Map(), user))).toBe(CKR.CKR_ATTRIBUTE_READ_ONLY);
    expect(rvOf(() => buildObject(attrs([CKA.CKA_CLASS, CKO.CKO_DATA], [CKA.CKA_LOCAL, true]), new Map(), user))).toBe(CKR.CKR_ATTRIBUTE_TYPE_INVALID);
    expect(rvOf(() => buildObject(attrs([CKA.CKA_CLASS, CKO.CKO_DATA], [CKA.CKA_MODULUS, bytes('x')]), new Map(), user))).toBe(
      CKR.CKR_ATTRIBUTE_TYPE_INVALID,
    );
    const trusted = attrs([CKA.CKA_CLASS, CKO.CKO_CERTIFICATE], [CKA.CKA_CERTIFICATE_TYPE, CKC.CKC_X_509], [CKA.CKA_SUBJECT, bytes('s')], [CKA.CKA_VALUE, bytes('v')], [CKA.CKA_TRUSTED, true]);
    expect(rvOf(() => buildObject(trusted, new Map(), user))).toBe(CKR.CKR_ATTRIBUTE_READ_ONLY);
    expect(rvOf(() => buildObject(trusted, new Map(), so))).toBe(CKR.CKR_OK);
  });

  it('lets CKA_SENSITIVE only become true and CKA_EXTRACTABLE only become false', () => {
    const key = buildObject(aesKey([CKA.CKA_SENSITIVE, false], [CKA.CKA_EXTRACTABLE, true]), new Map(), user);
    expect(rvOf(() => modifyObject(key, attrs([CKA.CKA_SENSITIVE, true]), user, false))).toBe(CKR.CKR_OK);
    const sensitive = modifyObject(key, attrs([CKA.CKA_SENSITIVE, true]), user, false);
    expect(rvOf(() => modifyObject(sensitive, attrs([CKA.CKA_SENSITIVE, false]), user, false))).toBe(CKR.CKR_ATTRIBUTE_READ_ONLY);
    expect(rvOf(() => modifyObject(key, attrs([CKA.CKA_EXTRACTABLE, false]), user, false))).toBe(CKR.CKR_OK);
    expect(rvOf(() => modifyObject(key, attrs([CKA.CKA_VALUE, new Uint8Array(16)]), user, false))).toBe(CKR.CKR_ATTRIBUTE_READ_ONLY);
    const fixed = modifyObject(key, attrs([CKA.CKA_LABEL, bytes('L')]), user, false);
    expect(fixed.get(CKA.CKA_LABEL)).toEqual(bytes('L'));
  });

  it('refuses changes to unmodifiable objects but lets copies choose CKA_TOKEN', () => {
    const data = buildObject(attrs([CKA.CKA_CLASS, CKO.CKO_DATA], [CKA.CKA_MODIFIABLE, false]), new Map(), user);
    expect(rvOf(() => modifyObject(data, attrs([CKA.CKA_LABEL, bytes('x')]), user, false))).toBe(CKR.CKR_ACTION_PROHIBITED);
    expect(modifyObject(data, attrs([CKA.CKA_TOKEN, true]), user, true).get(CKA.CKA_TOKEN)).toBe(true);
  });

  it('answers C_GetAttributeValue slot by slot in the order of section 5.7', () => {
    const key = buildObject(aesKey(), new Map(), user);
    const slot = (type: number, buffer: boolean, capacity: number) => ({ type, kind: ValueKind.Raw, buffer, capacity });
    const r = readAttributes(
      key,
      [slot(CKA.CKA_CLASS, true, 8), slot(CKA.CKA_VALUE, true, 64), slot(CKA.CKA_MODULUS, true, 64), slot(CKA.CKA_LABEL, false, 0), slot(CKA.CKA_ID, true, 0)],
      DEFAULT_ABI,
    );
    expect(r.rv).toBe(CKR.CKR_ATTRIBUTE_SENSITIVE);
    expect(r.slots[0]).toEqual({ length: 8, value: CKO.CKO_SECRET_KEY });
    expect(r.slots[1]).toEqual({ length: UNAVAILABLE });
    expect(r.slots[2]).toEqual({ length: UNAVAILABLE });
    expect(r.slots[3]).toEqual({ length: 0 });
    expect(r.slots[4]).toEqual({ length: 0, value: new Uint8Array(0) });
    const small = readAttributes(key, [slot(CKA.CKA_CLASS, true, 4)], DEFAULT_ABI);
    expect(small.rv).toBe(CKR.CKR_BUFFER_TOO_SMALL);
    const windows = readAttributes(key, [slot(CKA.CKA_CLASS, true, 4)], { ...DEFAULT_ABI, ulongSize: 4 });
    expect(windows).toEqual({ rv: CKR.CKR_OK, slots: [{ length: 4, value: CKO.CKO_SECRET_KEY }] });
  });
});
