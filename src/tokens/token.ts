/**
 * One token: its persistent record (through a TokenStore), who is logged in
 * for this application, and PIN management (PKCS#11 3.0 sections 5.5-5.6).
 */
import { CKF_TOKEN, CKR, CKU } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { CryptoBackend } from '../backends/backend';
import type { TokenRecord, TokenStore } from '../store/token-store';
import { makeVerifier, pinMatches } from './pin-verifier';

export type LoginState = 'public' | 'user' | 'so';

export interface PinPolicy {
  readonly minLength: number;
  readonly maxLength: number;
  readonly maxLoginAttempts: number;
}

/** Decoded PIN text; PKCS#11 PINs are UTF-8. */
function checkLength(pin: Uint8Array, policy: PinPolicy): void {
  require(pin.length >= policy.minLength && pin.length <= policy.maxLength, CKR.CKR_PIN_LEN_RANGE);
}

export class Token {
  loginState: LoginState = 'public';

  constructor(
    readonly slotId: number,
    readonly store: TokenStore,
    private readonly backend: CryptoBackend,
    readonly policy: PinPolicy,
  ) {}

  get record(): TokenRecord {
    return this.store.readToken();
  }

  /** CK_TOKEN_INFO flags, computed from the record. */
  flags(): number {
    const r = this.record;
    let f = CKF_TOKEN.CKF_RNG | CKF_TOKEN.CKF_LOGIN_REQUIRED | CKF_TOKEN.CKF_CLOCK_ON_TOKEN;
    if (r.initialized) f |= CKF_TOKEN.CKF_TOKEN_INITIALIZED;
    if (r.userPin) f |= CKF_TOKEN.CKF_USER_PIN_INITIALIZED;
    const max = this.policy.maxLoginAttempts;
    if (r.userFailures > 0) f |= CKF_TOKEN.CKF_USER_PIN_COUNT_LOW;
    if (r.userFailures === max - 1) f |= CKF_TOKEN.CKF_USER_PIN_FINAL_TRY;
    if (r.userFailures >= max) f |= CKF_TOKEN.CKF_USER_PIN_LOCKED;
    if (r.soFailures > 0) f |= CKF_TOKEN.CKF_SO_PIN_COUNT_LOW;
    if (r.soFailures === max - 1) f |= CKF_TOKEN.CKF_SO_PIN_FINAL_TRY;
    if (r.soFailures >= max) f |= CKF_TOKEN.CKF_SO_PIN_LOCKED;
    return f >>> 0;
  }

  /** C_InitToken: sets (or checks) the SO PIN, wipes every object, forgets the user PIN. */
  async initialize(soPin: Uint8Array, label: string): Promise<void> {
    checkLength(soPin, this.policy);
    const current = this.record;
    if (current.initialized && current.soPin) {
      require(current.soFailures < this.policy.maxLoginAttempts, CKR.CKR_PIN_LOCKED);
      if (!(await pinMatches(this.backend, current.soPin, soPin))) {
        this.store.updateToken((r) => ({ ...r, soFailures: r.soFailures + 1 }));
        throw new CkError(CKR.CKR_PIN_INCORRECT);
      }
    }
    const verifier = await makeVerifier(this.backend, soPin);
    this.store.reinitialize({
      label,
      serial: current.serial,
      initialized: true,
      soPin: verifier,
      userPin: null,
      soFailures: 0,
      userFailures: 0,
    });
    this.loginState = 'public';
  }

  /** Checks a PIN for C_Login, counting failures in the store so they hold across processes. */
  async verify(userType: number, pin: Uint8Array): Promise<void> {
    const r = this.record;
    require(r.initialized, CKR.CKR_TOKEN_NOT_RECOGNIZED, 'token is not initialized');
    const isSo = userType === CKU.CKU_SO;
    const verifier = isSo ? r.soPin : r.userPin;
    require(verifier, CKR.CKR_USER_PIN_NOT_INITIALIZED);
    const failures = isSo ? r.soFailures : r.userFailures;
    require(failures < this.policy.maxLoginAttempts, CKR.CKR_PIN_LOCKED);
    const ok = await pinMatches(this.backend, verifier, pin);
    this.store.updateToken((cur) =>
      isSo ? { ...cur, soFailures: ok ? 0 : cur.soFailures + 1 } : { ...cur, userFailures: ok ? 0 : cur.userFailures + 1 },
    );
    require(ok, CKR.CKR_PIN_INCORRECT);
  }

  /** C_InitPIN: the SO sets the user PIN, which also unlocks it. */
  async setUserPin(pin: Uint8Array): Promise<void> {
    checkLength(pin, this.policy);
    const verifier = await makeVerifier(this.backend, pin);
    this.store.updateToken((r) => ({ ...r, userPin: verifier, userFailures: 0 }));
  }

  /** C_SetPIN for whoever the session acts as. */
  async changePin(asSo: boolean, oldPin: Uint8Array, newPin: Uint8Array): Promise<void> {
    await this.verify(asSo ? CKU.CKU_SO : CKU.CKU_USER, oldPin);
    checkLength(newPin, this.policy);
    const verifier = await makeVerifier(this.backend, newPin);
    this.store.updateToken((r) => (asSo ? { ...r, soPin: verifier } : { ...r, userPin: verifier }));
  }
}
