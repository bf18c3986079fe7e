/**
 * The module-level state machine (docs/SECURITY-POLICY.md): PowerOff ->
 * SelfTest (the power-on self-tests) -> Ready, and Error, which a failed
 * self-test, a failed health test or a failed pairwise consistency test
 * enters and only a new process leaves. In Error every call, C_Initialize
 * and C_Finalize included, is CKR_GENERAL_ERROR.
 */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { CryptoBackend } from '../backends/backend';
import type { NativeLibraryInfo } from '../backends/libcrypto';
import { noblePostQuantum } from '../backends/post-quantum';
import { BackendUnavailable, selectBackend } from '../backends/select';
import { macOnce } from '../backends/symmetric';
import { AuditLog, type AuditEvent } from '../audit/audit-log';
import { auditCall } from '../audit/audit-trail';
import type { Call } from '../dispatch/call';
import { ConfigError, loadConfig } from '../config/config';
import type { CallerAbi } from '../dispatch/caller-abi';
import { log, setLogFile, setLogLevel } from '../log';
import { osEntropy } from '../platform/os-services';
import { RandomSource } from '../random/random-source';
import { PAIRWISE_TEST_IDS } from '../self-tests/pairwise-consistency';
import { runPowerOnSelfTests, SELF_TEST_IDS, type PostReport } from '../self-tests/power-on-self-tests';
import { Hsm } from './hsm';

export enum ModuleState {
  PowerOff = 'PowerOff',
  SelfTest = 'SelfTest',
  Ready = 'Ready',
  Error = 'Error',
}

type Env = Readonly<Record<string, string | undefined>>;

export class CratonModule {
  state = ModuleState.PowerOff;
  private hsm: Hsm | null = null;
  private audit: AuditLog | null = null;
  /** The latest power-on self-test results (craton-admin status shows them). */
  post: PostReport | null = null;
  /** Calls of C_WaitForSlotEvent blocked until C_Finalize. */
  private readonly slotEventWaiters = new Set<() => void>();

  /** What the shim said of the caller (its library's path, for the integrity test); createDispatcher sets it. */
  host: () => CallerAbi | null = () => null;

  /** @param runtimeFile the runtime bundle this module runs from (the integrity test covers it), null in unit tests */
  constructor(
    private readonly env: Env = process.env,
    private readonly runtimeFile: string | null = null,
  ) {}

  /** The running HSM; every call but C_Initialize goes through here. */
  ready(): Hsm {
    if (this.state === ModuleState.Error) throw new CkError(CKR.CKR_GENERAL_ERROR, 'module is in the error state');
    if (this.state !== ModuleState.Ready || !this.hsm) throw new CkError(CKR.CKR_CRYPTOKI_NOT_INITIALIZED);
    return this.hsm;
  }

  async initialize(): Promise<void> {
    if (this.state === ModuleState.Error) throw new CkError(CKR.CKR_GENERAL_ERROR, 'module is in the error state');
    if (this.state !== ModuleState.PowerOff) throw new CkError(CKR.CKR_CRYPTOKI_ALREADY_INITIALIZED);
    this.state = ModuleState.SelfTest;
    try {
      await this.start();
    } catch (e) {
      if (this.state === ModuleState.SelfTest) this.state = ModuleState.PowerOff;
      throw e;
    }
  }

  private async start(): Promise<void> {
    let loaded;
    let backend: CryptoBackend & { details: NativeLibraryInfo };
    try {
      loaded = loadConfig(this.env);
      const fault = loaded.config.testing.fault;
      if (fault && ![...SELF_TEST_IDS, ...PAIRWISE_TEST_IDS].includes(fault)) {
        throw new ConfigError(`CRATON_HSM_TEST_FAULT=${fault} names no self-test (one of ${[...SELF_TEST_IDS, ...PAIRWISE_TEST_IDS].join(', ')})`);
      }
      backend = selectBackend(loaded.config.algorithms.cryptoBackend);
    } catch (e) {
      if (!(e instanceof ConfigError) && !(e instanceof BackendUnavailable)) throw e;
      log.error(e.message);
      throw new CkError(CKR.CKR_GENERAL_ERROR, e.message);
    }
    const { config } = loaded;
    setLogLevel(config.logging.level);
    setLogFile(config.logging.file);
    this.audit = config.audit.enabled ? new AuditLog(config.audit.path) : null;
    const abi = this.host();
    const report = await runPowerOnSelfTests({
      backend,
      pqc: noblePostQuantum,
      code: abi?.modulePath && this.runtimeFile ? { library: abi.modulePath, runtime: this.runtimeFile } : null,
      sidecarRequired: config.algorithms.fipsApprovedOnly,
      fault: config.testing.fault,
      env: this.env,
    });
    this.post = report;
    const kats = `${report.kats.filter((k) => k.passed).length}/${report.kats.length}`;
    this.record({ operation: 'SelfTest', slot: null, session: null, mechanism: null, fipsApproved: null, result: report.passed ? 'Success' : 'Failure', detail: { integrity: report.integrity.result, kats } });
    if (!report.passed) {
      this.enterErrorState('the power-on self-tests failed');
      throw new CkError(CKR.CKR_GENERAL_ERROR, 'the power-on self-tests failed');
    }
    const random = new RandomSource(
      (key, data) => macOnce(backend, { algorithm: 'hmac', digest: 'sha256', key }, data),
      osEntropy,
      (reason) => this.enterErrorState(reason),
    );
    // Every random value the TypeScript core draws comes from the DRBG.
    const drbgBackend: CryptoBackend = Object.freeze({ ...backend, randomBytes: (n: number) => random.bytes(n) });
    this.hsm = new Hsm(config, drbgBackend, random);
    this.state = ModuleState.Ready;
    this.record({ operation: 'Initialize', slot: null, session: null, mechanism: null, fipsApproved: null, result: 'Success', detail: { fips_approved_only: config.algorithms.fipsApprovedOnly } });
    log.info(`initialised from ${loaded.source}; backend ${backend.library.name} ${backend.library.version}; fips_approved_only=${config.algorithms.fipsApprovedOnly}; tokens in ${config.storage.path}`);
    logLibcryptoBinding(backend.details);
  }

  /** The audit trail's view of a call (audit/audit-trail.ts); nothing before the module is ready. */
  audited(call: Call): ((rv: number) => void) | null {
    const hsm = this.hsm;
    if (!hsm || !this.audit) return null;
    return auditCall(hsm, call, (event) => this.record(event));
  }

  /** Appends to the audit log, if it is kept; an audit failure is logged, never fatal to the call. */
  record(event: AuditEvent): void {
    try {
      this.audit?.append(event);
    } catch (e) {
      log.error(`audit log ${this.audit?.path}: ${(e as Error).message}`);
    }
  }

  /** Leaves every key and session behind: nothing works again in this process. */
  enterErrorState(reason: string): void {
    if (this.state === ModuleState.Error) return;
    log.error(`entering the error state: ${reason}`);
    this.record({ operation: 'ErrorState', slot: null, session: null, mechanism: null, fipsApproved: null, result: 'Failure', detail: { reason } });
    this.state = ModuleState.Error;
    for (const wake of this.slotEventWaiters) wake();
    this.slotEventWaiters.clear();
    this.hsm?.close();
    this.hsm = null;
  }

  finalize(): void {
    const hsm = this.ready();
    for (const wake of this.slotEventWaiters) wake();
    this.slotEventWaiters.clear();
    hsm.close();
    this.hsm = null;
    this.record({ operation: 'Finalize', slot: null, session: null, mechanism: null, fipsApproved: null, result: 'Success' });
    this.audit?.close();
    this.audit = null;
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
