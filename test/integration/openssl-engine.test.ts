/** OpenSSL, through libp11's pkcs11 engine, signs certificate requests with token keys; plain openssl verifies them. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_PATH, TRANSPORTS, USER_PIN, generateKeyPair, initialisedToken, pkcs11Tool, runTool, sandbox, type Sandbox } from '../helpers/module';

const ENGINE = '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so';

describe.each(TRANSPORTS)('openssl req through the pkcs11 engine (%s)', (transport) => {
  let box: Sandbox;
  let engineEnv: NodeJS.ProcessEnv;
  const file = (name: string) => join(box.dir, name);

  beforeAll(async () => {
    box = sandbox(transport);
    await initialisedToken(box.env);
    await generateKeyPair(box.env, 'RSA:2048', '01', 'rsa-key');
    await generateKeyPair(box.env, 'EC:prime256v1', '02', 'ec-key');
    // A config of our own, so that neither the system's openssl.cnf nor p11-kit's proxy decides which module the engine loads.
    const conf = file('openssl.cnf');
    writeFileSync(
      conf,
      [
        'openssl_conf = openssl_init',
        '[openssl_init]',
        'engines = engine_section',
        '[engine_section]',
        'pkcs11 = pkcs11_section',
        '[pkcs11_section]',
        'engine_id = pkcs11',
        `dynamic_path = ${ENGINE}`,
        `MODULE_PATH = ${MODULE_PATH}`,
        'init = 0',
        '',
      ].join('\n'),
    );
    engineEnv = { ...box.env, OPENSSL_CONF: conf };
  });
  afterAll(() => box.cleanup());

  /** The token's public key as PEM, read by pkcs11-tool rather than through the engine. */
  async function tokenPublicKey(id: string): Promise<string> {
    const der = file(`pub-${id}.der`);
    const read = await pkcs11Tool(box.env, '--read-object', '--type', 'pubkey', '--id', id, '-o', der);
    expect(read.code, read.stderr).toBe(0);
    const pem = await runTool('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', der], box.env);
    expect(pem.code, pem.stderr).toBe(0);
    return pem.stdout;
  }

  it.each([
    ['RSA-2048', '01', 'rsa-key', 'sha256WithRSAEncryption'],
    ['EC P-256', '02', 'ec-key', 'ecdsa-with-SHA256'],
  ])('signs a CSR with the %s key and openssl verifies it', async (_name, id, label, algorithm) => {
    const csr = file(`${label}.csr`);
    const req = await runTool(
      'openssl',
      ['req', '-new', '-engine', 'pkcs11', '-keyform', 'engine', '-key', `pkcs11:token=test;object=${label};type=private;pin-value=${USER_PIN}`, '-subj', `/CN=${label}`, '-sha256', '-out', csr],
      engineEnv,
    );
    expect(req.code, req.stderr).toBe(0);

    // Verification and inspection run without the engine: only the CSR itself vouches for the signature.
    const verify = await runTool('openssl', ['req', '-in', csr, '-verify', '-noout'], box.env);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout + verify.stderr).toMatch(/verify OK/);
    const text = await runTool('openssl', ['req', '-in', csr, '-noout', '-text'], box.env);
    expect(text.stdout).toContain(`Signature Algorithm: ${algorithm}`);
    expect(text.stdout).toContain(`Subject: CN = ${label}`);
    const pub = await runTool('openssl', ['req', '-in', csr, '-noout', '-pubkey'], box.env);
    expect(pub.stdout).toBe(await tokenPublicKey(id));
  });
});
