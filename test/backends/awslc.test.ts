/**
 * The AWS-LC variant of the craton_crypto addon (npm run build:addon:awslc,
 * build-awslc/Release/craton_crypto.node: a static AWS-LC with its symbols
 * hidden).  When that build exists, this runs every other test file of
 * test/backends against it in a child vitest (CRATON_HSM_ADDON_DIR points
 * the backend loader there), and checks what only AWS-LC does.  Without the
 * build the suite is skipped, saying so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { BackendError } from '../../src/backends/backend';
import { ADDON_DIR_ENV, loadLibcryptoBackend } from '../../src/backends/libcrypto';

const ROOT = process.cwd();
const AWSLC_DIR = path.resolve(ROOT, 'build-awslc', 'Release');
const ADDON = path.join(AWSLC_DIR, 'craton_crypto.node');
const HERE = path.join('test', 'backends');
const SELF = 'awslc.test.ts';

const built = existsSync(ADDON);
// A run that already points the loader somewhere (e.g. the child run below) does not nest.
const nested = (process.env[ADDON_DIR_ENV] ?? '') !== '';
const title = !built
  ? `AWS-LC backend (SKIPPED: ${path.relative(ROOT, ADDON)} is missing; build it with "npm run build:addon:awslc")`
  : nested
    ? `AWS-LC backend (SKIPPED: ${ADDON_DIR_ENV} is already set)`
    : 'AWS-LC backend (build-awslc/Release)';

async function rejectCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BackendError);
    return (err as BackendError).code;
  }
  return undefined;
}

interface JsonReport {
  success: boolean;
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { name: string; assertionResults: { fullName: string; status: string; failureMessages?: string[] }[] }[];
}

describe.skipIf(!built || nested)(title, () => {
  it('is AWS-LC 5.5.0, linked in statically: every entry point is the addon itself', () => {
    const backend = loadLibcryptoBackend(ADDON);
    const info = backend.details;
    expect(backend.name).toBe('awslc');
    expect(backend.addonPath).toBe(ADDON);
    expect(info.name).toBe('AWS-LC');
    expect(info.configured).toBe('awslc');
    expect(info.version).toBe('AWS-LC 5.5.0');
    expect(backend.library).toEqual({ name: 'AWS-LC', version: 'AWS-LC 5.5.0' });
    expect(info.compiledVersion).toContain('AWS-LC 5.5.0');
    expect(info.consistent).toBe(true);
    expect(info.boundToMainProgram).toBe(false);
    expect(info.boundTo).toBe(ADDON);
    expect(Object.keys(info.symbols).length).toBeGreaterThan(10);
    for (const where of Object.values(info.symbols)) expect(where).toBe(ADDON);
  });

  it('reports Ed448 and X448 (absent from AWS-LC) as ALGORITHM_UNSUPPORTED', async () => {
    const backend = loadLibcryptoBackend(ADDON);
    expect(await rejectCode(backend.generateKeyPair({ type: 'eddsa', curve: 'Ed448' }))).toBe('ALGORITHM_UNSUPPORTED');
    expect(await rejectCode(backend.generateKeyPair({ type: 'xdh', curve: 'X448' }))).toBe('ALGORITHM_UNSUPPORTED');
    expect(await rejectCode(backend.importKey({ type: 'eddsa', curve: 'Ed448', publicKey: new Uint8Array(57) }))).toBe(
      'ALGORITHM_UNSUPPORTED',
    );
    expect(await rejectCode(backend.importKey({ type: 'xdh', curve: 'X448', publicKey: new Uint8Array(56) }))).toBe(
      'ALGORITHM_UNSUPPORTED',
    );
  });

  it('refuses RSA generation it would not do as asked (sizes not a multiple of 128 bits, exponents over 32 bits)', async () => {
    const backend = loadLibcryptoBackend(ADDON);
    const f4 = new Uint8Array([1, 0, 1]);
    expect(await rejectCode(backend.generateKeyPair({ type: 'rsa', bits: 1032, publicExponent: f4 }))).toBe('ARGUMENT');
    expect(
      await rejectCode(backend.generateKeyPair({ type: 'rsa', bits: 2048, publicExponent: new Uint8Array([1, 0, 0, 0, 1]) })),
    ).toBe('ARGUMENT');
    const pair = await backend.generateKeyPair({ type: 'rsa', bits: 1152, publicExponent: f4 });
    expect(pair.privateKey.bits).toBe(1152);
  });

  it('passes the backend test suites (every other file of test/backends)', () => {
    const files = readdirSync(path.resolve(ROOT, HERE))
      .filter((f) => f.endsWith('.test.ts') && f !== SELF)
      .sort()
      .map((f) => path.join(HERE, f));
    expect(files.length).toBeGreaterThan(0);
    const out = mkdtempSync(path.join(tmpdir(), 'craton-awslc-'));
    const reportFile = path.join(out, 'report.json');
    try {
      const vitest = path.resolve(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
      // One file at a time: the suites include timing checks (pbkdf2 off the JS thread)
      // that do not want to share the 2 cores with each other.
      const run = spawnSync(
        process.execPath,
        [vitest, 'run', ...files, '--no-file-parallelism', '--reporter=json', `--outputFile=${reportFile}`],
        {
          cwd: ROOT,
          env: { ...process.env, [ADDON_DIR_ENV]: AWSLC_DIR, CI: '1' },
          encoding: 'utf8',
          timeout: 280_000,
          maxBuffer: 64 * 1024 * 1024,
        },
      );
      expect(existsSync(reportFile), `child vitest wrote no report:\n${run.stderr}\n${run.stdout}`.slice(0, 4000)).toBe(true);
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as JsonReport;
      const failed = report.testResults.flatMap((f) =>
        f.assertionResults
          .filter((a) => a.status === 'failed')
          .map((a) => `${path.relative(ROOT, f.name)} > ${a.fullName}\n  ${(a.failureMessages ?? []).join('\n  ').slice(0, 600)}`),
      );
      console.log(
        `AWS-LC backend suites: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ` +
          `${report.numPendingTests + report.numTodoTests} skipped of ${report.numTotalTests} (${files.join(', ')})`,
      );
      expect(failed, failed.join('\n')).toEqual([]);
      expect(report.numFailedTests).toBe(0);
      expect(report.numPassedTests).toBeGreaterThan(100);
      expect(run.status, run.stderr.slice(-4000)).toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});
