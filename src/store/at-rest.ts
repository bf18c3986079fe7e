/**
 * Encryption at rest. A random 256-bit master key per token is stored only
 * wrapped, once per PIN, under a key derived from that PIN (PBKDF2-HMAC-SHA256,
 * 600,000 iterations, fresh salt per wrap). Attribute values are sealed with
 * AES-256-GCM under a key derived from the master key (HKDF-SHA256), with the
 * object id and the attribute type as associated data: a ciphertext moved to
 * another object or attribute does not open.
 */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import { BackendError, type CryptoBackend } from '../backends/backend';
import { fromJson, toJson, type AttributeMap, type JsonValue } from '../objects/attribute-value';
import type { WrappedMasterKey } from './token-store';

export const PIN_ITERATIONS = 600_000;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const OBJECT_KEY_INFO = new TextEncoder().encode('craton-hsm object key v1');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

function wrapAad(role: 'so' | 'user'): Uint8Array {
  return new TextEncoder().encode(`craton-hsm master key v1/${role}`);
}

export function newMasterKey(backend: CryptoBackend): Uint8Array {
  return backend.randomBytes(KEY_BYTES);
}

export async function wrapMasterKey(backend: CryptoBackend, masterKey: Uint8Array, pin: Uint8Array, role: 'so' | 'user'): Promise<WrappedMasterKey> {
  const salt = backend.randomBytes(16);
  const kek = await backend.pbkdf2HmacSha256(pin, salt, PIN_ITERATIONS, KEY_BYTES);
  const nonce = backend.randomBytes(NONCE_BYTES);
  try {
    const sealed = backend.aes256GcmSeal(kek, nonce, wrapAad(role), masterKey);
    return { salt: hex(salt), iterations: PIN_ITERATIONS, nonce: hex(nonce), sealed: hex(sealed) };
  } finally {
    kek.fill(0);
  }
}

/** The master key, or null when the PIN is wrong (the wrap does not authenticate). */
export async function unwrapMasterKey(backend: CryptoBackend, wrapped: WrappedMasterKey, pin: Uint8Array, role: 'so' | 'user'): Promise<Uint8Array | null> {
  const kek = await backend.pbkdf2HmacSha256(pin, unhex(wrapped.salt), wrapped.iterations, KEY_BYTES);
  try {
    return backend.aes256GcmOpen(kek, unhex(wrapped.nonce), wrapAad(role), unhex(wrapped.sealed));
  } catch (e) {
    if (e instanceof BackendError && e.code === 'AUTH') return null;
    throw e;
  } finally {
    kek.fill(0);
  }
}

export function objectKey(backend: CryptoBackend, masterKey: Uint8Array): Uint8Array {
  return backend.hkdfSha256(masterKey, new Uint8Array(0), OBJECT_KEY_INFO, KEY_BYTES);
}

function attributeAad(id: string, type: number): Uint8Array {
  return new TextEncoder().encode(`${id}\u0000${type}`);
}

/** A stored object row: plain attributes, and sealed ones as hex(nonce || ciphertext || tag). */
export interface SealedObject {
  readonly p: [number, JsonValue][];
  readonly e: [number, string][];
}

export function sealObject(
  backend: CryptoBackend,
  key: Uint8Array | null,
  id: string,
  attributes: AttributeMap,
  mustSeal: (type: number) => boolean,
): SealedObject {
  const p: [number, JsonValue][] = [];
  const e: [number, string][] = [];
  for (const [type, value] of attributes) {
    if (!mustSeal(type)) {
      p.push([type, toJson(value)]);
      continue;
    }
    if (!key) throw new CkError(CKR.CKR_USER_NOT_LOGGED_IN, 'storing a secret value needs the token unlocked');
    const nonce = backend.randomBytes(NONCE_BYTES);
    const plain = new TextEncoder().encode(JSON.stringify(toJson(value)));
    const sealed = backend.aes256GcmSeal(key, nonce, attributeAad(id, type), plain);
    plain.fill(0);
    e.push([type, hex(nonce) + hex(sealed)]);
  }
  return { p, e };
}

/** The attributes of a stored object, or null when it has sealed values and no key is given. */
export function openObject(backend: CryptoBackend, key: Uint8Array | null, id: string, row: SealedObject): AttributeMap | null {
  if (row.e.length > 0 && !key) return null;
  const attributes: AttributeMap = new Map(row.p.map(([t, v]) => [t, fromJson(v)]));
  for (const [type, text] of row.e) {
    const raw = unhex(text);
    let plain: Uint8Array;
    try {
      plain = backend.aes256GcmOpen(key as Uint8Array, raw.subarray(0, NONCE_BYTES), attributeAad(id, type), raw.subarray(NONCE_BYTES));
    } catch {
      throw new CkError(CKR.CKR_DEVICE_ERROR, `object ${id}: attribute 0x${type.toString(16)} does not decrypt`);
    }
    attributes.set(type, fromJson(JSON.parse(new TextDecoder().decode(plain)) as JsonValue));
    plain.fill(0);
  }
  return attributes;
}
