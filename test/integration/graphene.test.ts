/**
 * graphene-pk11 (object-oriented wrapper over pkcs11js) drives the module inside the vitest worker:
 * the typical graphene user flow. The host is Node, so the shim uses the process transport.
 */
import { createHash } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MODULE_PATH, SO_PIN, USER_PIN, sandbox, type Sandbox, defaultRegistry } from '../helpers/module';
import { applyProcessEnv, paddedLabel } from '../helpers/process-env';

const { Module, ObjectClass, KeyType, SessionFlag, TokenFlag, UserType, MechanismFlag, Mechanism } = graphene;

// graphene's MechanismEnum has no SHA3 names; register them the way graphene users add vendor mechanisms.
const SHA3: ReadonlyArray<readonly [string, number, string]> = [
  ['SHA3_224', 0x2b5, 'sha3-224'],
  ['SHA3_256', 0x2b0, 'sha3-256'],
  ['SHA3_384', 0x2c0, 'sha3-384'],
  ['SHA3_512', 0x2d0, 'sha3-512'],
];
for (const [name, value] of SHA3) Mechanism.vendor(name, value);

const DIGESTS: ReadonlyArray<readonly [string, string]> = [
  ['SHA_1', 'sha1'],
  ['SHA224', 'sha224'],
  ['SHA256', 'sha256'],
  ['SHA384', 'sha384'],
  ['SHA512', 'sha512'],
  ...SHA3.map(([name, , node]) => [name, node] as const),
];

const RW = SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION;

function ckrName(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    const m = /(CKR_[A-Z0-9_]+)/.exec((e as Error).message);
    if (m) return m[1];
    throw e;
  }
  throw new Error('expected a PKCS#11 error, but the call succeeded');
}

describe('graphene-pk11 (in-process, process transport)', () => {
  let box: Sandbox;
  let restoreEnv: () => void;
  let mod: graphene.Module;
  let slot: graphene.Slot;

  beforeEach(() => {
    box = sandbox('process');
    restoreEnv = applyProcessEnv(box.env);
    mod = Module.load(MODULE_PATH, 'Craton HSM');
    mod.initialize();
    slot = mod.getSlots(0);
  });
  afterEach(() => {
    try {
      mod.finalize();
      mod.close();
    } finally {
      restoreEnv();
      box.cleanup();
    }
  });

  /**
   * slot.initToken, tolerating a graphene/pkcs11js mismatch: graphene 2.3.6 strips the padding off
   * C_InitToken's return value, but pkcs11js 2.x returns undefined, so graphene throws a TypeError
   * after the token was initialised. Callers check the outcome through getToken().
   */
  function initToken(label: string): void {
    try {
      slot.initToken(SO_PIN, paddedLabel(label));
    } catch (e) {
      if (!(e instanceof TypeError && /reading 'replace'/.test(e.message))) throw e;
    }
  }

  /** initToken + C_InitPIN as SO; returns a R/W session logged in as the user. */
  function userSession(): graphene.Session {
    initToken('graphene');
    const so = slot.open(RW);
    so.login(SO_PIN, UserType.SO);
    so.initPin(USER_PIN);
    so.logout();
    so.close();
    const session = slot.open(RW);
    session.login(USER_PIN, UserType.USER);
    return session;
  }

  it('reads module, slot, token and mechanism information', () => {
    expect(mod.manufacturerID).toBe('Craton HSM');
    expect(mod.libraryDescription).toMatch(/^Craton HSM/);
    expect(mod.cryptokiVersion).toEqual({ major: 2, minor: 40 });
    expect(mod.getSlots(true).length).toBe(1);
    expect(slot.slotDescription).toBe('Craton HSM software slot 0');
    expect(slot.manufacturerID).toBe('Craton HSM');

    let token = slot.getToken();
    expect(token.flags & TokenFlag.TOKEN_INITIALIZED).toBe(0);
    expect(token.flags & TokenFlag.RNG).toBe(TokenFlag.RNG);
    expect(token.flags & TokenFlag.LOGIN_REQUIRED).toBe(TokenFlag.LOGIN_REQUIRED);
    expect(token.manufacturerID).toBe('Craton HSM');
    expect([token.minPinLen, token.maxPinLen]).toEqual([4, 255]);
    // graphene parses utcTime as local time; undo that before comparing with the clock.
    expect(token.utcTime).toBeInstanceOf(Date);
    const clock = token.utcTime!.getTime() - token.utcTime!.getTimezoneOffset() * 60_000;
    expect(Math.abs(clock - Date.now())).toBeLessThan(120_000);

    initToken('graphene token');
    token = slot.getToken();
    expect(token.label).toBe('graphene token');
    expect(token.flags & TokenFlag.TOKEN_INITIALIZED).toBe(TokenFlag.TOKEN_INITIALIZED);
    expect(token.flags & TokenFlag.USER_PIN_INITIALIZED).toBe(0);

    const registry = defaultRegistry();
    const mechs = slot.getMechanisms();
    const types: number[] = [];
    for (let i = 0; i < mechs.length; i++) {
      const m = mechs.items(i);
      types.push(m.type);
      expect(m.flags).toBe(registry.get(m.type).flags);
      if (DIGESTS.some(([name]) => name === m.name)) expect(m.flags & MechanismFlag.DIGEST).toBe(MechanismFlag.DIGEST);
    }
    expect(types.sort((a, b) => a - b)).toEqual(registry.types());
  });

  it('logs in, creates, finds, reads, updates, copies and destroys data objects', () => {
    const session = userSession();
    // graphene reads the session state when it opens a session; one opened now sees the login.
    const second = slot.open(RW);
    expect(second.state).toBe(3); // CKS_RW_USER_FUNCTIONS
    second.close();
    expect(slot.getToken().flags & TokenFlag.USER_PIN_INITIALIZED).toBe(TokenFlag.USER_PIN_INITIALIZED);

    const created = session.create({
      class: ObjectClass.DATA,
      token: true,
      label: 'graphene data',
      application: 'graphene-tests',
      value: Buffer.from('hello from graphene'),
    });
    session.create({ class: ObjectClass.DATA, label: 'session data', value: Buffer.from('short-lived') });
    session.create({ class: ObjectClass.DATA, token: true, private: true, label: 'private data', value: Buffer.from('hidden') });

    expect(session.find({ class: ObjectClass.DATA }).length).toBe(3);
    const found = session.find({ label: 'graphene data' });
    expect(found.length).toBe(1);
    const obj = found.items(0);
    expect(obj.handle.equals(created.handle)).toBe(true);
    const data = obj.toType<graphene.Data>();
    expect(data.class).toBe(ObjectClass.DATA);
    expect(data.application).toBe('graphene-tests');
    expect(data.value.toString()).toBe('hello from graphene');
    expect(data.getAttribute({ token: null, private: null, label: null })).toEqual({ token: true, private: false, label: 'graphene data' });

    data.setAttribute('label', 'renamed');
    expect(session.find({ label: 'graphene data' }).length).toBe(0);
    expect(session.find({ label: 'renamed' }).length).toBe(1);

    const copy = data.copy({ label: 'copied' });
    expect(copy.getAttribute('value').toString()).toBe('hello from graphene');
    expect(session.find({ class: ObjectClass.DATA, token: true }).length).toBe(3);
    copy.destroy();
    expect(session.find({ label: 'copied' }).length).toBe(0);

    // After logout only the public objects of the session stay visible.
    session.logout();
    const labels: string[] = [];
    session.find({ class: ObjectClass.DATA }, (o) => {
      labels.push(o.getAttribute('label'));
    });
    expect(labels.sort()).toEqual(['renamed', 'session data']);
    expect(ckrName(() => session.login('0000', UserType.USER))).toBe('CKR_PIN_INCORRECT');

    // Session objects die with their session; token objects stay.
    session.close();
    const next = slot.open(SessionFlag.SERIAL_SESSION);
    const left = next.find({ class: ObjectClass.DATA });
    expect(left.length).toBe(1);
    expect(left.items(0).getAttribute('label')).toBe('renamed');
  });

  it('keeps a sensitive secret key value out of reach', () => {
    const session = userSession();
    const key = session.create({
      class: ObjectClass.SECRET_KEY,
      keyType: KeyType.AES,
      label: 'aes',
      value: Buffer.alloc(16, 0x11),
      sensitive: true,
      token: false,
    });
    const secret = key.toType<graphene.SecretKey>();
    expect(secret.sensitive).toBe(true);
    expect(secret.getAttribute({ private: null, local: null })).toEqual({ private: true, local: false });
    expect(ckrName(() => secret.getAttribute('value'))).toBe('CKR_ATTRIBUTE_SENSITIVE');
    expect(ckrName(() => secret.setAttribute('sensitive', false))).toBe('CKR_ATTRIBUTE_READ_ONLY');
  });

  it('digests like node:crypto with once() and update()/final()', () => {
    initToken('graphene');
    const session = slot.open(SessionFlag.SERIAL_SESSION);
    const message = Buffer.from('graphene digest input '.repeat(100));
    for (const [name, nodeName] of DIGESTS) {
      const expected = createHash(nodeName).update(message).digest('hex');
      expect(session.createDigest(name).once(message).toString('hex'), name).toBe(expected);
      const digest = session.createDigest(name);
      digest.update(message.subarray(0, 7));
      digest.update(message.subarray(7));
      expect(digest.final().toString('hex'), name).toBe(expected);
    }
    expect(session.createDigest('SHA256').once('abc').toString('hex')).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(ckrName(() => session.createDigest('MD5'))).toBe('CKR_MECHANISM_INVALID');

    const random = session.generateRandom(64);
    expect(random.length).toBe(64);
    expect(random.equals(session.generateRandom(64))).toBe(false);
  });
});
