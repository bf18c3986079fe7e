/**
 * Creating, copying, modifying and reading objects under the schema rules:
 * the template checks of PKCS#11 3.0 section 4.1 and the per-attribute
 * outcomes of C_GetAttributeValue (section 5.7).
 */
import { CKA, CKO, CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { CallerAbi } from '../dispatch/caller-abi';
import { ValueKind, type GetSlot, type SlotReply } from '../wire/codec';
import { UNAVAILABLE, callerLength, toSlotValue, type AttributeMap, type AttributeValue } from './attribute-value';
import { schemaFor, subtypeAttribute, type Schema } from './object-schema';

export interface Actor {
  /** The Security Officer is logged in on this token. */
  readonly isSecurityOfficer: boolean;
}

function subtypeOf(template: AttributeMap, objectClass: number): number | undefined {
  const attr = subtypeAttribute(objectClass);
  const v = attr === undefined ? undefined : template.get(attr);
  return typeof v === 'number' ? v : undefined;
}

export function schemaOf(attrs: AttributeMap): Schema {
  const cls = attrs.get(CKA.CKA_CLASS);
  if (typeof cls !== 'number') throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_CLASS missing');
  return schemaFor(cls, subtypeOf(attrs, cls));
}

function checkTrusted(type: number, value: AttributeValue, schema: Schema, actor: Actor): void {
  if (schema.get(type)?.soOnlyTrue && value === true && !actor.isSecurityOfficer) {
    throw new CkError(CKR.CKR_ATTRIBUTE_READ_ONLY, 'only the Security Officer may set CKA_TRUSTED');
  }
}

/**
 * Builds a new object from a caller's template plus attributes the module
 * sets itself (`assigned`, e.g. CKA_LOCAL for generated keys).
 */
export function buildObject(template: AttributeMap, assigned: AttributeMap, actor: Actor, requireAll = true): AttributeMap {
  const schema = schemaOf(template);
  const obj: AttributeMap = new Map();
  for (const [type, value] of template) {
    const rule = schema.get(type);
    if (!rule) throw new CkError(CKR.CKR_ATTRIBUTE_TYPE_INVALID, `attribute 0x${type.toString(16)} does not belong to this object`);
    if (rule.moduleOnly && !assigned.has(type)) throw new CkError(CKR.CKR_ATTRIBUTE_READ_ONLY, `attribute 0x${type.toString(16)} is set by the module`);
    checkTrusted(type, value, schema, actor);
    obj.set(type, value);
  }
  for (const [type, value] of assigned) obj.set(type, value);
  for (const [type, rule] of schema) {
    if (obj.has(type)) continue;
    if (rule.required && requireAll) throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, `attribute 0x${type.toString(16)} missing`);
    if (rule.default !== undefined) obj.set(type, rule.default);
  }
  // CKA_VALUE_LEN of a secret key is derived from its value, never given (section 4.10).
  const value = obj.get(CKA.CKA_VALUE);
  if (obj.get(CKA.CKA_CLASS) === CKO.CKO_SECRET_KEY && value instanceof Uint8Array) obj.set(CKA.CKA_VALUE_LEN, value.length);
  if (obj.has(CKA.CKA_SENSITIVE)) {
    // Key-history attributes start from the key's own flags (section 4.9).
    if (!assigned.has(CKA.CKA_ALWAYS_SENSITIVE)) obj.set(CKA.CKA_ALWAYS_SENSITIVE, false);
    if (!assigned.has(CKA.CKA_NEVER_EXTRACTABLE)) obj.set(CKA.CKA_NEVER_EXTRACTABLE, false);
  }
  return obj;
}

/** Applies C_SetAttributeValue (or the template of C_CopyObject) to an object. */
export function modifyObject(obj: AttributeMap, changes: AttributeMap, actor: Actor, copying: boolean): AttributeMap {
  const schema = schemaOf(obj);
  if (!copying && obj.get(CKA.CKA_MODIFIABLE) === false) throw new CkError(CKR.CKR_ACTION_PROHIBITED, 'object is not modifiable');
  const next: AttributeMap = new Map(obj);
  for (const [type, value] of changes) {
    const rule = schema.get(type);
    if (!rule) throw new CkError(CKR.CKR_ATTRIBUTE_TYPE_INVALID, `attribute 0x${type.toString(16)} does not belong to this object`);
    const current = obj.get(type);
    const unchanged = current !== undefined && sameValue(current, value);
    // C_CopyObject may choose where the copy lives and who may change it.
    const copyChoice = copying && (type === CKA.CKA_TOKEN || type === CKA.CKA_PRIVATE || type === CKA.CKA_MODIFIABLE);
    if (!unchanged && !copyChoice) {
      if (rule.moduleOnly || rule.fixed) throw new CkError(CKR.CKR_ATTRIBUTE_READ_ONLY, `attribute 0x${type.toString(16)} cannot change`);
      if (rule.onlyTowards) checkOneWay(type, value);
    }
    checkTrusted(type, value, schema, actor);
    next.set(type, value);
  }
  return next;
}

function sameValue(a: AttributeValue, b: AttributeValue): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b));
  return a === b;
}

/** One-way flags: the direction each may move in. */
function checkOneWay(type: number, value: AttributeValue): void {
  const allowed: Record<number, boolean> = {
    [CKA.CKA_SENSITIVE]: true,
    [CKA.CKA_WRAP_WITH_TRUSTED]: true,
    [CKA.CKA_EXTRACTABLE]: false,
    [CKA.CKA_COPYABLE]: false,
    [CKA.CKA_DESTROYABLE]: false,
  };
  if (allowed[type] !== value) throw new CkError(CKR.CKR_ATTRIBUTE_READ_ONLY, `attribute 0x${type.toString(16)} can only become ${allowed[type]}`);
}

/** Key material (CKA_VALUE of a secret key, private key components): always encrypted at rest. */
export function isSecretAttribute(obj: AttributeMap, type: number): boolean {
  return schemaOf(obj).get(type)?.secret === true;
}

/** Whether a key-material attribute may leave the module in the clear. */
function isHidden(obj: AttributeMap, type: number, schema: Schema): boolean {
  if (!schema.get(type)?.secret) return false;
  return obj.get(CKA.CKA_SENSITIVE) === true || obj.get(CKA.CKA_EXTRACTABLE) === false;
}

export interface ReadResult {
  readonly slots: SlotReply[];
  readonly rv: number;
}

/**
 * C_GetAttributeValue for one object. Every slot gets its own outcome; the
 * call's CK_RV reports the most serious one: sensitive, then invalid type,
 * then too small a buffer.
 */
export function readAttributes(obj: AttributeMap, slots: readonly GetSlot[], abi: CallerAbi): ReadResult {
  const schema = schemaOf(obj);
  const outcome = { sensitive: false, invalid: false, small: false };
  const replies = slots.map((slot) => answerSlot(obj.get(slot.type), slot, isHidden(obj, slot.type, schema), abi, outcome));
  const rv = outcome.sensitive
    ? CKR.CKR_ATTRIBUTE_SENSITIVE
    : outcome.invalid
      ? CKR.CKR_ATTRIBUTE_TYPE_INVALID
      : outcome.small
        ? CKR.CKR_BUFFER_TOO_SMALL
        : CKR.CKR_OK;
  return { slots: replies, rv };
}

function answerSlot(
  value: AttributeValue | undefined,
  slot: GetSlot,
  hidden: boolean,
  abi: CallerAbi,
  outcome: { sensitive: boolean; invalid: boolean; small: boolean },
): SlotReply {
  if (value !== undefined && hidden) {
    outcome.sensitive = true;
    return { length: UNAVAILABLE };
  }
  if (value === undefined) {
    outcome.invalid = true;
    return { length: UNAVAILABLE };
  }
  const length = callerLength(value, abi);
  if (!slot.buffer) return { length };
  if (slot.capacity < length || slot.kind === ValueKind.Malformed) {
    outcome.small = true;
    return { length: UNAVAILABLE };
  }
  if (value instanceof Map) {
    // A nested template (CKA_WRAP_TEMPLATE...) is read into the caller's inner array: entries
    // without a buffer learn the type and length of the attribute at their position; entries
    // with a buffer get the value of the type the caller put there.
    const entries = [...value.entries()];
    const inner = (slot.nested ?? []).slice(0, entries.length).map((innerSlot, i): SlotReply => {
      if (innerSlot.buffer) return { type: innerSlot.type, ...answerSlot(value.get(innerSlot.type), innerSlot, false, abi, outcome) };
      const [type, v] = entries[i] ?? [innerSlot.type, undefined];
      return { type, ...answerSlot(v, { ...innerSlot, type }, false, abi, outcome) };
    });
    return { length, value: inner };
  }
  return { length, value: toSlotValue(value) };
}

/** The approximate storage size C_GetObjectSize reports. */
export function objectSize(obj: AttributeMap): number {
  let size = 0;
  for (const value of obj.values()) size += 8 + (value instanceof Uint8Array ? value.length : 8);
  return size;
}
