/**
 * The power-on self-tests through real consumers: pkcs11-tool shows the two
 * POST log lines; the integrity test passes against the sidecar the .sh
 * script writes and fails when any covered file changes; the test-only
 * fault switch fails each of the 17 tests in turn, and a C program
 * (error_state_probe.c) sees every later call, C_Finalize and a new
 * C_Initialize included, answer CKR_GENERAL_ERROR.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coveredFiles, INTEGRITY_KEY_HEX, manifestHmac } from '../../src/self-tests/integrity';
import { SELF_TEST_IDS } from '../../src/self-tests/power-on-self-tests';
import { MODULE_PATH, ROOT, TRANSPORTS, pkcs11Tool, runTool, sandbox, sealedModuleCopy, type Sandbox } from '../helpers/module';

const INFO = '[logging]\nlevel = "info"\n';
const KAT_LINE = 'POST: KATs 16/16 passed (SHA-2, SHA-3, HMAC, AES-GCM, AES-CBC, AES-CTR, RSA, ECDSA, ML-DSA, ML-KEM, RNG, DRBG)';

let probe: string;
let work: string;
/** A copy of the built module laid out as it is deployed, so changing its files disturbs no other test. */
let copy: { dir: string; lib: string; runtime: string; addon: string };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'craton-post-'));
  probe = join(work, 'error_state_probe');
  execFileSync('cc', ['-std=c11', '-Wall', '-I', join(ROOT, 'shim'), '-o', probe, join(ROOT, 'test/self-tests/error_state_probe.c'), '-ldl']);
  const sealed = sealedModuleCopy();
  rmSync(join(sealed.dir, 'lib', 'libcraton_hsm.hmac'));
  copy = { dir: sealed.dir, lib: sealed.lib, runtime: sealed.runtime, addon: join(sealed.addons, 'craton_os.node') };
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(copy.dir, { recursive: true, force: true });
});

/** The CK_RVs error_state_probe saw, in order. */
function probeRvs(env: NodeJS.ProcessEnv, lib = MODULE_PATH): string[] {
  const out = execFileSync(probe, [lib], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.trim().split('\n').map((l) => l.split(' ')[1] as string);
}

const ALL_GENERAL_ERROR = Array(6).fill('0x5');
const HEALTHY = ['0x0', '0x0', '0x0', '0x0', '0x0', '0x0'];

describe.each(TRANSPORTS)('power-on self-tests (%s transport)', (transport) => {
  let box: Sandbox;
  beforeAll(() => {
    box = sandbox(transport, {}, INFO);
  });
  afterAll(() => box.cleanup());

  it('logs the two POST lines of seed 004 and initialises', async () => {
    const r = await pkcs11Tool(box.env, '-I');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('craton-hsm info: POST: integrity=SKIPPED (no sidecar)');
    expect(r.stderr).toMatch(/craton-hsm warn: POST: the integrity test was skipped/);
    expect(r.stderr).toContain(`craton-hsm info: ${KAT_LINE}`);
    expect(probeRvs(box.env)).toEqual(HEALTHY);
  });

  it.each(SELF_TEST_IDS)('a failure of %s locks the module until the process ends', (id) => {
    expect(SELF_TEST_IDS).toHaveLength(17);
    expect(probeRvs({ ...box.env, CRATON_HSM_TEST_FAULT: id })).toEqual(ALL_GENERAL_ERROR);
  });

  it('names the failed test in the log and the audit log', async () => {
    const r = await runTool(probe, [MODULE_PATH], { ...box.env, CRATON_HSM_TEST_FAULT: 'kat:aes-ctr' });
    expect(r.stderr).toContain('POST: KATs 15/16 passed');
    expect(r.stderr).toContain('POST: aes-ctr failed: aes-ctr: output differs from the known answer');
    const records = readFileSync(join(box.dir, 'tokens', 'audit.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(records.at(-2)).toMatchObject({ operation: { SelfTest: { integrity: 'SKIPPED', kats: '15/16' } }, result: 'Failure' });
    expect(records.at(-1)).toMatchObject({ operation: { ErrorState: { reason: 'the power-on self-tests failed' } }, result: 'Failure' });
  });

  it('refuses an unknown fault name, and any fault in approved-only mode', () => {
    expect(probeRvs({ ...box.env, CRATON_HSM_TEST_FAULT: 'kat:nonesuch' })[0]).toBe('0x5');
    const fips = sandbox(transport, { CRATON_HSM_TEST_FAULT: 'kat:sha-256' }, '[algorithms]\nfips_approved_only = true\n');
    try {
      const r = execFileSync(probe, [MODULE_PATH], { env: fips.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(r.split('\n')[0]).toBe('C_Initialize 0x5');
    } finally {
      fips.cleanup();
    }
  });
});

describe('the integrity sidecar', () => {
  let box: Sandbox;
  beforeAll(() => {
    box = sandbox('embedded', {}, INFO);
  });
  afterAll(() => box.cleanup());
  const sidecar = () => join(copy.dir, 'lib', 'libcraton_hsm.hmac');
  const computeSidecar = () => execFileSync('bash', [join(ROOT, 'tools', 'compute-integrity-hmac.sh'), copy.lib], { encoding: 'utf8' });

  it('the .sh script writes the HMAC of the manifest the module checks', () => {
    computeSidecar();
    const written = readFileSync(sidecar(), 'utf8').trim();
    expect(written).toBe(manifestHmac(coveredFiles(copy.lib, copy.runtime, {})));
    expect(written).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each(TRANSPORTS)('passes with the sidecar, and fails when a covered file changes (%s)', async (transport) => {
    computeSidecar();
    const env = { ...box.env, CRATON_HSM_RUNTIME: transport };
    const ok = await runTool('pkcs11-tool', ['--module', copy.lib, '-I'], env);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('POST: integrity=OK');
    for (const changed of [copy.runtime, copy.addon, copy.lib]) {
      const original = readFileSync(changed);
      // A comment keeps the bundle valid JavaScript: only the integrity test can notice it.
      appendFileSync(changed, changed.endsWith('.js') ? '\n// changed\n' : Buffer.from([0]));
      try {
        const bad = await runTool('pkcs11-tool', ['--module', copy.lib, '-I'], env);
        expect(bad.code, changed).not.toBe(0);
        expect(bad.stderr).toContain('POST: integrity=FAILED');
        expect(probeRvs(env, copy.lib)).toEqual(ALL_GENERAL_ERROR);
      } finally {
        writeFileSync(changed, original);
      }
    }
  });

  it('is mandatory in approved-only mode', () => {
    rmSync(sidecar(), { force: true });
    const fips = sandbox('embedded', {}, `${INFO}[algorithms]\nfips_approved_only = true\n`);
    try {
      expect(probeRvs(fips.env, copy.lib)).toEqual(ALL_GENERAL_ERROR);
      computeSidecar();
      expect(probeRvs(fips.env, copy.lib)).toEqual(HEALTHY);
    } finally {
      fips.cleanup();
    }
  });

  it('the .ps1 script uses the same key, roles and order (no PowerShell on Debian: compared as text)', () => {
    const ps1 = readFileSync(join(ROOT, 'tools', 'compute-integrity-hmac.ps1'), 'utf8');
    const sh = readFileSync(join(ROOT, 'tools', 'compute-integrity-hmac.sh'), 'utf8');
    expect(ps1).toContain(`$KeyHex = '${INTEGRITY_KEY_HEX}'`);
    expect(sh).toContain(`KEY_HEX=${INTEGRITY_KEY_HEX}`);
    const roles = coveredFiles('/l/libcraton_hsm.so', '/d/runtime.js', {}).map((f) => `${f.role}:${f.required}`);
    const ps1Roles = [...ps1.matchAll(/@\('([a-z-]+)', .*?, \$(true|false)\)/g)].map((m) => `${m[1]}:${m[2]}`);
    const shRoles = [...sh.matchAll(/^\s+"([a-z-]+)\|.*\|([01])"$/gm)].map((m) => `${m[1]}:${m[2] === '1'}`);
    expect(ps1Roles).toEqual(roles);
    expect(shRoles).toEqual(roles);
    // Both write "<role>:<size>\n" and then the bytes, per file.
    expect(ps1).toContain('"${role}:$($bytes.Length)`n"');
    expect(sh).toContain(`printf '%s:%d\\n' "$role"`);
  });
});
