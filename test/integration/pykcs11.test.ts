/**
 * PyKCS11 (Debian's python3-pykcs11, run with /usr/bin/python3) drives the module through both
 * transports. Each transport gets one fresh token store and two Python processes: "setup" initialises
 * the token and exercises it, "reopen" checks what a later process finds there. The script prints
 * what it saw as JSON; the assertions live here.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKM, constantName } from '../../src/generated/constants';
import { MODULE_PATH, SO_PIN, TRANSPORTS, USER_PIN, runTool, sandbox, type Sandbox, defaultRegistry } from '../helpers/module';

const PYTHON = '/usr/bin/python3'; // the pyenv python3 on PATH has no PyKCS11
const SCRIPT = join(__dirname, 'python', 'pykcs11_flow.py');

const DIGESTS: Readonly<Record<string, string>> = {
  CKM_SHA_1: 'sha1',
  CKM_SHA224: 'sha224',
  CKM_SHA256: 'sha256',
  CKM_SHA384: 'sha384',
  CKM_SHA512: 'sha512',
  CKM_SHA3_224: 'sha3-224',
  CKM_SHA3_256: 'sha3-256',
  CKM_SHA3_384: 'sha3-384',
  CKM_SHA3_512: 'sha3-512',
};
const MESSAGE = Buffer.from('PyKCS11 digest input '.repeat(100));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Report = Record<string, any>;

async function flow(box: Sandbox, mode: 'setup' | 'reopen'): Promise<Report> {
  const result = await runTool(PYTHON, [SCRIPT, MODULE_PATH, SO_PIN, USER_PIN, mode], box.env);
  if (result.code !== 0) throw new Error(`pykcs11_flow.py ${mode} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Report;
}

describe.each(TRANSPORTS)('PyKCS11 (%s transport)', (transport) => {
  let box: Sandbox;
  let setup: Report;
  let reopen: Report;

  beforeAll(async () => {
    box = sandbox(transport);
    setup = await flow(box, 'setup');
    reopen = await flow(box, 'reopen');
  });
  afterAll(() => box?.cleanup());

  it('lists the slot and reads module and token info', () => {
    expect(setup.info).toEqual({
      manufacturerID: 'Craton HSM',
      libraryDescription: expect.stringMatching(/^Craton HSM/),
      cryptokiVersion: [2, 40],
    });
    expect(setup.slots).toEqual([0]);
    expect(setup.allSlots).toEqual([0]);
    expect(setup.slotDescription).toBe('Craton HSM software slot 0');
    expect(setup.tokenBefore).toEqual({
      label: '',
      manufacturerID: 'Craton HSM',
      model: 'Software HSM',
      flags: ['CKF_CLOCK_ON_TOKEN', 'CKF_LOGIN_REQUIRED', 'CKF_RNG'],
      minPin: 4,
      maxPin: 255,
    });
  });

  it('lists exactly the registry mechanisms, the digests with CKF_DIGEST', () => {
    const expected = defaultRegistry().types().map((t) => constantName(CKM, t));
    expect([...setup.mechanisms].sort()).toEqual([...expected].sort());
    expect(setup.digestFlags).toEqual(Object.fromEntries(Object.keys(DIGESTS).map((m) => [m, true])));
  });

  it('initialises the token and PIN, and logs in as SO and user', () => {
    expect(setup.initToken).toBeNull();
    expect(setup.wrongSoPin).toBe('CKR_PIN_INCORRECT');
    expect(setup.soLogin).toBeNull();
    expect(setup.soState).toBe('CKS_RW_SO_FUNCTIONS');
    expect(setup.initPin).toBeNull();
    expect(setup.tokenAfter.label).toBe('pykcs11');
    expect(setup.tokenAfter.flags).toEqual(['CKF_CLOCK_ON_TOKEN', 'CKF_LOGIN_REQUIRED', 'CKF_RNG', 'CKF_TOKEN_INITIALIZED', 'CKF_USER_PIN_INITIALIZED']);
    expect(setup.wrongUserPin).toBe('CKR_PIN_INCORRECT');
    expect(setup.publicState).toBe('CKS_RW_PUBLIC_SESSION');
    expect(setup.userLogin).toBeNull();
    expect(setup.userState).toBe('CKS_RW_USER_FUNCTIONS');
    expect(setup.loginTwice).toBe('CKR_USER_ALREADY_LOGGED_IN');
  });

  it('creates data objects and finds them; private ones only while logged in', () => {
    expect(setup.create).toBe(true);
    expect(setup.find).toEqual({
      count: 1,
      label: 'pykcs11 data',
      application: 'pykcs11-tests',
      value: 'hello from PyKCS11',
      token: true,
      private: false,
    });
    expect(setup.labelsLoggedIn).toEqual(['pykcs11 data', 'pykcs11 private', 'pykcs11 session']);
    expect(setup.logout).toBeNull();
    expect(setup.labelsLoggedOut).toEqual(['pykcs11 data', 'pykcs11 session']);
  });

  it('digests like hashlib and node:crypto, single and multi-part', () => {
    expect(Object.keys(setup.digests).sort()).toEqual(Object.keys(DIGESTS).sort());
    for (const [mech, nodeName] of Object.entries(DIGESTS)) {
      const expected = createHash(nodeName).update(MESSAGE).digest('hex');
      expect(setup.digests[mech], mech).toEqual({ single: expected, multi: expected, hashlib: expected });
    }
    expect(setup.sha256abc).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('generates random bytes', () => {
    expect(setup.random).toBe(64);
    expect(setup.randomLarge.length).toBe(4096);
    expect(setup.randomLarge.distinct).toBeGreaterThan(200);
  });

  it('a later process finds the token, its token objects, and the private one after login', () => {
    expect(reopen.token.label).toBe('pykcs11');
    expect(reopen.token.flags).toContain('CKF_USER_PIN_INITIALIZED');
    // The session object died with the first process.
    expect(reopen.labelsPublic).toEqual(['pykcs11 data']);
    expect(reopen.userLogin).toBeNull();
    expect(reopen.labelsLoggedIn).toEqual(['pykcs11 data', 'pykcs11 private']);
    expect(reopen.value).toBe('secret');
  });
});
