import { CKR } from './generated/constants';

/**
 * A PKCS#11 failure, thrown from wherever it is detected and turned into a
 * CK_RV in exactly one place: the dispatcher.
 */
export class CkError extends Error {
  constructor(
    readonly rv: number,
    detail?: string,
  ) {
    super(detail ?? rvName(rv));
    this.name = 'CkError';
  }
}

export function rvName(rv: number): string {
  for (const [name, value] of Object.entries(CKR)) if (value === rv) return name;
  return `CKR_0x${rv.toString(16)}`;
}

/** Throws CkError(rv) unless the condition holds. */
export function require(condition: unknown, rv: number, detail?: string): asserts condition {
  if (!condition) throw new CkError(rv, detail);
}
