/** pkcs11-tool generates RSA, EC, Ed25519 and X25519 key pairs and signs; the openssl CLI verifies (seed 004's walk-through among them). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_PATH, USER_PIN, initialisedToken, pkcs11Tool, runTool, sandbox, type Sandbox } from '../helpers/module';

describe.each(['embedded', 'process'] as const)('RSA and EC through pkcs11-tool, verified by openssl (%s)', (transport) => {
  let box: Sandbox;
  let input: string;
  const file = (name: string) => join(box.dir, name);
  const p11 = (...args: string[]) => pkcs11Tool(box.env, ...args);

  /**
   * Exports a public key as PEM for openssl: RSA keys through pkcs11-tool; EC keys
   * through their CKA_PUBLIC_KEY_INFO read with PyKCS11, because this pkcs11-tool
   * (OpenSC 0.23) cannot export P-384 public keys from any module (SoftHSMv2 fails too).
   */
  async function publicPem(id: string, viaAttribute = false): Promise<string> {
    const der = file(`pub-${id}.der`);
    if (viaAttribute) {
      const script = [
        'import sys, PyKCS11',
        'lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])',
        's = lib.openSession(lib.getSlotList()[0])',
        'o = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_ID, bytes.fromhex(sys.argv[2]))])[0]',
        'open(sys.argv[3], "wb").write(bytes(s.getAttributeValue(o, [PyKCS11.CKA_PUBLIC_KEY_INFO])[0]))',
      ].join('\n');
      const r = await runTool('/usr/bin/python3', ['-c', script, MODULE_PATH, id, der], box.env);
      expect(r.code, r.stderr).toBe(0);
    } else {
      expect((await p11('--read-object', '--type', 'pubkey', '--id', id, '-o', der)).code).toBe(0);
    }
    const pem = file(`pub-${id}.pem`);
    expect((await runTool('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', der, '-out', pem], box.env)).code).toBe(0);
    return pem;
  }

  async function sign(mechanism: string, id: string, out: string, ...extra: string[]): Promise<void> {
    const r = await p11('--login', '--pin', USER_PIN, '--sign', '-m', mechanism, '--id', id, '-i', input, '-o', out, ...extra);
    expect(r.code, r.stderr).toBe(0);
  }

  beforeAll(async () => {
    box = sandbox(transport);
    await initialisedToken(box.env);
    input = file('in.txt');
    writeFileSync(input, 'hello fips\n');
  });
  afterAll(() => box.cleanup());

  it('generates an RSA-2048 pair whose private half is sensitive and local', async () => {
    const gen = await p11('--login', '--pin', USER_PIN, '--keypairgen', '--key-type', 'RSA:2048', '--label', 'fips-test', '--id', '01');
    expect(gen.code, gen.stderr).toBe(0);
    expect(gen.stdout).toMatch(/Private Key Object; RSA/);
    expect(gen.stdout).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
    expect(gen.stdout).toMatch(/Public Key Object; RSA 2048 bits/);
  });

  it.each([
    ['SHA256-RSA-PKCS', ['-sha256']],
    ['SHA384-RSA-PKCS', ['-sha384']],
    ['SHA512-RSA-PKCS', ['-sha512']],
    ['SHA256-RSA-PKCS-PSS', ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:-1']],
  ])('signs with %s and openssl verifies', async (mechanism, opts) => {
    const sig = file(`${mechanism}.sig`);
    await sign(mechanism, '01', sig);
    const verify = await runTool('openssl', ['dgst', ...opts, '-verify', await publicPem('01'), '-signature', sig, input], box.env);
    expect(verify.stdout).toMatch(/Verified OK/);
    const own = await p11('--verify', '-m', mechanism, '--id', '01', '-i', input, '--signature-file', sig);
    expect(own.stdout).toMatch(/Signature is valid/);
  });

  it('rejects a tampered signature', async () => {
    const sig = file('tampered.sig');
    await sign('SHA256-RSA-PKCS', '01', sig);
    const bytes = Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(sig)));
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    writeFileSync(sig, bytes);
    const r = await p11('--verify', '-m', 'SHA256-RSA-PKCS', '--id', '01', '-i', input, '--signature-file', sig);
    expect(r.stdout + r.stderr).toMatch(/CKR_SIGNATURE_INVALID|Invalid signature/);
  });

  it.each([
    ['prime256v1', '02', 'ECDSA-SHA256', '-sha256'],
    ['secp384r1', '03', 'ECDSA-SHA384', '-sha384'],
    ['secp521r1', '04', 'ECDSA-SHA512', '-sha512'],
  ])('generates EC %s and signs with %s; openssl verifies', async (curve, id, mechanism, digest) => {
    const gen = await p11('--login', '--pin', USER_PIN, '--keypairgen', '--key-type', `EC:${curve}`, '--label', `ec-${curve}`, '--id', id);
    expect(gen.code, gen.stderr).toBe(0);
    const sig = file(`ec-${id}.sig`);
    await sign(mechanism, id, sig, '--signature-format', 'openssl');
    const verify = await runTool('openssl', ['dgst', digest, '-verify', await publicPem(id, true), '-signature', sig, input], box.env);
    expect(verify.stdout).toMatch(/Verified OK/);
  });

  it('generates an Ed25519 pair and signs with EDDSA; openssl verifies the raw-input signature', async () => {
    const gen = await p11('--login', '--pin', USER_PIN, '--keypairgen', '--key-type', 'EC:edwards25519', '--label', 'ed25519', '--id', '05');
    expect(gen.code, gen.stderr).toBe(0);
    const sig = file('ed25519.sig');
    await sign('EDDSA', '05', sig);
    const pub = await publicPem('05', true);
    const verify = await runTool('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', input, '-sigfile', sig], box.env);
    expect(verify.stdout, verify.stderr).toMatch(/Signature Verified Successfully/);
    const own = await p11('--verify', '-m', 'EDDSA', '--id', '05', '-i', input, '--signature-file', sig);
    expect(own.stdout).toMatch(/Signature is valid/);
  });

  // pkcs11-tool 0.23 cannot read an X25519 peer key for --derive; test/mechanisms/edwards-montgomery.test.ts derives.
  it('generates a curve25519 pair that openssl reads as an X25519 key', async () => {
    const gen = await p11('--login', '--pin', USER_PIN, '--keypairgen', '--key-type', 'EC:curve25519', '--label', 'x25519', '--id', '06');
    expect(gen.code, gen.stderr).toBe(0);
    const text = await runTool('openssl', ['pkey', '-pubin', '-in', await publicPem('06', true), '-noout', '-text'], box.env);
    expect(text.stdout).toMatch(/^X25519 Public-Key:/);
  });
});
