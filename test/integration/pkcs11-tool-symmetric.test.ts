/**
 * pkcs11-tool (OpenSC) against the AES and HMAC mechanisms, both transports: secret-key
 * generation, AES encryption and decryption and HMAC signatures, each cross-checked with the
 * openssl CLI in both directions using the key value read back from the token.
 *
 * pkcs11-tool picks the key for --encrypt/--decrypt/--sign/--verify by --id, so every key has one.
 * What the installed pkcs11-tool can drive is probed from its --help. OpenSC 0.23 (Debian 12)
 * encrypts with AES-ECB/CBC/CBC-PAD only: it has no --aad/--tag-bits-len, refuses AES-CTR and
 * AES-GCM itself ("Mechanism ... illegal or not supported", before any module call), and its --sign
 * takes secret keys for HMAC only (no AES-CMAC). Later versions add AES-GCM with --aad and
 * --tag-bits-len (still no AES-CTR), so the GCM case runs only when --help shows those options.
 * test/mechanisms/symmetric.test.ts covers CTR, GCM, CCM and CMAC through pkcs11js either way.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKM } from '../../src/generated/constants';
import { TRANSPORTS, USER_PIN, initialisedToken, pkcs11Tool, runTool, sandbox, type RunResult, type Sandbox, defaultRegistry } from '../helpers/module';

/** pkcs11-tool prints its usage (exit 1) for --help; both streams hold it. */
function toolHelp(): string {
  try {
    return execFileSync('pkcs11-tool', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
}
const TOOL_HAS_AEAD = /--aad\b/.test(toolHelp()) && /--tag-bits-len\b/.test(toolHelp());

const AES_SIZES = [16, 24, 32] as const;
const AES_IDS: Record<number, string> = { 16: 'a1', 24: 'a2', 32: 'a3' };
const HMAC_ID = 'b1';

/** The HMACs cross-checked: pkcs11-tool's mechanism name and openssl's digest option. */
const HMACS: ReadonlyArray<readonly [string, string]> = [
  ['SHA-1-HMAC', '-sha1'],
  ['SHA224-HMAC', '-sha224'],
  ['SHA256-HMAC', '-sha256'],
  ['SHA384-HMAC', '-sha384'],
  ['SHA512-HMAC', '-sha512'],
  ['SHA3-256-HMAC', '-sha3-256'],
];

/**
 * The --list-mechanisms line of each AES/HMAC mechanism: the names pkcs11-tool 0.23 prints (it
 * falls back to mechtype-0x... for mechanisms it has no name for) and the flags text.
 */
const CIPHER = 'encrypt, decrypt';
const WRAPPING = `${CIPHER}, wrap, unwrap`;
/** GCM and CCM also offer the message functions: CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT | CKF_MULTI_MESSAGE, which pkcs11-tool does not name. */
const AEAD = `${WRAPPING}, other flags=0x26`;
const MAC = 'sign, verify';
const LISTED: ReadonlyArray<readonly [number, string, string]> = [
  [CKM.CKM_AES_KEY_GEN, 'AES-KEY-GEN', 'generate'],
  [CKM.CKM_AES_ECB, 'AES-ECB', WRAPPING],
  [CKM.CKM_AES_CBC, 'AES-CBC', WRAPPING],
  [CKM.CKM_AES_CBC_PAD, 'AES-CBC-PAD', WRAPPING],
  [CKM.CKM_AES_CTR, 'AES-CTR', CIPHER],
  [CKM.CKM_AES_GCM, 'AES-GCM', AEAD],
  [CKM.CKM_AES_CCM, 'AES-CCM', AEAD],
  [CKM.CKM_AES_CMAC, 'AES-CMAC', MAC],
  [CKM.CKM_AES_CMAC_GENERAL, 'AES-CMAC-GENERAL', MAC],
  [CKM.CKM_GENERIC_SECRET_KEY_GEN, 'GENERIC-SECRET-KEY-GEN', 'generate'],
  [CKM.CKM_SHA_1_HMAC, 'SHA-1-HMAC', MAC],
  [CKM.CKM_SHA_1_HMAC_GENERAL, 'SHA-1-HMAC-GENERAL', MAC],
  [CKM.CKM_SHA224_HMAC, 'SHA224-HMAC', MAC],
  [CKM.CKM_SHA224_HMAC_GENERAL, 'SHA224-HMAC-GENERAL', MAC],
  [CKM.CKM_SHA256_HMAC, 'SHA256-HMAC', MAC],
  [CKM.CKM_SHA256_HMAC_GENERAL, 'SHA256-HMAC-GENERAL', MAC],
  [CKM.CKM_SHA384_HMAC, 'SHA384-HMAC', MAC],
  [CKM.CKM_SHA384_HMAC_GENERAL, 'SHA384-HMAC-GENERAL', MAC],
  [CKM.CKM_SHA512_HMAC, 'SHA512-HMAC', MAC],
  [CKM.CKM_SHA512_HMAC_GENERAL, 'SHA512-HMAC-GENERAL', MAC],
  [CKM.CKM_SHA3_224_HMAC, 'SHA3-224-HMAC', MAC],
  [CKM.CKM_SHA3_224_HMAC_GENERAL, 'SHA3-224-HMAC-GENERAL', MAC],
  [CKM.CKM_SHA3_256_HMAC, 'SHA3-256-HMAC', MAC],
  [CKM.CKM_SHA3_256_HMAC_GENERAL, 'SHA3-256-HMAC-GENERAL', MAC],
  [CKM.CKM_SHA3_384_HMAC, 'SHA3-384-HMAC', MAC],
  [CKM.CKM_SHA3_384_HMAC_GENERAL, 'SHA3-384-HMAC-GENERAL', MAC],
  [CKM.CKM_SHA3_512_HMAC, 'SHA3-512-HMAC', MAC],
  [CKM.CKM_SHA3_512_HMAC_GENERAL, 'SHA3-512-HMAC-GENERAL', MAC],
];

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.each(TRANSPORTS)('pkcs11-tool: AES and HMAC (%s)', (transport) => {
  let box: Sandbox;
  /** Key values read back from the token, by size (AES) and for the HMAC key. */
  const aesKeys = new Map<number, Buffer>();
  let hmacKey: Buffer;

  const file = (name: string): string => join(box.dir, name);
  const user = (...args: string[]): Promise<RunResult> => pkcs11Tool(box.env, '--login', '--pin', USER_PIN, ...args);
  async function ok(...args: string[]): Promise<RunResult> {
    const r = await user(...args);
    expect(r.code, `pkcs11-tool ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  }
  async function openssl(...args: string[]): Promise<Buffer> {
    const r = await runTool('openssl', args, box.env);
    expect(r.code, `openssl ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return Buffer.from(r.stdout, 'latin1');
  }
  function write(name: string, data: Buffer): string {
    writeFileSync(file(name), data);
    return file(name);
  }

  beforeAll(async () => {
    box = sandbox(transport);
    await initialisedToken(box.env);
    for (const size of AES_SIZES) {
      const gen = await ok('--keygen', '--key-type', `AES:${size}`, '--extractable', '--id', AES_IDS[size], '--label', `aes${size}`);
      expect(gen.stdout).toContain(`Secret Key Object; AES length ${size}`);
      await ok('--read-object', '--type', 'secrkey', '--id', AES_IDS[size], '--output-file', file(`aes${size}.key`));
      aesKeys.set(size, readFileSync(file(`aes${size}.key`)));
    }
    const gen = await ok('--keygen', '--key-type', 'GENERIC:32', '--extractable', '--id', HMAC_ID, '--label', 'hmac');
    expect(gen.stdout).toContain('Secret Key Object; Generic secret length 32');
    await ok('--read-object', '--type', 'secrkey', '--id', HMAC_ID, '--output-file', file('hmac.key'));
    hmacKey = readFileSync(file('hmac.key'));
  });
  afterAll(() => box.cleanup());

  it('generates AES and generic secret keys whose values read back at the requested length', async () => {
    for (const size of AES_SIZES) expect(aesKeys.get(size)).toHaveLength(size);
    expect(hmacKey).toHaveLength(32);
    // Three AES keys of different values.
    expect(new Set([...aesKeys.values()].map((k) => k.toString('hex'))).size).toBe(3);
    const listed = await ok('--list-objects', '--type', 'secrkey');
    for (const size of AES_SIZES) expect(listed.stdout).toMatch(new RegExp(`AES length ${size}[\\s\\S]*?ID:\\s+${AES_IDS[size]}`));
    expect(listed.stdout).toMatch(/Access:\s+extractable, local/);

    // Without --extractable the key is generated unextractable and its value stays in.
    const locked = await ok('--keygen', '--key-type', 'AES:16', '--id', 'a9', '--label', 'locked');
    expect(locked.stdout).toMatch(/Access:\s+.*never extractable, local/);
    expect(locked.stdout).not.toMatch(/VALUE:/);
    const read = await user('--read-object', '--type', 'secrkey', '--id', 'a9', '--output-file', file('locked.key'));
    expect(read.code).not.toBe(0);
    expect(read.stderr).toMatch(/CKR_ATTRIBUTE_SENSITIVE/);
  });

  it('--list-mechanisms shows each AES and HMAC mechanism with its key sizes and flags', async () => {
    const r = await pkcs11Tool(box.env, '--list-mechanisms');
    expect(r.code).toBe(0);
    const registry = defaultRegistry();
    for (const [type, name, flags] of LISTED) {
      const spec = registry.get(type);
      // Exactly these operations, and no "hw" flag.
      const hexType = `mechtype-0x${type.toString(16).toUpperCase()}`;
      const line = new RegExp(`^\\s*(?:${escape(name)}|${hexType}), keySize=\\{${spec.minKeySize},${spec.maxKeySize}\\}, ${flags}$`, 'm');
      expect(r.stdout, name).toMatch(line);
    }
    expect(r.stdout).toMatch(/^\s*AES-ECB, keySize=\{16,32\}, encrypt, decrypt, wrap, unwrap$/m);
    expect(r.stdout).toMatch(/^\s*SHA256-HMAC, keySize=\{1,4096\}, sign, verify$/m);
  });

  describe.each(AES_SIZES)('AES-%i key', (size) => {
    const bits = size * 8;
    const iv = randomBytes(16).toString('hex');
    const aligned = randomBytes(80);
    const odd = randomBytes(45);
    const cases = [
      ['AES-ECB', `aes-${bits}-ecb`, aligned, ['-nopad']],
      ['AES-CBC', `aes-${bits}-cbc`, aligned, ['-nopad', '-iv', iv]],
      ['AES-CBC-PAD', `aes-${bits}-cbc`, odd, ['-iv', iv]],
    ] as const;

    it.each(cases)('%s: pkcs11-tool and openssl enc agree in both directions', async (mech, cipher, plaintext, opensslArgs) => {
      const key = aesKeys.get(size)!.toString('hex');
      const tag = `${mech}-${size}`;
      const ivArgs = mech === 'AES-ECB' ? [] : ['--iv', iv];
      const input = write(`${tag}.plain`, plaintext);
      const expected = await openssl('enc', `-${cipher}`, '-K', key, ...opensslArgs, '-in', input);
      expect(expected.length).toBe(mech === 'AES-CBC-PAD' ? 48 : plaintext.length);

      // The token encrypts as openssl does...
      await ok('--encrypt', '--id', AES_IDS[size], '-m', mech, ...ivArgs, '--input-file', input, '--output-file', file(`${tag}.enc`));
      expect(readFileSync(file(`${tag}.enc`))).toEqual(expected);
      // ...and decrypts what openssl encrypted.
      const fromOpenssl = write(`${tag}.ossl`, expected);
      await ok('--decrypt', '--id', AES_IDS[size], '-m', mech, ...ivArgs, '--input-file', fromOpenssl, '--output-file', file(`${tag}.dec`));
      expect(readFileSync(file(`${tag}.dec`))).toEqual(plaintext);
      // openssl decrypts what the token encrypted.
      expect(await openssl('enc', '-d', `-${cipher}`, '-K', key, ...opensslArgs, '-in', file(`${tag}.enc`))).toEqual(plaintext);
    });

    // openssl enc has no AEAD modes, so Node's crypto is the reference for GCM.
    it.skipIf(!TOOL_HAS_AEAD)('AES-GCM with AAD: pkcs11-tool and Node agree in both directions; a tampered tag is refused', async () => {
      const gcmIv = randomBytes(12);
      const aad = Buffer.from('pkcs11-tool aad');
      const key = aesKeys.get(size)!;
      const cipher = createCipheriv(`aes-${bits}-gcm` as CipherGCMTypes, key, gcmIv, { authTagLength: 16 });
      cipher.setAAD(aad);
      const expected = Buffer.concat([cipher.update(odd), cipher.final(), cipher.getAuthTag()]);
      const args = ['--id', AES_IDS[size], '-m', 'AES-GCM', '--iv', gcmIv.toString('hex'), '--aad', aad.toString('hex'), '--tag-bits-len', '128'];
      const input = write(`gcm-${size}.plain`, odd);
      await ok('--encrypt', ...args, '--input-file', input, '--output-file', file(`gcm-${size}.enc`));
      expect(readFileSync(file(`gcm-${size}.enc`))).toEqual(expected);
      const fromNode = write(`gcm-${size}.node`, expected);
      await ok('--decrypt', ...args, '--input-file', fromNode, '--output-file', file(`gcm-${size}.dec`));
      expect(readFileSync(file(`gcm-${size}.dec`))).toEqual(odd);
      const tampered = Buffer.from(expected);
      tampered[tampered.length - 1] ^= 1;
      const bad = write(`gcm-${size}.bad`, tampered);
      const refused = await user('--decrypt', ...args, '--input-file', bad, '--output-file', file(`gcm-${size}.bad.dec`));
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/CKR_ENCRYPTED_DATA_INVALID/);
    });
  });

  it.each(HMACS)('%s: --sign equals openssl dgst -mac HMAC, and --verify accepts it', async (mech, digest) => {
    const input = write(`${mech}.msg`, Buffer.from(`message for ${mech}: ${randomBytes(20).toString('hex')}`));
    const expected = await openssl('dgst', digest, '-mac', 'HMAC', '-macopt', `hexkey:${hmacKey.toString('hex')}`, '-binary', input);
    const sig = file(`${mech}.sig`);
    await ok('--sign', '--id', HMAC_ID, '-m', mech, '--input-file', input, '--output-file', sig);
    expect(readFileSync(sig)).toEqual(expected);
    const fromOpenssl = write(`${mech}.ossl.sig`, expected);
    const verified = await ok('--verify', '--id', HMAC_ID, '-m', mech, '--input-file', input, '--signature-file', fromOpenssl);
    expect(verified.stdout).toMatch(/Signature is valid/);
  });

  it('--verify rejects a tampered HMAC and a tampered message', async () => {
    const input = write('tamper.msg', Buffer.from('the message that was MACed'));
    const mac = await openssl('dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hmacKey.toString('hex')}`, '-binary', input);
    const tampered = Buffer.from(mac);
    tampered[5] ^= 0x10;
    const badSig = write('tamper.sig', tampered);
    // OpenSC 0.23 reports a failed C_Verify on stdout and still exits 0; later versions exit non-zero.
    const r = await user('--verify', '--id', HMAC_ID, '-m', 'SHA256-HMAC', '--input-file', input, '--signature-file', badSig);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Invalid signature|CKR_SIGNATURE_INVALID/);
    expect(r.stdout).not.toMatch(/Signature is valid/);

    const goodSig = write('good.sig', mac);
    const otherMessage = write('other.msg', Buffer.from('the message that was MACeD'));
    const r2 = await user('--verify', '--id', HMAC_ID, '-m', 'SHA256-HMAC', '--input-file', otherMessage, '--signature-file', goodSig);
    expect(`${r2.stdout}${r2.stderr}`).toMatch(/Invalid signature|CKR_SIGNATURE_INVALID/);
    expect(r2.stdout).not.toMatch(/Signature is valid/);
  });
});
