/** Token set-up, sessions and login (PKCS#11 3.0 sections 5.5-5.6). */
import { CKF_MECH, CKF_SESSION, CKR, CKS, CKU } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { Call } from '../dispatch/call';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Hsm } from '../module/hsm';
import type { OperationKind } from '../sessions/operation';
import type { Session } from '../sessions/session';

/** CK_UTF8CHAR[32], blank padded, to a label string. */
function labelText(raw: Uint8Array): string {
  return new TextDecoder().decode(raw).replace(/ +$/, '');
}

/** A PIN argument; PINs are wiped by the caller's frame handling, never logged. */
function pinArg(call: Call, name: string): Uint8Array {
  return call.requiredBytes(name);
}

async function login(hsm: Hsm, session: Session, userType: number, pin: Uint8Array): Promise<void> {
  const token = session.token;
  if (userType === CKU.CKU_CONTEXT_SPECIFIC) {
    // Re-authentication for a CKA_ALWAYS_AUTHENTICATE key: needs an operation that asked for it.
    require(token.loginState === 'user', CKR.CKR_USER_NOT_LOGGED_IN);
    const op = [...session.operations.values()].find((o) => o.needsContextLogin !== undefined);
    require(op, CKR.CKR_OPERATION_NOT_INITIALIZED);
    await token.reauthenticate(pin);
    op.needsContextLogin = false;
    return;
  }
  require(userType === CKU.CKU_SO || userType === CKU.CKU_USER, CKR.CKR_USER_TYPE_INVALID);
  const wanted = userType === CKU.CKU_SO ? 'so' : 'user';
  if (token.loginState === wanted) throw new CkError(CKR.CKR_USER_ALREADY_LOGGED_IN);
  if (token.loginState !== 'public') throw new CkError(CKR.CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
  if (wanted === 'so') {
    require(hsm.sessions.onToken(token.slotId).every((s) => s.readWrite), CKR.CKR_SESSION_READ_ONLY_EXISTS);
  }
  await token.login(wanted, pin);
}

/** Logging out ends what the sessions were doing with private objects. */
function logout(hsm: Hsm, session: Session): void {
  const token = session.token;
  require(token.loginState !== 'public', CKR.CKR_USER_NOT_LOGGED_IN);
  token.logout();
  for (const s of hsm.sessions.onToken(token.slotId)) s.endAllOperations();
}

function closeSession(hsm: Hsm, session: Session): void {
  hsm.sessions.close(session);
  hsm.objects.dropOwnedBy(session.handle);
  // The login state belongs to the application's sessions: the last one out logs out.
  if (hsm.sessions.onToken(session.slotId).length === 0) session.token.logout();
}

export function sessionFunctions(module: CratonModule): Record<string, Handler> {
  return {
    async C_InitToken(call) {
      const hsm = module.ready();
      const token = hsm.slots.token(call.ulong('slotID'));
      const pin = pinArg(call, 'pPin');
      const label = labelText(call.label32('pLabel'));
      require(hsm.sessions.onToken(token.slotId).length === 0, CKR.CKR_SESSION_EXISTS);
      await token.initialize(pin, label);
    },

    async C_InitPIN(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const pin = pinArg(call, 'pPin');
      require(session.state === CKS.CKS_RW_SO_FUNCTIONS, CKR.CKR_USER_NOT_LOGGED_IN);
      await session.token.setUserPin(pin);
    },

    async C_SetPIN(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const oldPin = pinArg(call, 'pOldPin');
      const newPin = pinArg(call, 'pNewPin');
      require(session.readWrite, CKR.CKR_SESSION_READ_ONLY);
      await session.token.changePin(session.token.loginState === 'so' ? 'so' : 'user', oldPin, newPin);
    },

    C_OpenSession(call) {
      const hsm = module.ready();
      const token = hsm.slots.token(call.ulong('slotID'));
      const flags = call.ulong('flags');
      call.checkOutUlong('phSession');
      require(flags & CKF_SESSION.CKF_SERIAL_SESSION, CKR.CKR_SESSION_PARALLEL_NOT_SUPPORTED);
      const readWrite = (flags & CKF_SESSION.CKF_RW_SESSION) !== 0;
      if (!readWrite) require(token.loginState !== 'so', CKR.CKR_SESSION_READ_WRITE_SO_EXISTS);
      // Sessions on a token that is not initialised yet would have nothing to act on.
      require(token.record.initialized, CKR.CKR_TOKEN_NOT_RECOGNIZED);
      const session = hsm.sessions.open(token, readWrite);
      call.setUlong('phSession', session.handle);
    },

    C_CloseSession(call) {
      const hsm = module.ready();
      closeSession(hsm, hsm.sessions.get(call.ulong('hSession')));
    },

    C_CloseAllSessions(call) {
      const hsm = module.ready();
      const token = hsm.slots.token(call.ulong('slotID'));
      for (const s of hsm.sessions.onToken(token.slotId)) closeSession(hsm, s);
    },

    C_GetSessionInfo(call) {
      const hsm = module.ready();
      const s = hsm.sessions.get(call.ulong('hSession'));
      call.setStruct('pInfo', {
        slotID: s.slotId,
        state: s.state,
        flags: CKF_SESSION.CKF_SERIAL_SESSION | (s.readWrite ? CKF_SESSION.CKF_RW_SESSION : 0),
        ulDeviceError: 0,
      });
    },

    async C_Login(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      await login(hsm, session, call.ulong('userType'), pinArg(call, 'pPin'));
    },

    async C_LoginUser(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      // One user per role: the user name is checked for shape and otherwise not used.
      call.inBytes('pUsername');
      await login(hsm, session, call.ulong('userType'), pinArg(call, 'pPin'));
    },

    C_Logout(call) {
      const hsm = module.ready();
      logout(hsm, hsm.sessions.get(call.ulong('hSession')));
    },

    C_SessionCancel(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      // Operations are named by the CKF_ flag of the function family that started them.
      const flags = call.ulong('flags');
      for (const [kind, op] of session.operations) {
        if (flags & OPERATION_FLAGS[kind]) {
          op.dispose();
          session.operations.delete(kind);
        }
      }
    },
  };
}

/**
 * The C_SessionCancel flags that end each kind. A session holds one
 * encryption-family operation at a time (plain or message-based), and one
 * signing-family operation (plain, with recovery, or message-based), so the
 * flags of the family all name that one slot.
 */
const OPERATION_FLAGS: Record<OperationKind, number> = {
  find: CKF_MECH.CKF_FIND_OBJECTS,
  digest: CKF_MECH.CKF_DIGEST,
  encrypt: CKF_MECH.CKF_ENCRYPT | CKF_MECH.CKF_MESSAGE_ENCRYPT,
  decrypt: CKF_MECH.CKF_DECRYPT | CKF_MECH.CKF_MESSAGE_DECRYPT,
  sign: CKF_MECH.CKF_SIGN | CKF_MECH.CKF_SIGN_RECOVER | CKF_MECH.CKF_MESSAGE_SIGN,
  verify: CKF_MECH.CKF_VERIFY | CKF_MECH.CKF_VERIFY_RECOVER | CKF_MECH.CKF_MESSAGE_VERIFY,
};
