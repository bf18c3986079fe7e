/**
 * Signing and verification (PKCS#11 3.0 sections 5.13-5.14): MACs, computed
 * on the JS thread, and public-key signatures, computed by the backend off it.
 */
import { timingSafeEqual } from 'node:crypto';
import { CKA, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { AsymmetricKey } from '../backends/asymmetric';
import { BackendError, type CryptoBackend, type DigestContext } from '../backends/backend';
import type { MacContext } from '../backends/symmetric';
import type { Call } from '../dispatch/call';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { SignatureUse } from '../mechanisms/mechanism';
import type { Operation } from '../sessions/operation';
import type { Session } from '../sessions/session';
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

  /** RSA signatures are as long as the modulus; ECDSA's r||s twice the order. */
  get length(): number {
    return this.key.type === 'ec' ? 2 * this.key.byteLength : this.key.byteLength;
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

type AnySignOperation = MacOperation | SignatureOperation;

function active(session: Session, direction: Direction): AnySignOperation {
  const op = session.operations.get(direction);
  require(op instanceof MacOperation || op instanceof SignatureOperation, CKR.CKR_OPERATION_NOT_INITIALIZED);
  return op;
}

function end(session: Session, direction: Direction): void {
  session.operations.get(direction)?.dispose();
  session.operations.delete(direction);
}

/** Backend refusals of the data (too long for the key...) are the data's fault. */
function dataError(e: unknown): unknown {
  return e instanceof BackendError && e.code === 'ARGUMENT' ? new CkError(CKR.CKR_DATA_LEN_RANGE, e.message) : e;
}

/** Runs a step; any failure other than a length query ends the operation (section 5.2). */
async function step(session: Session, direction: Direction, work: () => void | Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    end(session, direction);
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
    const mechanism = call.mechanism('pMechanism');
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
      const native = await hsm.keys.get(key);
      op = new SignatureOperation(hsm.backend, native, use, direction === 'sign' && key.attributes.get(CKA.CKA_ALWAYS_AUTHENTICATE) === true);
    }
    // Another call may have started an operation while the key was being prepared.
    if (session.operations.has(direction)) {
      op.dispose();
      throw new CkError(CKR.CKR_OPERATION_ACTIVE);
    }
    session.operations.set(direction, op);
  };
}

function update(module: CratonModule, direction: Direction) {
  return (call: Call) => {
    const session = module.ready().sessions.get(call.ulong('hSession'));
    const op = active(session, direction);
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

    C_Sign(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = active(session, 'sign');
      return step(session, 'sign', async () => {
        const data = call.inBytes('pData');
        const out = call.outBytes('pSignature');
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        if (!out.accepts(op.length)) return;
        op.update(data);
        const signature = await produce(hsm.backend, op);
        end(session, 'sign');
        out.write(signature);
      });
    },

    C_SignFinal(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = active(session, 'sign');
      return step(session, 'sign', async () => {
        const out = call.outBytes('pSignature');
        if (!out.accepts(op.length)) return;
        const signature = await produce(hsm.backend, op);
        end(session, 'sign');
        out.write(signature);
      });
    },

    C_Verify(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = active(session, 'verify');
      return step(session, 'verify', async () => {
        const data = call.inBytes('pData');
        const signature = call.inBytes('pSignature');
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        op.update(data);
        await check(hsm.backend, op, signature);
        end(session, 'verify');
      });
    },

    C_VerifyFinal(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = active(session, 'verify');
      return step(session, 'verify', async () => {
        await check(hsm.backend, op, call.inBytes('pSignature'));
        end(session, 'verify');
      });
    },
  };
}
