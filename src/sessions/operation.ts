/** The mechanism of an operation and whether it is FIPS-approved (the algorithm indicator, IG 2.4.C). */
export interface OperationIndicator {
  readonly mechanism: number;
  readonly fipsApproved: boolean;
}

/** An operation a session has started and not yet finished. */
export interface Operation {
  /** Set by Session.start from the indicator its C_*Init recorded; the audit record of its completion carries it. */
  indicator?: OperationIndicator;
  /** Set on operations with a CKA_ALWAYS_AUTHENTICATE key: true until C_Login(CKU_CONTEXT_SPECIFIC). */
  needsContextLogin?: boolean;
  /** Releases native state; called when the operation ends for any reason. */
  dispose(): void;
}

/** The kinds of operation a session can have active at once. */
export type OperationKind = 'find' | 'digest' | 'encrypt' | 'decrypt' | 'sign' | 'verify';
