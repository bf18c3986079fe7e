/** One PKCS#11 session and the operations it has in progress. */
import { CKS } from '../generated/constants';
import type { Token } from '../tokens/token';
import type { Operation, OperationIndicator, OperationKind } from './operation';

export class Session {
  /** Active operations, at most one of each kind (find, digest, ...). */
  readonly operations = new Map<OperationKind, Operation>();
  /** The latest operation started here: its mechanism and the algorithm indicator (IG 2.4.C). */
  lastOperation: OperationIndicator | null = null;

  constructor(
    readonly handle: number,
    readonly token: Token,
    readonly readWrite: boolean,
  ) {}

  get slotId(): number {
    return this.token.slotId;
  }

  /** CK_STATE, derived from the token's login state and this session's access. */
  get state(): number {
    switch (this.token.loginState) {
      case 'so': return CKS.CKS_RW_SO_FUNCTIONS;
      case 'user': return this.readWrite ? CKS.CKS_RW_USER_FUNCTIONS : CKS.CKS_RO_USER_FUNCTIONS;
      default: return this.readWrite ? CKS.CKS_RW_PUBLIC_SESSION : CKS.CKS_RO_PUBLIC_SESSION;
    }
  }

  get userLoggedIn(): boolean {
    return this.token.loginState === 'user';
  }

  /** Makes `op` the active operation of its kind, carrying the indicator its C_*Init recorded. */
  start(kind: OperationKind, op: Operation): void {
    if (this.lastOperation) op.indicator = this.lastOperation;
    this.operations.set(kind, op);
  }

  /** Ends the operation of this kind, if one is active. */
  endOperation(kind: OperationKind): void {
    this.operations.get(kind)?.dispose();
    this.operations.delete(kind);
  }

  endAllOperations(): void {
    for (const op of this.operations.values()) op.dispose();
    this.operations.clear();
  }
}
