/**
 * Signing and verification (PKCS#11 3.0 sections 5.13 and 5.15): MACs,
 * computed on the JS thread, and public-key signatures, computed by the
 * backend off it; RSA signatures with message recovery (C_SignRecover,
 * C_VerifyRecover), which occupy the same sign (verify) slot of the session.
 */
import { timingSafeEqual } from 'node:crypto';
import { CKA, CKF_MECH, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { AsymmetricKey, RecoverParams, RsaKey } from '../backends/asymmetric';
import { BackendError, type CryptoBackend, type DigestContext } from '../backends/backend';
import type { MacContext } from '../backends/symmetric';
import type { Call } from '../dispatch/call';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { MechanismSpec, SignatureUse } from '../mechanisms/mechanism';
import type { Operation } from '../sessions/operation';
import type { Session } from '../sessions/session';
import type { WireParam } from '../wire/codec';
import { operationKey, secretValue } from './operation-key';

type Direction = 'sign' | 'verify';

/** Raw-data signatures take a single part; this bounds what multi-part calls may buffer. */
const MAX_BUFFERED = 64 * 1024;

class MacOperation implements Operation {
  multipart = false;

  constructor(
    readonly context: MacContext,
    readonly length: number,
  ) {}

  update(data: Uint8Array): void {
    this.context.update(data);
  }

  /** The MAC over everything given so far, cut to the mechanism's length; ends the context. */
  finish(): Uint8Array {
    return this.context.final().subarray(0, this.length);
  }

  dispose(): void {
    this.context.dispose();
  }
}

class SignatureOperation implements Operation {
  multipart = false;
  needsContextLogin?: boolean;
  private readonly digest: DigestContext | null;
  private readonly parts: Uint8Array[] = [];
  private buffered = 0;

  constructor(
    backend: CryptoBackend,
    readonly key: AsymmetricKey,
    readonly use: SignatureUse,
    alwaysAuthenticate: boolean,
  ) {
    this.digest = use.digest ? backend.createDigest(use.digest) : null;
    if (alwaysAuthenticate) this.needsContextLogin = true;
  }

  /** RSA signatures are as long as the modulus; ECDSA's r||s twice the order; EdDSA's R||S twice the key. */
  get length(): number {
    return this.key.type === 'ec' || this.key.type === 'eddsa' ? 2 * this.key.byteLength : this.key.byteLength;
  }

  update(data: Uint8Array): void {
    if (this.digest) {
      this.digest.update(data);
      return;
    }
    this.buffered += data.length;
    require(this.buffered <= MAX_BUFFERED, CKR.CKR_DATA_LEN_RANGE);
    this.parts.push(Uint8Array.from(data));
  }

  /** What the scheme signs: the finished hash, or the data as given. */
  input(): Uint8Array {
    if (this.digest) return this.digest.final();
    return this.parts.length === 1 ? (this.parts[0] as Uint8Array) : Buffer.concat(this.parts);
  }

  dispose(): void {
    this.digest?.dispose();
  }
}

/** C_SignRecover / C_VerifyRecover: single-part, the data travels inside the signature. */
class RecoverOperation implements Operation {
  needsContextLogin?: boolean;

  constructor(
    readonly key: RsaKey,
    readonly params: RecoverParams,
    alwaysAuthenticate: boolean,
  ) {
    if (alwaysAuthenticate) this.needsContextLogin = true;
  }

  /** Nothing to release: the key handle belongs to the module's key cache. */
  dispose(): void {}
}

type AnySignOperation = MacOperation | SignatureOperation;

/** The session's C_SignInit (C_VerifyInit) operation; one with recovery does not count. */
export function activeSignature(session: Session, direction: Direction): AnySignOperation {
  const op = session.operations.get(direction);
  require(op instanceof MacOperation || op instanceof SignatureOperation, CKR.CKR_OPERATION_NOT_INITIALIZED);
  return op;
}

function activeRecover(session: Session, direction: Direction): RecoverOperation {
  const op = session.operations.get(direction);
  require(op instanceof RecoverOperation, CKR.CKR_OPERATION_NOT_INITIALIZED);
  return op;
}

/** Makes `op` the session's active operation, unless another call started one while the key was being prepared. */
function begin(session: Session, direction: Direction, op: Operation): void {
  if (session.operations.has(direction)) {
    op.dispose();
    throw new CkError(CKR.CKR_OPERATION_ACTIVE);
  }
  session.start(direction, op);
}

/**
 * Backend refusals of the data (too long for the key...) are the data's fault;
 * a variant the library lacks (Ed25519ctx/ph before OpenSSL 3.2) is the parameter's.
 */
function dataError(e: unknown): unknown {
  if (e instanceof BackendError && e.code === 'ARGUMENT') return new CkError(CKR.CKR_DATA_LEN_RANGE, e.message);
  if (e instanceof BackendError && e.code === 'ALGORITHM_UNSUPPORTED') return new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, e.message);
  return e;
}

/** Runs a step; any failure other than a length query ends the operation (section 5.2). */
async function step(session: Session, direction: Direction, work: () => void | Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    session.endOperation(direction);
    throw dataError(e);
  }
}

async function produce(backend: CryptoBackend, op: AnySignOperation): Promise<Uint8Array> {
  if (op instanceof MacOperation) return op.finish();
  require(!op.needsContextLogin, CKR.CKR_USER_NOT_LOGGED_IN, 'this key needs C_Login(CKU_CONTEXT_SPECIFIC) first');
  return backend.sign(op.key, op.use.params, op.input());
}

async function check(backend: CryptoBackend, op: AnySignOperation, signature: Uint8Array): Promise<void> {
  require(signature.length === op.length, CKR.CKR_SIGNATURE_LEN_RANGE);
  if (op instanceof MacOperation) {
    if (!timingSafeEqual(op.finish(), signature)) throw new CkError(CKR.CKR_SIGNATURE_INVALID);
    return;
  }
  if (!(await backend.verify(op.key, op.use.params, op.input(), signature))) throw new CkError(CKR.CKR_SIGNATURE_INVALID);
}

function init(module: CratonModule, direction: Direction) {
  return async (call: Call) => {
    const hsm = module.ready();
    const session = hsm.sessions.get(call.ulong('hSession'));
    const mechanism = call.optionalMechanism('pMechanism');
    // A NULL mechanism ends the active operation (PKCS#11 3.0, C_SignInit and the other *Init functions).
    if (!mechanism) return session.endOperation(direction);
    require(!session.operations.has(direction), CKR.CKR_OPERATION_ACTIVE);
    const spec = hsm.mechanisms.get(mechanism.type);
    if (!spec.mac && !spec.signature) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a signature mechanism');
    const key = operationKey(hsm, session, call.ulong('hKey'), spec, direction === 'sign' ? CKA.CKA_SIGN : CKA.CKA_VERIFY);
    let op: AnySignOperation;
    if (spec.mac) {
      const use = spec.mac(secretValue(key), mechanism.param);
      op = new MacOperation(hsm.backend.createMac(use.spec), use.length);
    } else {
      const use = (spec.signature as NonNullable<typeof spec.signature>)(mechanism.param);
      if ('digest' in use.params) hsm.mechanisms.policy.checkSignatureHash(use.params.digest);
      const native = await hsm.keys.get(key);
      op = new SignatureOperation(hsm.backend, native, use, direction === 'sign' && key.attributes.get(CKA.CKA_ALWAYS_AUTHENTICATE) === true);
    }
    begin(session, direction, op);
  };
}

/** The scheme of a mechanism that signs with message recovery: its raw, unhashed signature scheme. */
function recoverScheme(spec: MechanismSpec, param: WireParam, flag: number): RecoverParams {
  if (spec.signature && (spec.flags & flag) !== 0) {
    const { params, digest } = spec.signature(param);
    if (params.scheme === 'rsa-x509' && !digest) return { scheme: 'rsa-x509' };
    if (params.scheme === 'rsa-pkcs1' && !params.digest && !digest) return { scheme: 'rsa-pkcs1' };
  }
  throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a mechanism with message recovery');
}

function recoverInit(module: CratonModule, direction: Direction) {
  return async (call: Call) => {
    const hsm = module.ready();
    const session = hsm.sessions.get(call.ulong('hSession'));
    const mechanism = call.optionalMechanism('pMechanism');
    // A NULL mechanism ends the active operation (PKCS#11 3.0, C_SignInit and the other *Init functions).
    if (!mechanism) return session.endOperation(direction);
    require(!session.operations.has(direction), CKR.CKR_OPERATION_ACTIVE);
    const spec = hsm.mechanisms.get(mechanism.type);
    const params = recoverScheme(spec, mechanism.param, direction === 'sign' ? CKF_MECH.CKF_SIGN_RECOVER : CKF_MECH.CKF_VERIFY_RECOVER);
    const key = operationKey(hsm, session, call.ulong('hKey'), spec, direction === 'sign' ? CKA.CKA_SIGN_RECOVER : CKA.CKA_VERIFY_RECOVER);
    const native = await hsm.keys.get(key);
    require(native.type === 'rsa', CKR.CKR_KEY_TYPE_INCONSISTENT);
    begin(session, direction, new RecoverOperation(native, params, direction === 'sign' && key.attributes.get(CKA.CKA_ALWAYS_AUTHENTICATE) === true));
  };
}

function update(module: CratonModule, direction: Direction) {
  return (call: Call) => {
    const session = module.ready().sessions.get(call.ulong('hSession'));
    const op = activeSignature(session, direction);
    return step(session, direction, () => {
      op.update(call.inBytes('pPart'));
      op.multipart = true;
    });
  };
}

export function signingFunctions(module: CratonModule): Record<string, Handler> {
  return {
    C_SignInit: init(module, 'sign'),
    C_SignUpdate: update(module, 'sign'),
    C_VerifyInit: init(module, 'verify'),
    C_VerifyUpdate: update(module, 'verify'),
    C_SignRecoverInit: recoverInit(module, 'sign'),
    C_VerifyRecoverInit: recoverInit(module, 'verify'),

    C_SignRecover(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = activeRecover(session, 'sign');
      return step(session, 'sign', async () => {
        const data = call.inBytes('pData');
        const out = call.outBytes('pSignature');
        if (!out.accepts(op.key.byteLength)) return;
        require(!op.needsContextLogin, CKR.CKR_USER_NOT_LOGGED_IN, 'this key needs C_Login(CKU_CONTEXT_SPECIFIC) first');
        // Without a digest both schemes sign the data as given: PKCS #1 v1.5 type 1 padding, or none.
        const signature = await hsm.backend.sign(op.key, op.params, data);
        session.endOperation('sign');
        out.write(signature);
      });
    },

    C_VerifyRecover(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = activeRecover(session, 'verify');
      return step(session, 'verify', async () => {
        const signature = call.inBytes('pSignature');
        const out = call.outBytes('pData');
        require(signature.length === op.key.byteLength, CKR.CKR_SIGNATURE_LEN_RANGE);
        // Recovery first, even for a length query: an invalid signature is never CKR_BUFFER_TOO_SMALL (section 5.15).
        const data = await hsm.backend.verifyRecover(op.key, op.params, signature);
        if (!data) throw new CkError(CKR.CKR_SIGNATURE_INVALID);
        if (!out.accepts(data.length)) return;
        session.endOperation('verify');
        out.write(data);
      });
    },

    C_Sign(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = activeSignature(session, 'sign');
      return step(session, 'sign', async () => {
        const data = call.inBytes('pData');
        const out = call.outBytes('pSignature');
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        if (!out.accepts(op.length)) return;
        op.update(data);
        const signature = await produce(hsm.backend, op);
        session.endOperation('sign');
        out.write(signature);
      });
    },

    C_SignFinal(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = activeSignature(session, 'sign');
      return step(session, 'sign', async () => {
        const out = call.outBytes('pSignature');
        if (!out.accepts(op.length)) return;
        const signature = await produce(hsm.backend, op);
        session.endOperation('sign');
        out.write(signature);
      });
    },

    C_Verify(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = activeSignature(session, 'verify');
      return step(session, 'verify', async () => {
        const data = call.inBytes('pData');
        const signature = call.inBytes('pSignature');
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        op.update(data);
        await check(hsm.backend, op, signature);
        session.endOperation('verify');
      });
    },

    C_VerifyFinal(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = activeSignature(session, 'verify');
      return step(session, 'verify', async () => {
        await check(hsm.backend, op, call.inBytes('pSignature'));
        session.endOperation('verify');
      });
    },
  };
}
