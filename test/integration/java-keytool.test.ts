/**
 * Java: the JDK's SunPKCS11 provider with a configuration naming the module.
 * `keytool -genkeypair` makes an EC key pair and a self-signed certificate in
 * the token, `keytool -list` shows the entry, and openssl verifies the
 * certificate keytool exports.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_PATH, TRANSPORTS, USER_PIN, initialisedToken, runTool, sandbox, type Sandbox } from '../helpers/module';

describe.each(TRANSPORTS)('Java SunPKCS11 and keytool (%s)', (transport) => {
  let box: Sandbox;
  const file = (name: string) => join(box.dir, name);
  const keytool = (...args: string[]) =>
    runTool('keytool', [...args, '-storetype', 'PKCS11', '-providerClass', 'sun.security.pkcs11.SunPKCS11', '-providerArg', file('java.cfg'), '-storepass', USER_PIN], box.env);

  beforeAll(async () => {
    box = sandbox(transport);
    await initialisedToken(box.env);
    writeFileSync(file('java.cfg'), `name = Craton\nlibrary = ${MODULE_PATH}\nslot = 0\n`);
  });
  afterAll(() => box.cleanup());

  it('generates an EC key pair with a self-signed certificate in the token, lists and exports it', async () => {
    const gen = await keytool('-genkeypair', '-alias', 'java-ec', '-keyalg', 'EC', '-groupname', 'secp256r1', '-dname', 'CN=craton java');
    expect(gen.code, gen.stderr + gen.stdout).toBe(0);
    const list = await keytool('-list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/Keystore provider: SunPKCS11-Craton/);
    expect(list.stdout).toMatch(/^java-ec, PrivateKeyEntry,/m);
    const exported = await keytool('-exportcert', '-rfc', '-alias', 'java-ec');
    expect(exported.code, exported.stderr).toBe(0);
    writeFileSync(file('java-ec.pem'), exported.stdout);
    const verify = await runTool('openssl', ['verify', '-CAfile', file('java-ec.pem'), file('java-ec.pem')], box.env);
    expect(verify.stdout, verify.stderr).toMatch(/: OK\n$/);
    const subject = await runTool('openssl', ['x509', '-in', file('java-ec.pem'), '-noout', '-subject'], box.env);
    expect(subject.stdout).toMatch(/CN = craton java/);
  });
});
