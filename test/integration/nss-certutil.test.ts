/**
 * NSS: `modutil -add` puts the module into a fresh NSS database, `certutil -L -h all` sees
 * the token, and `certutil -R` generates RSA and EC keys in it and signs certificate
 * requests that openssl verifies.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_PATH, TRANSPORTS, USER_PIN, initialisedToken, runTool, sandbox, type Sandbox } from '../helpers/module';

describe.each(TRANSPORTS)('NSS modutil and certutil (%s)', (transport) => {
  let box: Sandbox;
  const file = (name: string) => join(box.dir, name);
  const db = () => `sql:${file('nssdb')}`;

  beforeAll(async () => {
    box = sandbox(transport);
    await initialisedToken(box.env);
    mkdirSync(file('nssdb'));
    writeFileSync(file('pin.txt'), `${USER_PIN}\n`);
    writeFileSync(file('noise'), randomBytes(64));
    const created = await runTool('certutil', ['-N', '-d', db(), '--empty-password'], box.env);
    expect(created.code, created.stderr).toBe(0);
  });
  afterAll(() => box.cleanup());

  it('modutil adds the module and lists its token', async () => {
    const add = await runTool('modutil', ['-dbdir', db(), '-add', 'craton', '-libfile', MODULE_PATH, '-force'], box.env);
    expect(add.code, add.stderr + add.stdout).toBe(0);
    const list = await runTool('modutil', ['-dbdir', db(), '-list'], box.env);
    expect(list.stdout).toMatch(/library name: .*libcraton_hsm\.so/);
    expect(list.stdout).toMatch(/token: test\n/);
    const certs = await runTool('certutil', ['-L', '-d', db(), '-h', 'all'], box.env);
    expect(certs.code, certs.stderr).toBe(0);
  });

  it.each([
    ['RSA', ['-k', 'rsa', '-g', '2048'], 'sha256WithRSAEncryption'],
    ['EC', ['-k', 'ec', '-q', 'nistp256'], 'ecdsa-with-SHA256'],
  ])('certutil generates an %s key in the token and signs a request openssl verifies', async (name, keyArgs, algorithm) => {
    const out = file(`req-${name}.der`);
    const req = await runTool('certutil', ['-R', '-d', db(), '-h', 'test', '-f', file('pin.txt'), '-s', `CN=craton ${name}`, ...keyArgs, '-z', file('noise'), '-o', out], box.env);
    expect(req.code, req.stderr).toBe(0);
    const verify = await runTool('openssl', ['req', '-inform', 'DER', '-in', out, '-verify', '-noout', '-text'], box.env);
    expect(verify.stderr + verify.stdout).toMatch(/verify OK/);
    expect(verify.stdout).toContain(`Signature Algorithm: ${algorithm}`);
    const keys = await runTool('certutil', ['-K', '-d', db(), '-h', 'test', '-f', file('pin.txt')], box.env);
    expect(keys.stdout).toMatch(new RegExp(`< ?\\d+> ${name.toLowerCase()} `));
  });
});
