/**
 * The module-level state machine: PowerOff -> SelfTest -> Ready, and Error,
 * which only a new process leaves. See docs/ARCHITECTURE.md, "State machines".
 */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import { loadLibcryptoBackend, type NativeLibraryInfo } from '../backends/libcrypto';
import { ConfigError, loadConfig } from '../config/config';
import { log, setLogLevel } from '../log';
import { Hsm } from './hsm';

export enum ModuleState {
  PowerOff = 'PowerOff',
  SelfTest = 'SelfTest',
  Ready = 'Ready',
  Error = 'Error',
}

export class CratonModule {
  state = ModuleState.PowerOff;
  private hsm: Hsm | null = null;
  /** Calls of C_WaitForSlotEvent blocked until C_Finalize. */
  private readonly slotEventWaiters = new Set<() => void>();

  constructor(private readonly env: Readonly<Record<string, string | undefined>> = process.env) {}

  /** The running HSM; every call but C_Initialize goes through here. */
  ready(): Hsm {
    if (this.state === ModuleState.Error) throw new CkError(CKR.CKR_GENERAL_ERROR, 'module is in the error state');
    if (this.state !== ModuleState.Ready || !this.hsm) throw new CkError(CKR.CKR_CRYPTOKI_NOT_INITIALIZED);
    return this.hsm;
  }

  initialize(): void {
    if (this.state === ModuleState.Error) throw new CkError(CKR.CKR_GENERAL_ERROR, 'module is in the error state');
    if (this.state === ModuleState.Ready) throw new CkError(CKR.CKR_CRYPTOKI_ALREADY_INITIALIZED);
    let loaded;
    try {
      loaded = loadConfig(this.env);
    } catch (e) {
      if (e instanceof ConfigError) {
        log.error(e.message);
        throw new CkError(CKR.CKR_GENERAL_ERROR, e.message);
      }
      throw e;
    }
    setLogLevel(loaded.config.logging.level);
    this.state = ModuleState.SelfTest;
    const backend = loadLibcryptoBackend();
    // The power-on self-tests run here (the FIPS envelope fills them in).
    this.hsm = new Hsm(loaded.config, backend);
    this.state = ModuleState.Ready;
    log.info(`initialised from ${loaded.source}; backend ${backend.library.name} ${backend.library.version}; tokens in ${loaded.config.storage.path}`);
    logLibcryptoBinding(backend.details);
  }

  finalize(): void {
    const hsm = this.ready();
    for (const wake of this.slotEventWaiters) wake();
    this.slotEventWaiters.clear();
    hsm.close();
    this.hsm = null;
    this.state = ModuleState.PowerOff;
  }

  /** Parks a blocking C_WaitForSlotEvent until C_Finalize; there are no other slot events. */
  waitForSlotEvent(): Promise<void> {
    this.ready();
    return new Promise((resolve) => this.slotEventWaiters.add(resolve));
  }
}

/**
 * Which loaded object answers each libcrypto entry point the addon uses, as
 * the addon itself finds out: one object (the addon, whose libcrypto is
 * linked in privately) is the only safe answer.
 */
function logLibcryptoBinding(details: NativeLibraryInfo): void {
  const objects = new Set(Object.values(details.symbols));
  const entryPoints = Object.keys(details.symbols).length;
  if (details.consistent) log.info(`libcrypto: ${details.version}; all ${entryPoints} entry points served by ${details.boundTo ?? 'an unknown object'}`);
  else log.warn(`libcrypto: ${details.version}; entry points served by ${objects.size} objects: ${[...objects].join(', ')}`);
}
