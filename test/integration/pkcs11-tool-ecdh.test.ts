/** pkcs11-tool --derive with ECDH1-DERIVE agrees with `openssl pkeyutl -derive`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { USER_PIN, initialisedToken, pkcs11Tool, runTool, sandbox, type Sandbox } from '../helpers/module';

describe.each(['embedded', 'process'] as const)('ECDH through pkcs11-tool and openssl (%s)', (transport) => {
  let box: Sandbox;
  beforeEach(() => {
    box = sandbox(transport);
  });
  afterEach(() => box.cleanup());

  it('derives the secret openssl derives from the other side', async () => {
    const f = (n: string) => join(box.dir, n);
    await initialisedToken(box.env);
    expect((await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '05')).code).toBe(0);
    const openssl = (...args: string[]) => runTool('openssl', args, box.env);
    expect((await openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('peer.pem'))).code).toBe(0);
    expect((await openssl('pkey', '-in', f('peer.pem'), '-pubout', '-outform', 'DER', '-out', f('peer.der'))).code).toBe(0);
    const derive = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--derive', '-m', 'ECDH1-DERIVE', '--id', '05', '-i', f('peer.der'), '-o', f('ours.bin'));
    expect(derive.code, derive.stderr).toBe(0);
    expect((await pkcs11Tool(box.env, '--read-object', '--type', 'pubkey', '--id', '05', '-o', f('pub.der'))).code).toBe(0);
    expect((await openssl('pkey', '-pubin', '-inform', 'DER', '-in', f('pub.der'), '-out', f('pub.pem'))).code).toBe(0);
    expect((await openssl('pkeyutl', '-derive', '-inkey', f('peer.pem'), '-peerkey', f('pub.pem'), '-out', f('theirs.bin'))).code).toBe(0);
    const ours = readFileSync(f('ours.bin'));
    expect(ours).toHaveLength(32);
    expect(ours).toEqual(readFileSync(f('theirs.bin')));
  });
});
