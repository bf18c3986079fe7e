/**
 * What a token keeps across processes. The store is the only place that
 * touches disk; the rest of the module sees these records and plain
 * attribute maps.
 */
import type { AttributeMap } from '../objects/attribute-value';
import type { ObjectIndex } from './object-index';

/** The token master key, wrapped under a key derived from one PIN (hex fields). */
export interface WrappedMasterKey {
  readonly salt: string;
  readonly iterations: number;
  readonly nonce: string;
  readonly sealed: string;
}

export interface TokenRecord {
  readonly label: string;
  readonly serial: string;
  readonly initialized: boolean;
  /** Increases at every C_InitToken, so other processes notice their login is stale. */
  readonly epoch: number;
  readonly soKey: WrappedMasterKey | null;
  readonly userKey: WrappedMasterKey | null;
  readonly soFailures: number;
  readonly userFailures: number;
}

export interface TokenStore {
  /** Where the token lives, for log lines. */
  readonly location: string;
  readToken(): TokenRecord;
  /** Applies a change to the token record in one transaction; returns the new record. */
  updateToken(change: (current: TokenRecord) => TokenRecord): TokenRecord;
  /** C_InitToken: every object goes and the record is replaced, in one transaction. */
  reinitialize(record: TokenRecord): void;
  /** The token objects this process can read now (secret values only while unlocked). */
  objects(): ObjectIndex;
  /** Stores a new object; durable when this returns. */
  addObject(id: string, attributes: AttributeMap): void;
  /**
   * Changes an object inside one transaction, applying `change` to the object
   * as it is now (another process may just have changed it); an object that is
   * gone is CKR_OBJECT_HANDLE_INVALID. Returns the stored attributes.
   */
  updateObject(id: string, change: (current: AttributeMap) => AttributeMap): AttributeMap;
  /** Removes an object; one that is already gone is CKR_OBJECT_HANDLE_INVALID. */
  deleteObject(id: string): void;
  /** Gives the store the token master key (after a login), or takes it away. */
  unlock(masterKey: Uint8Array): void;
  lock(): void;
  close(): void;
}
