/**
 * What a token keeps across processes. The store is the only place that
 * touches disk; the rest of the module sees these records.
 */
import type { AttributeMap } from '../objects/attribute-value';

export interface PinVerifier {
  readonly salt: string; // hex
  readonly iterations: number;
  readonly hash: string; // hex, PBKDF2-HMAC-SHA256(pin, salt)
}

export interface TokenRecord {
  readonly label: string;
  readonly serial: string;
  readonly initialized: boolean;
  readonly soPin: PinVerifier | null;
  readonly userPin: PinVerifier | null;
  readonly soFailures: number;
  readonly userFailures: number;
}

export interface StoredObject {
  /** Stable id, also the object's CKA_UNIQUE_ID. */
  readonly id: string;
  readonly attributes: AttributeMap;
}

export interface TokenStore {
  /** Where the token lives, for log lines. */
  readonly location: string;
  readToken(): TokenRecord;
  /** Applies a change to the token record atomically; returns the new record. */
  updateToken(change: (current: TokenRecord) => TokenRecord): TokenRecord;
  listObjects(): readonly StoredObject[];
  putObject(object: StoredObject): void;
  deleteObject(id: string): void;
  /** C_InitToken: every object goes, and the record is replaced, in one step. */
  reinitialize(record: TokenRecord): void;
  close(): void;
}

export function freshTokenRecord(serial: string): TokenRecord {
  return { label: '', serial, initialized: false, soPin: null, userPin: null, soFailures: 0, userFailures: 0 };
}
