/**
 * pkcs11js loads the module into the vitest worker itself. The host is Node, so the shim uses the
 * process transport (a node child spawned at C_Initialize, inheriting process.env).
 */
import { createHash, getHashes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CKM } from '../../src/generated/constants';
import { MODULE_PATH, SO_PIN, USER_PIN, sandbox, type Sandbox, defaultRegistry } from '../helpers/module';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { applyProcessEnv, paddedLabel } from '../helpers/process-env';

const {
  CKA_APPLICATION,
  CKA_CLASS,
  CKA_EXTRACTABLE,
  CKA_KEY_TYPE,
  CKA_LABEL,
  CKA_LOCAL,
  CKA_MODULUS,
  CKA_PRIVATE,
  CKA_SENSITIVE,
  CKA_TOKEN,
  CKA_VALUE,
  CKF_DIGEST,
  CKF_LOGIN_REQUIRED,
  CKF_RNG,
  CKF_RW_SESSION,
  CKF_SERIAL_SESSION,
  CKF_TOKEN_INITIALIZED,
  CKF_USER_PIN_INITIALIZED,
  CKK_AES,
  CKO_DATA,
  CKO_SECRET_KEY,
  CKR_ATTRIBUTE_READ_ONLY,
  CKR_ATTRIBUTE_SENSITIVE,
  CKR_ATTRIBUTE_TYPE_INVALID,
  CKR_ATTRIBUTE_VALUE_INVALID,
  CKR_BUFFER_TOO_SMALL,
  CKR_CRYPTOKI_ALREADY_INITIALIZED,
  CKR_CRYPTOKI_NOT_INITIALIZED,
  CKR_MECHANISM_INVALID,
  CKR_OBJECT_HANDLE_INVALID,
  CKR_OPERATION_NOT_INITIALIZED,
  CKR_PIN_INCORRECT,
  CKR_PIN_LEN_RANGE,
  CKR_SESSION_EXISTS,
  CKR_SESSION_HANDLE_INVALID,
  CKR_SESSION_PARALLEL_NOT_SUPPORTED,
  CKR_SESSION_READ_ONLY,
  CKR_SESSION_READ_ONLY_EXISTS,
  CKR_SESSION_READ_WRITE_SO_EXISTS,
  CKR_TEMPLATE_INCOMPLETE,
  CKR_TEMPLATE_INCONSISTENT,
  CKR_TOKEN_NOT_RECOGNIZED,
  CKR_USER_ALREADY_LOGGED_IN,
  CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
  CKR_USER_NOT_LOGGED_IN,
  CKR_USER_PIN_NOT_INITIALIZED,
  CKU_SO,
  CKU_USER,
} = pkcs11js;

// Constants pkcs11js's typings lack. Session states: PKCS#11 5.5.
const CKF_TOKEN_PRESENT = 0x1;
const CKS_RO_PUBLIC_SESSION = 0;
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_PUBLIC_SESSION = 2;
const CKS_RW_USER_FUNCTIONS = 3;
const CKS_RW_SO_FUNCTIONS = 4;

/** Every digest the module advertises, with Node's name for it. pkcs11js lacks the SHA3 constants. */
const DIGESTS: ReadonlyArray<readonly [string, number, string]> = [
  ['CKM_SHA_1', 0x220, 'sha1'],
  ['CKM_SHA224', 0x255, 'sha224'],
  ['CKM_SHA256', 0x250, 'sha256'],
  ['CKM_SHA384', 0x260, 'sha384'],
  ['CKM_SHA512', 0x270, 'sha512'],
  ['CKM_SHA3_224', 0x2b5, 'sha3-224'],
  ['CKM_SHA3_256', 0x2b0, 'sha3-256'],
  ['CKM_SHA3_384', 0x2c0, 'sha3-384'],
  ['CKM_SHA3_512', 0x2d0, 'sha3-512'],
];

const RO = CKF_SERIAL_SESSION;
const RW = CKF_SERIAL_SESSION | CKF_RW_SESSION;


const bool = (b: Buffer | undefined): boolean => {
  expect(b?.length).toBe(1);
  return b![0] !== 0;
};

describe('pkcs11js (in-process, process transport)', () => {
  const mod = new pkcs11js.PKCS11();
  let box: Sandbox;
  let restoreEnv: () => void;
  let slot: Buffer;
  let initialized = false;

  beforeAll(() => {
    mod.load(MODULE_PATH);
  });
  afterAll(() => {
    mod.close();
  });

  beforeEach(() => {
    box = sandbox('process');
    restoreEnv = applyProcessEnv(box.env);
    mod.C_Initialize();
    initialized = true;
    slot = mod.C_GetSlotList(true)[0];
  });
  afterEach(() => {
    if (initialized) {
      mod.C_Finalize();
      initialized = false;
    }
    restoreEnv();
    box.cleanup();
  });

  /** C_InitToken + SO login + C_InitPIN, leaving no session open. */
  function initToken(label = 'test'): void {
    mod.C_InitToken(slot, SO_PIN, paddedLabel(label));
    const s = mod.C_OpenSession(slot, RW);
    mod.C_Login(s, CKU_SO, SO_PIN);
    mod.C_InitPIN(s, USER_PIN);
    mod.C_CloseSession(s);
  }

  /** An initialised token and a R/W session logged in as the user. */
  function userSession(): Buffer {
    initToken();
    const s = mod.C_OpenSession(slot, RW);
    mod.C_Login(s, CKU_USER, USER_PIN);
    return s;
  }

  function find(session: Buffer, template: pkcs11js.Template): Buffer[] {
    mod.C_FindObjectsInit(session, template);
    const found = mod.C_FindObjects(session, 100);
    mod.C_FindObjectsFinal(session);
    return found;
  }

  function dataObject(session: Buffer, label: string, extra: pkcs11js.Template = []): Buffer {
    return mod.C_CreateObject(session, [
      { type: CKA_CLASS, value: CKO_DATA },
      { type: CKA_LABEL, value: label },
      { type: CKA_APPLICATION, value: 'craton-tests' },
      { type: CKA_VALUE, value: Buffer.from(`value of ${label}`) },
      ...extra,
    ]);
  }

  describe('module, slot and token information', () => {
    it('reports the module info of the 2.40 function list', () => {
      const info = mod.C_GetInfo();
      expect(info.manufacturerID.trimEnd()).toBe('Craton HSM');
      expect(info.manufacturerID).toHaveLength(32);
      // pkcs11js gets its functions through C_GetFunctionList, the 2.40 interface.
      expect(info.cryptokiVersion).toEqual({ major: 2, minor: 40 });
      expect(info.libraryDescription).toHaveLength(32);
      expect(info.libraryDescription).toMatch(/^Craton HSM/);
      expect(info.flags).toBe(0);
    });

    it('lists one present slot with an uninitialised token', () => {
      const all = mod.C_GetSlotList(false);
      const present = mod.C_GetSlotList(true);
      expect(all).toHaveLength(1);
      expect(present).toHaveLength(1);
      expect(all[0].readBigUInt64LE()).toBe(0n);
      const slotInfo = mod.C_GetSlotInfo(slot);
      expect(slotInfo.slotDescription.trimEnd()).toBe('Craton HSM software slot 0');
      expect(slotInfo.manufacturerID.trimEnd()).toBe('Craton HSM');
      expect(slotInfo.flags & CKF_TOKEN_PRESENT).toBe(CKF_TOKEN_PRESENT);

      const token = mod.C_GetTokenInfo(slot);
      expect(token.flags & CKF_RNG).toBe(CKF_RNG);
      expect(token.flags & CKF_LOGIN_REQUIRED).toBe(CKF_LOGIN_REQUIRED);
      expect(token.flags & CKF_TOKEN_INITIALIZED).toBe(0);
      expect(token.flags & CKF_USER_PIN_INITIALIZED).toBe(0);
      expect(token.minPinLen).toBe(4);
      expect(token.maxPinLen).toBe(255);
      expect(token.manufacturerID.trimEnd()).toBe('Craton HSM');
      expect(token.label).toBe(' '.repeat(32));
      expect(token.serialNumber).toHaveLength(16);
    });

    it('lists exactly the registry mechanisms, each with its declared sizes and flags', () => {
      const registry = defaultRegistry();
      const mechs = mod.C_GetMechanismList(slot);
      expect([...mechs].sort((a, b) => a - b)).toEqual(registry.types());
      for (const m of mechs) {
        const want = registry.get(m);
        const sizes = registry.policy.keySizes(want);
        expect(mod.C_GetMechanismInfo(slot, m)).toEqual({ minKeySize: sizes.min, maxKeySize: sizes.max, flags: want.flags });
      }
      for (const [, m] of DIGESTS) expect(mod.C_GetMechanismInfo(slot, m).flags & CKF_DIGEST).toBe(CKF_DIGEST);
      expect(ckrOf(() => mod.C_GetMechanismInfo(slot, CKM.CKM_MD5))).toBe(CKR_MECHANISM_INVALID);
    });

    it('C_Finalize then C_Initialize again in the same process; state persists, old handles die', () => {
      initToken('persist');
      const s = mod.C_OpenSession(slot, RO);
      expect(ckrOf(() => mod.C_Initialize())).toBe(CKR_CRYPTOKI_ALREADY_INITIALIZED);
      mod.C_Finalize();
      initialized = false;
      expect(ckrOf(() => mod.C_GetInfo())).toBe(CKR_CRYPTOKI_NOT_INITIALIZED);
      mod.C_Initialize();
      initialized = true;
      expect(ckrOf(() => mod.C_GetSessionInfo(s))).toBe(CKR_SESSION_HANDLE_INVALID);
      const token = mod.C_GetTokenInfo(slot);
      expect(token.label.trimEnd()).toBe('persist');
      expect(token.flags & CKF_USER_PIN_INITIALIZED).toBe(CKF_USER_PIN_INITIALIZED);
      const s2 = mod.C_OpenSession(slot, RO);
      mod.C_Login(s2, CKU_USER, USER_PIN);
      expect(mod.C_GetSessionInfo(s2).state).toBe(CKS_RO_USER_FUNCTIONS);
    });
  });

  describe('token and PIN management', () => {
    it('C_InitToken, C_InitPIN and C_SetPIN flows, and wrong PINs', () => {
      mod.C_InitToken(slot, SO_PIN, paddedLabel('my token'));
      let token = mod.C_GetTokenInfo(slot);
      expect(token.label).toBe(paddedLabel('my token'));
      expect(token.flags & CKF_TOKEN_INITIALIZED).toBe(CKF_TOKEN_INITIALIZED);
      expect(token.flags & CKF_USER_PIN_INITIALIZED).toBe(0);

      const s = mod.C_OpenSession(slot, RW);
      expect(ckrOf(() => mod.C_Login(s, CKU_USER, USER_PIN))).toBe(CKR_USER_PIN_NOT_INITIALIZED);
      expect(ckrOf(() => mod.C_Login(s, CKU_SO, '87654321'))).toBe(CKR_PIN_INCORRECT);
      // C_InitPIN needs an SO session.
      expect(ckrOf(() => mod.C_InitPIN(s, USER_PIN))).toBe(CKR_USER_NOT_LOGGED_IN);
      mod.C_Login(s, CKU_SO, SO_PIN);
      expect(ckrOf(() => mod.C_InitPIN(s, '123'))).toBe(CKR_PIN_LEN_RANGE);
      mod.C_InitPIN(s, USER_PIN);
      token = mod.C_GetTokenInfo(slot);
      expect(token.flags & CKF_USER_PIN_INITIALIZED).toBe(CKF_USER_PIN_INITIALIZED);

      // The SO changes the SO PIN.
      mod.C_SetPIN(s, SO_PIN, '87654321');
      mod.C_Logout(s);
      expect(ckrOf(() => mod.C_Login(s, CKU_SO, SO_PIN))).toBe(CKR_PIN_INCORRECT);
      mod.C_Login(s, CKU_SO, '87654321');
      mod.C_Logout(s);

      // The user changes the user PIN; the old one stops working.
      expect(ckrOf(() => mod.C_Login(s, CKU_USER, '9999'))).toBe(CKR_PIN_INCORRECT);
      mod.C_Login(s, CKU_USER, USER_PIN);
      expect(ckrOf(() => mod.C_SetPIN(s, 'wrong', '5678'))).toBe(CKR_PIN_INCORRECT);
      expect(ckrOf(() => mod.C_SetPIN(s, USER_PIN, '12'))).toBe(CKR_PIN_LEN_RANGE);
      mod.C_SetPIN(s, USER_PIN, '5678');
      mod.C_Logout(s);
      expect(ckrOf(() => mod.C_Login(s, CKU_USER, USER_PIN))).toBe(CKR_PIN_INCORRECT);
      mod.C_Login(s, CKU_USER, '5678');
      mod.C_Logout(s);

      // C_SetPIN in a read-only session is refused.
      const ro = mod.C_OpenSession(slot, RO);
      expect(ckrOf(() => mod.C_SetPIN(ro, '5678', '4321'))).toBe(CKR_SESSION_READ_ONLY);

      // C_InitToken is refused while sessions are open, and needs the current SO PIN.
      expect(ckrOf(() => mod.C_InitToken(slot, '87654321', paddedLabel('again')))).toBe(CKR_SESSION_EXISTS);
      mod.C_CloseAllSessions(slot);
      expect(ckrOf(() => mod.C_InitToken(slot, SO_PIN, paddedLabel('again')))).toBe(CKR_PIN_INCORRECT);
    });

    it('re-initialising a token clears the user PIN and destroys token objects', () => {
      const s = userSession();
      dataObject(s, 'doomed', [{ type: CKA_TOKEN, value: true }]);
      mod.C_CloseSession(s);
      mod.C_InitToken(slot, SO_PIN, paddedLabel('fresh'));
      const token = mod.C_GetTokenInfo(slot);
      expect(token.label.trimEnd()).toBe('fresh');
      expect(token.flags & CKF_USER_PIN_INITIALIZED).toBe(0);
      const s2 = mod.C_OpenSession(slot, RO);
      expect(find(s2, [{ type: CKA_CLASS, value: CKO_DATA }])).toHaveLength(0);
      expect(ckrOf(() => mod.C_Login(s2, CKU_USER, USER_PIN))).toBe(CKR_USER_PIN_NOT_INITIALIZED);
    });
  });

  describe('sessions and login state', () => {
    it('moves through the session states', () => {
      initToken();
      const ro = mod.C_OpenSession(slot, RO);
      const rw = mod.C_OpenSession(slot, RW);
      const roInfo = mod.C_GetSessionInfo(ro);
      expect(roInfo.state).toBe(CKS_RO_PUBLIC_SESSION);
      expect(roInfo.flags).toBe(CKF_SERIAL_SESSION);
      expect(roInfo.slotID.readBigUInt64LE()).toBe(0n);
      expect(mod.C_GetSessionInfo(rw).state).toBe(CKS_RW_PUBLIC_SESSION);
      expect(mod.C_GetSessionInfo(rw).flags).toBe(CKF_SERIAL_SESSION | CKF_RW_SESSION);

      // Login applies to every session of the application, including ones opened later.
      mod.C_Login(ro, CKU_USER, USER_PIN);
      expect(mod.C_GetSessionInfo(ro).state).toBe(CKS_RO_USER_FUNCTIONS);
      expect(mod.C_GetSessionInfo(rw).state).toBe(CKS_RW_USER_FUNCTIONS);
      const later = mod.C_OpenSession(slot, RO);
      expect(mod.C_GetSessionInfo(later).state).toBe(CKS_RO_USER_FUNCTIONS);
      expect(ckrOf(() => mod.C_Login(rw, CKU_USER, USER_PIN))).toBe(CKR_USER_ALREADY_LOGGED_IN);
      expect(ckrOf(() => mod.C_Login(rw, CKU_SO, SO_PIN))).toBe(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);

      mod.C_Logout(rw);
      expect(mod.C_GetSessionInfo(ro).state).toBe(CKS_RO_PUBLIC_SESSION);
      expect(mod.C_GetSessionInfo(rw).state).toBe(CKS_RW_PUBLIC_SESSION);
      expect(ckrOf(() => mod.C_Logout(rw))).toBe(CKR_USER_NOT_LOGGED_IN);

      // SO login is refused while a read-only session exists.
      expect(ckrOf(() => mod.C_Login(rw, CKU_SO, SO_PIN))).toBe(CKR_SESSION_READ_ONLY_EXISTS);
      mod.C_CloseSession(ro);
      mod.C_CloseSession(later);
      mod.C_Login(rw, CKU_SO, SO_PIN);
      expect(mod.C_GetSessionInfo(rw).state).toBe(CKS_RW_SO_FUNCTIONS);
      // ...and no read-only session may be opened while the SO is logged in.
      expect(ckrOf(() => mod.C_OpenSession(slot, RO))).toBe(CKR_SESSION_READ_WRITE_SO_EXISTS);
      const rw2 = mod.C_OpenSession(slot, RW);
      expect(mod.C_GetSessionInfo(rw2).state).toBe(CKS_RW_SO_FUNCTIONS);
      expect(ckrOf(() => mod.C_Login(rw2, CKU_SO, SO_PIN))).toBe(CKR_USER_ALREADY_LOGGED_IN);

      // Closing the last session logs the SO out.
      mod.C_CloseAllSessions(slot);
      expect(ckrOf(() => mod.C_GetSessionInfo(rw))).toBe(CKR_SESSION_HANDLE_INVALID);
      const fresh = mod.C_OpenSession(slot, RO);
      expect(mod.C_GetSessionInfo(fresh).state).toBe(CKS_RO_PUBLIC_SESSION);
    });

    it('refuses sessions on an uninitialised token, without CKF_SERIAL_SESSION, and stale handles', () => {
      // Like SoftHSM: a token that was never initialised has no sessions.
      expect(ckrOf(() => mod.C_OpenSession(slot, RO))).toBe(CKR_TOKEN_NOT_RECOGNIZED);
      mod.C_InitToken(slot, SO_PIN, paddedLabel('test'));
      expect(ckrOf(() => mod.C_OpenSession(slot, CKF_RW_SESSION))).toBe(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
      expect(ckrOf(() => mod.C_OpenSession(slot, 0))).toBe(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
      const s = mod.C_OpenSession(slot, RO);
      mod.C_CloseSession(s);
      expect(ckrOf(() => mod.C_CloseSession(s))).toBe(CKR_SESSION_HANDLE_INVALID);
      expect(ckrOf(() => mod.C_GetSessionInfo(s))).toBe(CKR_SESSION_HANDLE_INVALID);
    });
  });

  describe('objects', () => {
    it('creates, finds, reads, updates, copies and destroys data objects', () => {
      const s = userSession();
      const a = dataObject(s, 'alpha');
      const b = dataObject(s, 'beta', [{ type: CKA_TOKEN, value: true }]);

      expect(find(s, [{ type: CKA_CLASS, value: CKO_DATA }])).toHaveLength(2);
      const byLabel = find(s, [{ type: CKA_LABEL, value: 'alpha' }]);
      expect(byLabel).toHaveLength(1);
      expect(byLabel[0].equals(a)).toBe(true);
      expect(find(s, [{ type: CKA_LABEL, value: 'gamma' }])).toHaveLength(0);
      const tokenOnly = find(s, [{ type: CKA_CLASS, value: CKO_DATA }, { type: CKA_TOKEN, value: true }]);
      expect(tokenOnly.map((h) => h.toString('hex'))).toEqual([b.toString('hex')]);

      const attrs = mod.C_GetAttributeValue(s, a, [
        { type: CKA_CLASS },
        { type: CKA_LABEL },
        { type: CKA_APPLICATION },
        { type: CKA_VALUE },
        { type: CKA_TOKEN },
        { type: CKA_PRIVATE },
      ]);
      expect((attrs[0].value as Buffer).readBigUInt64LE()).toBe(BigInt(CKO_DATA));
      expect((attrs[1].value as Buffer).toString()).toBe('alpha');
      expect((attrs[2].value as Buffer).toString()).toBe('craton-tests');
      expect((attrs[3].value as Buffer).toString()).toBe('value of alpha');
      expect(bool(attrs[4].value as Buffer)).toBe(false);
      expect(bool(attrs[5].value as Buffer)).toBe(false); // data objects default to public
      expect(mod.C_GetObjectSize(s, a)).toBeGreaterThan(0);

      // An attribute a data object does not have.
      expect(ckrOf(() => mod.C_GetAttributeValue(s, a, [{ type: CKA_MODULUS }]))).toBe(CKR_ATTRIBUTE_TYPE_INVALID);

      mod.C_SetAttributeValue(s, a, [
        { type: CKA_LABEL, value: 'alpha2' },
        { type: CKA_VALUE, value: Buffer.from([1, 2, 3]) },
      ]);
      expect(find(s, [{ type: CKA_LABEL, value: 'alpha' }])).toHaveLength(0);
      const [label, value] = mod.C_GetAttributeValue(s, a, [{ type: CKA_LABEL }, { type: CKA_VALUE }]);
      expect((label.value as Buffer).toString()).toBe('alpha2');
      expect(value.value).toEqual(Buffer.from([1, 2, 3]));

      const copy = mod.C_CopyObject(s, b, [{ type: CKA_LABEL, value: 'beta copy' }]);
      expect(copy.equals(b)).toBe(false);
      const [copyLabel, copyValue, copyToken] = mod.C_GetAttributeValue(s, copy, [{ type: CKA_LABEL }, { type: CKA_VALUE }, { type: CKA_TOKEN }]);
      expect((copyLabel.value as Buffer).toString()).toBe('beta copy');
      expect((copyValue.value as Buffer).toString()).toBe('value of beta');
      expect(bool(copyToken.value as Buffer)).toBe(true);
      expect(find(s, [{ type: CKA_CLASS, value: CKO_DATA }])).toHaveLength(3);

      mod.C_DestroyObject(s, a);
      mod.C_DestroyObject(s, copy);
      expect(ckrOf(() => mod.C_GetAttributeValue(s, a, [{ type: CKA_LABEL }]))).toBe(CKR_OBJECT_HANDLE_INVALID);
      expect(ckrOf(() => mod.C_DestroyObject(s, a))).toBe(CKR_OBJECT_HANDLE_INVALID);
      const left = find(s, [{ type: CKA_CLASS, value: CKO_DATA }]);
      expect(left.map((h) => h.toString('hex'))).toEqual([b.toString('hex')]);
    });

    it('token objects persist across C_Finalize; session objects vanish with their session', () => {
      const s = userSession();
      const other = mod.C_OpenSession(slot, RO);
      dataObject(s, 'token-obj', [{ type: CKA_TOKEN, value: true }]);
      const sessionObj = dataObject(s, 'session-obj');
      // Session objects are visible to every session of the application...
      expect(find(other, [{ type: CKA_LABEL, value: 'session-obj' }])).toHaveLength(1);
      // ...until the session that created them closes.
      mod.C_CloseSession(s);
      expect(find(other, [{ type: CKA_LABEL, value: 'session-obj' }])).toHaveLength(0);
      expect(ckrOf(() => mod.C_GetAttributeValue(other, sessionObj, [{ type: CKA_LABEL }]))).toBe(CKR_OBJECT_HANDLE_INVALID);
      expect(find(other, [{ type: CKA_LABEL, value: 'token-obj' }])).toHaveLength(1);

      mod.C_Finalize();
      initialized = false;
      mod.C_Initialize();
      initialized = true;
      const s2 = mod.C_OpenSession(slot, RO);
      const found = find(s2, [{ type: CKA_CLASS, value: CKO_DATA }]);
      expect(found).toHaveLength(1);
      expect((mod.C_GetAttributeValue(s2, found[0], [{ type: CKA_LABEL }])[0].value as Buffer).toString()).toBe('token-obj');
    });

    it('hides private objects until the user logs in', () => {
      const s = userSession();
      const priv = dataObject(s, 'secret-data', [
        { type: CKA_TOKEN, value: true },
        { type: CKA_PRIVATE, value: true },
      ]);
      dataObject(s, 'public-data', [{ type: CKA_TOKEN, value: true }]);
      expect(find(s, [{ type: CKA_CLASS, value: CKO_DATA }])).toHaveLength(2);
      mod.C_Logout(s);

      const publicLabels = find(s, [{ type: CKA_CLASS, value: CKO_DATA }]).map((h) =>
        (mod.C_GetAttributeValue(s, h, [{ type: CKA_LABEL }])[0].value as Buffer).toString(),
      );
      expect(publicLabels).toEqual(['public-data']);
      expect(find(s, [{ type: CKA_LABEL, value: 'secret-data' }])).toHaveLength(0);
      expect(find(s, [])).toHaveLength(1);
      // Creating a private object needs a logged-in user.
      expect(ckrOf(() => dataObject(s, 'x', [{ type: CKA_PRIVATE, value: true }]))).toBe(CKR_USER_NOT_LOGGED_IN);

      mod.C_Login(s, CKU_USER, USER_PIN);
      const again = find(s, [{ type: CKA_LABEL, value: 'secret-data' }]);
      expect(again).toHaveLength(1);
      expect(again[0].equals(priv)).toBe(true);
    });

    it('refuses token objects in a read-only session, but allows session objects there', () => {
      initToken();
      const ro = mod.C_OpenSession(slot, RO);
      expect(ckrOf(() => dataObject(ro, 'nope', [{ type: CKA_TOKEN, value: true }]))).toBe(CKR_SESSION_READ_ONLY);
      const h = dataObject(ro, 'fine');
      expect(find(ro, [{ type: CKA_LABEL, value: 'fine' }])).toHaveLength(1);
      mod.C_DestroyObject(ro, h);

      const rw = mod.C_OpenSession(slot, RW);
      const tok = dataObject(rw, 'on-token', [{ type: CKA_TOKEN, value: true }]);
      expect(ckrOf(() => mod.C_DestroyObject(ro, tok))).toBe(CKR_SESSION_READ_ONLY);
      expect(ckrOf(() => mod.C_SetAttributeValue(ro, tok, [{ type: CKA_LABEL, value: 'x' }]))).toBe(CKR_SESSION_READ_ONLY);
      expect(ckrOf(() => mod.C_CopyObject(ro, tok, []))).toBe(CKR_SESSION_READ_ONLY);
    });

    it('reports template errors with the spec return codes', () => {
      const s = userSession();
      // No CKA_CLASS.
      expect(ckrOf(() => mod.C_CreateObject(s, [{ type: CKA_LABEL, value: 'x' }]))).toBe(CKR_TEMPLATE_INCOMPLETE);
      // A secret key without its CKA_KEY_TYPE.
      expect(
        ckrOf(() =>
          mod.C_CreateObject(s, [
            { type: CKA_CLASS, value: CKO_SECRET_KEY },
            { type: CKA_VALUE, value: Buffer.alloc(16, 1) },
          ]),
        ),
      ).toBe(CKR_TEMPLATE_INCOMPLETE);
      // CKA_LOCAL is set by the token only.
      expect(
        ckrOf(() =>
          mod.C_CreateObject(s, [
            { type: CKA_CLASS, value: CKO_SECRET_KEY },
            { type: CKA_KEY_TYPE, value: CKK_AES },
            { type: CKA_VALUE, value: Buffer.alloc(16, 1) },
            { type: CKA_LOCAL, value: false },
          ]),
        ),
      ).toBe(CKR_ATTRIBUTE_READ_ONLY);
      // A CK_BBOOL must be one byte.
      expect(ckrOf(() => dataObject(s, 'x', [{ type: CKA_TOKEN, value: Buffer.from([1, 0]) }]))).toBe(CKR_ATTRIBUTE_VALUE_INVALID);
      // A CK_OBJECT_CLASS must be a CK_ULONG.
      expect(ckrOf(() => mod.C_CreateObject(s, [{ type: CKA_CLASS, value: Buffer.from([0]) }]))).toBe(CKR_ATTRIBUTE_VALUE_INVALID);
      // An attribute type that does not exist.
      expect(ckrOf(() => dataObject(s, 'x', [{ type: 0x7f7f7f, value: Buffer.from([1]) }]))).toBe(CKR_ATTRIBUTE_TYPE_INVALID);
      // The same attribute twice with different values.
      expect(ckrOf(() => dataObject(s, 'x', [{ type: CKA_VALUE, value: Buffer.from('other') }]))).toBe(CKR_TEMPLATE_INCONSISTENT);
      // Nothing was created by the failed calls.
      expect(find(s, [])).toHaveLength(0);
    });

    it('protects sensitive secret-key values; CKA_SENSITIVE only goes false -> true', () => {
      const s = userSession();
      const key = (label: string, extra: pkcs11js.Template): Buffer =>
        mod.C_CreateObject(s, [
          { type: CKA_CLASS, value: CKO_SECRET_KEY },
          { type: CKA_KEY_TYPE, value: CKK_AES },
          { type: CKA_VALUE, value: Buffer.alloc(32, 7) },
          { type: CKA_LABEL, value: label },
          ...extra,
        ]);
      // Token defaults for an imported secret key: private, sensitive, not extractable, not local.
      const byDefault = key('default', []);
      const [priv, sens, extr, local] = mod.C_GetAttributeValue(s, byDefault, [
        { type: CKA_PRIVATE },
        { type: CKA_SENSITIVE },
        { type: CKA_EXTRACTABLE },
        { type: CKA_LOCAL },
      ]);
      expect([priv, sens, extr, local].map((a) => bool(a.value as Buffer))).toEqual([true, true, false, false]);
      expect(ckrOf(() => mod.C_GetAttributeValue(s, byDefault, [{ type: CKA_VALUE }]))).toBe(CKR_ATTRIBUTE_SENSITIVE);

      const sensitive = key('sensitive', [
        { type: CKA_SENSITIVE, value: true },
        { type: CKA_EXTRACTABLE, value: true },
      ]);
      expect(ckrOf(() => mod.C_GetAttributeValue(s, sensitive, [{ type: CKA_VALUE }]))).toBe(CKR_ATTRIBUTE_SENSITIVE);
      // Its other attributes stay readable.
      expect((mod.C_GetAttributeValue(s, sensitive, [{ type: CKA_LABEL }])[0].value as Buffer).toString()).toBe('sensitive');
      expect(ckrOf(() => mod.C_SetAttributeValue(s, sensitive, [{ type: CKA_SENSITIVE, value: false }]))).toBe(CKR_ATTRIBUTE_READ_ONLY);

      const plain = key('plain', [
        { type: CKA_SENSITIVE, value: false },
        { type: CKA_EXTRACTABLE, value: true },
      ]);
      expect(mod.C_GetAttributeValue(s, plain, [{ type: CKA_VALUE }])[0].value).toEqual(Buffer.alloc(32, 7));
      mod.C_SetAttributeValue(s, plain, [{ type: CKA_SENSITIVE, value: true }]);
      expect(bool(mod.C_GetAttributeValue(s, plain, [{ type: CKA_SENSITIVE }])[0].value as Buffer)).toBe(true);
      expect(ckrOf(() => mod.C_GetAttributeValue(s, plain, [{ type: CKA_VALUE }]))).toBe(CKR_ATTRIBUTE_SENSITIVE);
      expect(ckrOf(() => mod.C_SetAttributeValue(s, plain, [{ type: CKA_SENSITIVE, value: false }]))).toBe(CKR_ATTRIBUTE_READ_ONLY);

      // CKA_EXTRACTABLE is the mirror image: true -> false only.
      const extractable = key('extractable', [
        { type: CKA_SENSITIVE, value: false },
        { type: CKA_EXTRACTABLE, value: true },
      ]);
      mod.C_SetAttributeValue(s, extractable, [{ type: CKA_EXTRACTABLE, value: false }]);
      expect(ckrOf(() => mod.C_GetAttributeValue(s, extractable, [{ type: CKA_VALUE }]))).toBe(CKR_ATTRIBUTE_SENSITIVE);
      expect(ckrOf(() => mod.C_SetAttributeValue(s, extractable, [{ type: CKA_EXTRACTABLE, value: true }]))).toBe(CKR_ATTRIBUTE_READ_ONLY);
    });

    // Replies larger than the runtime's initial 256-byte reply buffer (WireWriter growth, fixed in 274b18e).
    it('round-trips 1 KiB and 64 KiB CKA_VALUEs through C_GetAttributeValue', () => {
      const s = userSession();
      for (const size of [1024, 65536]) {
        const big = Buffer.alloc(size, 0xab);
        big.writeUInt32BE(size, 0);
        const h = mod.C_CreateObject(s, [
          { type: CKA_CLASS, value: CKO_DATA },
          { type: CKA_LABEL, value: `big ${size}` },
          { type: CKA_VALUE, value: big },
        ]);
        expect(mod.C_GetAttributeValue(s, h, [{ type: CKA_VALUE }])[0].value).toEqual(big);
      }
    });
  });

  describe('digest and random', () => {
    const message = Buffer.from('The quick brown fox jumps over the lazy dog, '.repeat(50));
    // Sessions need an initialised token; no login is needed for digests or random.
    beforeEach(() => {
      mod.C_InitToken(slot, SO_PIN, paddedLabel('digest'));
    });

    it.each(DIGESTS)('%s matches node:crypto, single and multi-part', (_name, mech, nodeName) => {
      expect(getHashes()).toContain(nodeName);
      const expected = createHash(nodeName).update(message).digest();
      const s = mod.C_OpenSession(slot, RO);

      mod.C_DigestInit(s, { mechanism: mech });
      expect(mod.C_Digest(s, message, Buffer.alloc(64))).toEqual(expected);

      mod.C_DigestInit(s, { mechanism: mech });
      mod.C_DigestUpdate(s, message.subarray(0, 1));
      mod.C_DigestUpdate(s, Buffer.alloc(0));
      mod.C_DigestUpdate(s, message.subarray(1, 1000));
      mod.C_DigestUpdate(s, message.subarray(1000));
      expect(mod.C_DigestFinal(s, Buffer.alloc(64))).toEqual(expected);

      mod.C_DigestInit(s, { mechanism: mech });
      expect(mod.C_Digest(s, Buffer.alloc(0), Buffer.alloc(64))).toEqual(createHash(nodeName).digest());
    });

    it('keeps a digest active after CKR_BUFFER_TOO_SMALL and ends it after success', () => {
      const s = mod.C_OpenSession(slot, RO);
      expect(ckrOf(() => mod.C_Digest(s, message, Buffer.alloc(32)))).toBe(CKR_OPERATION_NOT_INITIALIZED);
      mod.C_DigestInit(s, { mechanism: pkcs11js.CKM_SHA256 });
      expect(ckrOf(() => mod.C_Digest(s, message, Buffer.alloc(16)))).toBe(CKR_BUFFER_TOO_SMALL);
      expect(mod.C_Digest(s, message, Buffer.alloc(32))).toEqual(createHash('sha256').update(message).digest());
      expect(ckrOf(() => mod.C_DigestUpdate(s, message))).toBe(CKR_OPERATION_NOT_INITIALIZED);
      expect(ckrOf(() => mod.C_DigestInit(s, { mechanism: pkcs11js.CKM_MD5 }))).toBe(CKR_MECHANISM_INVALID);
    });

    it('C_GenerateRandom fills buffers of various lengths with fresh bytes', () => {
      const s = mod.C_OpenSession(slot, RO);
      // Past 256 bytes the reply outgrows the runtime's initial reply buffer (fixed in 274b18e).
      for (const len of [1, 16, 32, 219, 220, 256, 1000, 65536]) {
        const out = mod.C_GenerateRandom(s, Buffer.alloc(len));
        expect(out).toHaveLength(len);
      }
      const a = mod.C_GenerateRandom(s, Buffer.alloc(32));
      const b = mod.C_GenerateRandom(s, Buffer.alloc(32));
      expect(a.equals(b)).toBe(false);
      expect(a.equals(Buffer.alloc(32))).toBe(false);
      const big = mod.C_GenerateRandom(s, Buffer.alloc(65536));
      // 64 KiB of random bytes uses (nearly) every byte value, and is not zero-filled at the end.
      expect(new Set(big).size).toBeGreaterThan(250);
      expect(big.subarray(65536 - 64).equals(Buffer.alloc(64))).toBe(false);
      // The session still works afterwards.
      expect(mod.C_GetSessionInfo(s).state).toBe(CKS_RO_PUBLIC_SESSION);
    });
  });
});
