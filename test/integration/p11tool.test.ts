/**
 * GnuTLS: p11tool lists the token and generates keys in it; certtool self-signs with them; openssl verifies.
 * p11-kit initialises modules with CKF_LIBRARY_CANT_CREATE_OS_THREADS, so the module picks the
 * process transport by itself (the embedded runtime needs a thread of its own in the host).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_PATH, USER_PIN, initialisedToken, runTool, sandbox, type Sandbox } from '../helpers/module';

const TOKEN_URL = 'pkcs11:token=test';

describe('p11tool and certtool (the transport the module picks)', () => {
  let box: Sandbox;
  const file = (name: string) => join(box.dir, name);
  // GNUTLS_PIN answers every PIN prompt; --batch makes a missing answer an error rather than a hang.
  const p11tool = (...args: string[]) => runTool('p11tool', ['--provider', MODULE_PATH, '--batch', ...args], box.env);

  beforeAll(async () => {
    box = sandbox('process', { GNUTLS_PIN: USER_PIN });
    delete box.env.CRATON_HSM_RUNTIME;
    await initialisedToken(box.env);
  });
  afterAll(() => box.cleanup());

  it('lists the token', async () => {
    const r = await p11tool('--list-tokens');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Label: test\n/);
    expect(r.stdout).toMatch(/URL: pkcs11:[^\n]*manufacturer=Craton%20HSM;[^\n]*token=test\n/);
  });

  it.each([
    ['RSA', ['--bits', '2048'], '11', 'Private key (RSA-2048)'],
    ['ECDSA', ['--curve', 'secp256r1'], '12', 'Private key (EC/ECDSA-SECP256R1)'],
  ])('generates an %s key, lists it, and certtool self-signs with it', async (algorithm, size, id, type) => {
    const label = `gnutls-${algorithm.toLowerCase()}`;
    const pub = file(`${label}.pub`);
    const gen = await p11tool('--login', '--generate-privkey', algorithm, ...size, '--label', label, '--id', id, '--outfile', pub, TOKEN_URL);
    expect(gen.code, gen.stderr).toBe(0);

    const privs = await p11tool('--login', '--list-privkeys', TOKEN_URL);
    expect(privs.code, privs.stderr).toBe(0);
    expect(privs.stdout).toContain(`id=%${id};object=${label};type=private\n\tType: ${type}\n\tLabel: ${label}\n`);
    const all = await p11tool('--login', '--list-all', TOKEN_URL);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain(`object=${label};type=public`);
    expect(all.stdout).toContain(`object=${label};type=private`);

    const template = file('template');
    writeFileSync(template, 'cn = "craton test"\nserial = 1\nexpiration_days = 30\nca\ncert_signing_key\nsigning_key\n');
    const cert = file(`${label}.crt`);
    const sign = await runTool(
      'certtool',
      ['--provider', MODULE_PATH, '--generate-self-signed', '--load-privkey', `${TOKEN_URL};object=${label};type=private`, '--load-pubkey', pub, '--template', template, '--outfile', cert],
      box.env,
    );
    expect(sign.code, sign.stderr).toBe(0);

    const verify = await runTool('openssl', ['verify', '-CAfile', cert, cert], box.env);
    expect(verify.stdout, verify.stderr).toBe(`${cert}: OK\n`);
    const certKey = await runTool('openssl', ['x509', '-in', cert, '-noout', '-pubkey'], box.env);
    const tokenKey = await runTool('openssl', ['pkey', '-pubin', '-in', pub], box.env);
    expect(certKey.stdout).toBe(tokenKey.stdout);
  });

  it('an explicitly embedded runtime refuses p11-kit (CKR_NEED_TO_CREATE_THREADS) rather than start a thread', async () => {
    const r = await runTool('p11tool', ['--provider', MODULE_PATH, '--batch', '--list-tokens'], { ...box.env, CRATON_HSM_RUNTIME: 'embedded' });
    expect(r.stdout).not.toMatch(/Label: test\n/);
  });
});
