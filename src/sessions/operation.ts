/** An operation a session has started and not yet finished. */
export interface Operation {
  /** Set on operations with a CKA_ALWAYS_AUTHENTICATE key: true until C_Login(CKU_CONTEXT_SPECIFIC). */
  needsContextLogin?: boolean;
  /** Releases native state; called when the operation ends for any reason. */
  dispose(): void;
}

/** The kinds of operation a session can have active at once. */
export type OperationKind = 'find' | 'digest' | 'encrypt' | 'decrypt' | 'sign' | 'verify';
