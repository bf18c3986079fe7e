/**
 * One token: its persistent record (through a TokenStore), who is logged in
 * for this application, and PIN management (PKCS#11 3.0 sections 5.5-5.6).
 * A login unwraps the token master key with the PIN; a wrong PIN is simply a
 * wrap that does not authenticate.
 */
import { CKF_TOKEN, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { CryptoBackend } from '../backends/backend';
import { newMasterKey, unwrapMasterKey, wrapMasterKey } from '../store/at-rest';
import type { TokenRecord, TokenStore } from '../store/token-store';

export type LoginState = 'public' | 'user' | 'so';

export interface PinPolicy {
  readonly minLength: number;
  readonly maxLength: number;
  readonly maxLoginAttempts: number;
}

export class Token {
  private state: LoginState = 'public';
  private masterKey: Uint8Array | null = null;
  private loginEpoch = -1;
  private opened: TokenStore | null = null;

  constructor(
    readonly slotId: number,
    private readonly openStore: () => TokenStore,
    private readonly backend: CryptoBackend,
    readonly policy: PinPolicy,
  ) {}

  /** The store, opened on first use: a broken token file fails calls on this token only. */
  get store(): TokenStore {
    this.opened ??= this.openStore();
    return this.opened;
  }

  get record(): TokenRecord {
    const r = this.store.readToken();
    // Another process re-initialised the token: this application's login is gone.
    if (this.state !== 'public' && r.epoch !== this.loginEpoch) this.logout();
    return r;
  }

  get loginState(): LoginState {
    if (this.state !== 'public') void this.record;
    return this.state;
  }

  /** CK_TOKEN_INFO flags, computed from the record. */
  flags(): number {
    const r = this.record;
    let f = CKF_TOKEN.CKF_RNG | CKF_TOKEN.CKF_LOGIN_REQUIRED | CKF_TOKEN.CKF_CLOCK_ON_TOKEN;
    if (r.initialized) f |= CKF_TOKEN.CKF_TOKEN_INITIALIZED;
    if (r.userKey) f |= CKF_TOKEN.CKF_USER_PIN_INITIALIZED;
    const max = this.policy.maxLoginAttempts;
    if (r.userFailures > 0) f |= CKF_TOKEN.CKF_USER_PIN_COUNT_LOW;
    if (r.userFailures === max - 1) f |= CKF_TOKEN.CKF_USER_PIN_FINAL_TRY;
    if (r.userFailures >= max) f |= CKF_TOKEN.CKF_USER_PIN_LOCKED;
    if (r.soFailures > 0) f |= CKF_TOKEN.CKF_SO_PIN_COUNT_LOW;
    if (r.soFailures === max - 1) f |= CKF_TOKEN.CKF_SO_PIN_FINAL_TRY;
    if (r.soFailures >= max) f |= CKF_TOKEN.CKF_SO_PIN_LOCKED;
    return f >>> 0;
  }

  private checkLength(pin: Uint8Array): void {
    require(pin.length >= this.policy.minLength && pin.length <= this.policy.maxLength, CKR.CKR_PIN_LEN_RANGE);
  }

  /**
   * Unwraps the master key with a PIN, counting failures in the store so the
   * count holds across processes; a locked PIN is not even tried.
   */
  private async unlockWith(role: 'so' | 'user', pin: Uint8Array): Promise<Uint8Array> {
    const r = this.record;
    require(r.initialized, CKR.CKR_TOKEN_NOT_RECOGNIZED, 'token is not initialized');
    const wrapped = role === 'so' ? r.soKey : r.userKey;
    require(wrapped, CKR.CKR_USER_PIN_NOT_INITIALIZED);
    require((role === 'so' ? r.soFailures : r.userFailures) < this.policy.maxLoginAttempts, CKR.CKR_PIN_LOCKED);
    const key = await unwrapMasterKey(this.backend, wrapped, pin, role);
    const failed = key === null;
    this.store.updateToken((cur) =>
      role === 'so' ? { ...cur, soFailures: failed ? cur.soFailures + 1 : 0 } : { ...cur, userFailures: failed ? cur.userFailures + 1 : 0 },
    );
    if (!key) throw new CkError(CKR.CKR_PIN_INCORRECT);
    return key;
  }

  /** C_InitToken: sets (or checks) the SO PIN, makes a new master key, and wipes every object. */
  async initialize(soPin: Uint8Array, label: string): Promise<void> {
    this.checkLength(soPin);
    const current = this.record;
    if (current.initialized) (await this.unlockWith('so', soPin)).fill(0);
    const masterKey = newMasterKey(this.backend);
    try {
      this.store.reinitialize({
        label,
        serial: current.serial,
        initialized: true,
        epoch: current.epoch + 1,
        soKey: await wrapMasterKey(this.backend, masterKey, soPin, 'so'),
        userKey: null,
        soFailures: 0,
        userFailures: 0,
      });
    } finally {
      masterKey.fill(0);
    }
    this.logout();
  }

  async login(role: 'so' | 'user', pin: Uint8Array): Promise<void> {
    const key = await this.unlockWith(role, pin);
    this.masterKey = key;
    this.loginEpoch = this.store.readToken().epoch;
    this.store.unlock(key);
    this.state = role;
  }

  /** C_Login(CKU_CONTEXT_SPECIFIC): proves the user PIN again without changing the login. */
  async reauthenticate(pin: Uint8Array): Promise<void> {
    (await this.unlockWith('user', pin)).fill(0);
  }

  logout(): void {
    this.masterKey?.fill(0);
    this.masterKey = null;
    this.opened?.lock();
    this.state = 'public';
  }

  /** C_InitPIN: the SO (who holds the master key) wraps it under the new user PIN, which also unlocks it. */
  async setUserPin(pin: Uint8Array): Promise<void> {
    this.checkLength(pin);
    require(this.masterKey, CKR.CKR_USER_NOT_LOGGED_IN);
    const userKey = await wrapMasterKey(this.backend, this.masterKey, pin, 'user');
    this.store.updateToken((r) => ({ ...r, userKey, userFailures: 0 }));
  }

  /** C_SetPIN: re-wraps the master key under the new PIN; objects stay as they are. */
  async changePin(role: 'so' | 'user', oldPin: Uint8Array, newPin: Uint8Array): Promise<void> {
    const key = await this.unlockWith(role, oldPin);
    try {
      this.checkLength(newPin);
      const wrapped = await wrapMasterKey(this.backend, key, newPin, role);
      this.store.updateToken((r) => (role === 'so' ? { ...r, soKey: wrapped } : { ...r, userKey: wrapped }));
    } finally {
      key.fill(0);
    }
  }

  close(): void {
    this.logout();
    this.opened?.close();
    this.opened = null;
  }
}
