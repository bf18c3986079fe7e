/** What each mechanism family file declares about its mechanisms. */
import type { DigestAlgorithm } from '../backends/backend';

export interface MechanismSpec {
  readonly type: number;
  /** CK_MECHANISM_INFO: key sizes in the unit the spec gives for this mechanism (bits or bytes). */
  readonly minKeySize: number;
  readonly maxKeySize: number;
  /** CK_MECHANISM_INFO flags (CKF_DIGEST, CKF_SIGN, ...). */
  readonly flags: number;
  /** Whether the mechanism is FIPS-approved for the operations it offers. */
  readonly fipsApproved: boolean;
  /** For digest mechanisms: the backend algorithm. */
  readonly digest?: DigestAlgorithm;
}

export interface MechanismFamily {
  readonly name: string;
  readonly mechanisms: readonly MechanismSpec[];
}
