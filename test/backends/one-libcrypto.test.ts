/**
 * One libcrypto per process, known for certain: in each runtime (embedded in
 * pkcs11-tool, and a nodesource `node` child that exports its own bundled
 * OpenSSL) and with each build of the addon, the addon reports at
 * C_Initialize which object served every libcrypto entry point it uses.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, TRANSPORTS, pkcs11Tool, sandbox, type Sandbox } from '../helpers/module';

const BUILDS = [
  { name: 'OpenSSL', dir: join(ROOT, 'build', 'Release'), version: () => execFileSync('openssl', ['version']).toString().split(' ').slice(0, 2).join(' ') },
  { name: 'AWS-LC', dir: join(ROOT, 'build-awslc', 'Release'), version: () => 'AWS-LC ' },
] as const;

describe.each(TRANSPORTS)('the libcrypto behind each entry point (%s transport)', (transport) => {
  let box: Sandbox;
  beforeAll(() => {
    box = sandbox(transport, {}, '[logging]\nlevel = "info"\n');
  });
  afterAll(() => box.cleanup());

  it.each(BUILDS)('$name build: every entry point is the addon\'s own libcrypto, the version C_GetInfo reports', async ({ dir, version }) => {
    const addon = join(dir, 'craton_crypto.node');
    expect(existsSync(addon), `${addon} is built by the test command`).toBe(true);
    const r = await pkcs11Tool({ ...box.env, CRATON_HSM_ADDON_DIR: dir }, '--show-info');
    expect(r.code, r.stderr).toBe(0);
    const line = /craton-hsm info: libcrypto: (.+); all (\d+) entry points served by (.+)\n/.exec(r.stderr);
    expect(line, r.stderr).not.toBeNull();
    const [, reported, count, servedBy] = line ?? [];
    // Printed for the record: which library and version answered, from inside the addon.
    console.log(`${transport}: ${reported} (${count} entry points) served by ${servedBy}`);
    expect(servedBy).toBe(addon);
    expect(Number(count)).toBeGreaterThan(10);
    expect(reported?.startsWith(version())).toBe(true);
    const shortVersion = reported?.split(' ')[1] ?? '';
    expect(r.stdout).toContain(`Craton HSM (${reported?.split(' ')[0]} ${shortVersion})`);
  });
});
