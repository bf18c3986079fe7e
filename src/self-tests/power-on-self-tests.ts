/**
 * The power-on self-tests C_Initialize runs: the software integrity test,
 * then the 16 known-answer tests. Any failure leaves the module in its
 * error state (module/module.ts). The two info-level log lines are the ones
 * seed 004 documents.
 */
import type { CryptoBackend } from '../backends/backend';
import type { PostQuantumCrypto } from '../backends/post-quantum';
import { log } from '../log';
import { checkIntegrity, type IntegrityOutcome } from './integrity';
import { KNOWN_ANSWER_TESTS } from './known-answer-tests';

export interface TestResult {
  readonly id: string;
  readonly family: string;
  readonly passed: boolean;
  readonly detail?: string;
}

export interface PostReport {
  readonly integrity: IntegrityOutcome;
  readonly kats: readonly TestResult[];
  readonly passed: boolean;
}

export interface PostInputs {
  readonly backend: CryptoBackend;
  readonly pqc: PostQuantumCrypto;
  /** The library and runtime bundle the integrity test covers; null when not running from a built module (unit tests). */
  readonly code: { readonly library: string; readonly runtime: string } | null;
  /** Whether a missing sidecar fails the test (approved-only mode) rather than skipping it. */
  readonly sidecarRequired: boolean;
  /** The test-only fault switch: the id of the test to fail ("integrity", "kat:<id>"), or null. */
  readonly fault: string | null;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The ids the fault switch takes: the integrity test and each known-answer test. */
export const SELF_TEST_IDS: readonly string[] = ['integrity', ...KNOWN_ANSWER_TESTS.map((t) => `kat:${t.id}`)];

function integrityOf(inputs: PostInputs): IntegrityOutcome {
  if (inputs.fault === 'integrity') return { result: 'FAILED', detail: 'failed by the test-only fault switch' };
  if (!inputs.code) return inputs.sidecarRequired ? { result: 'FAILED', detail: 'no module files to check' } : { result: 'SKIPPED', detail: 'not running from a built module' };
  const outcome = checkIntegrity(inputs.code.library, inputs.code.runtime, inputs.env);
  if (outcome.result === 'SKIPPED' && inputs.sidecarRequired) return { result: 'FAILED', detail: `${outcome.detail}, and approved-only mode requires one` };
  return outcome;
}

export async function runPowerOnSelfTests(inputs: PostInputs): Promise<PostReport> {
  const integrity = integrityOf(inputs);
  if (integrity.result === 'OK') log.info('POST: integrity=OK');
  else if (integrity.result === 'SKIPPED') {
    log.info('POST: integrity=SKIPPED (no sidecar)');
    log.warn(`POST: the integrity test was skipped: ${integrity.detail}`);
  } else log.error(`POST: integrity=FAILED (${integrity.detail})`);

  const ctx = { backend: inputs.backend, pqc: inputs.pqc, fault: (id: string) => inputs.fault === `kat:${id}` };
  const kats: TestResult[] = [];
  for (const test of KNOWN_ANSWER_TESTS) {
    try {
      await test.run(ctx);
      kats.push({ id: test.id, family: test.family, passed: true });
    } catch (e) {
      kats.push({ id: test.id, family: test.family, passed: false, detail: (e as Error).message });
    }
  }
  const passedKats = kats.filter((k) => k.passed).length;
  const families = [...new Set(kats.map((k) => k.family))].join(', ');
  const line = `POST: KATs ${passedKats}/${kats.length} passed (${families})`;
  if (passedKats === kats.length) log.info(line);
  else {
    log.error(line);
    for (const k of kats.filter((t) => !t.passed)) log.error(`POST: ${k.id} failed: ${k.detail}`);
  }
  return { integrity, kats, passed: integrity.result !== 'FAILED' && passedKats === kats.length };
}
