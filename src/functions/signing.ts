/** Signing and verification with MACs (PKCS#11 3.0 sections 5.13-5.14). */
import { timingSafeEqual } from 'node:crypto';
import { CKA, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { MacContext } from '../backends/symmetric';
import type { Call } from '../dispatch/call';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Operation } from '../sessions/operation';
import type { Session } from '../sessions/session';
import { operationKey, secretValue } from './operation-key';

type Direction = 'sign' | 'verify';

class MacOperation implements Operation {
  multipart = false;

  constructor(
    readonly context: MacContext,
    readonly length: number,
  ) {}

  /** The MAC over everything given so far, cut to the mechanism's length; ends the context. */
  finish(): Uint8Array {
    return this.context.final().subarray(0, this.length);
  }

  dispose(): void {
    this.context.dispose();
  }
}

function active(session: Session, direction: Direction): MacOperation {
  const op = session.operations.get(direction);
  require(op instanceof MacOperation, CKR.CKR_OPERATION_NOT_INITIALIZED);
  return op;
}

function end(session: Session, direction: Direction): void {
  session.operations.get(direction)?.dispose();
  session.operations.delete(direction);
}

/** Runs a step; any failure other than a length query ends the operation. */
function step(session: Session, direction: Direction, work: () => void): void {
  try {
    work();
  } catch (e) {
    end(session, direction);
    throw e;
  }
}

function checkSignature(op: MacOperation, signature: Uint8Array): void {
  require(signature.length === op.length, CKR.CKR_SIGNATURE_LEN_RANGE);
  const expected = op.finish();
  if (!timingSafeEqual(expected, signature)) throw new CkError(CKR.CKR_SIGNATURE_INVALID);
}

function init(module: CratonModule, direction: Direction) {
  return (call: Call) => {
    const hsm = module.ready();
    const session = hsm.sessions.get(call.ulong('hSession'));
    const mechanism = call.mechanism('pMechanism');
    require(!session.operations.has(direction), CKR.CKR_OPERATION_ACTIVE);
    const spec = hsm.mechanisms.get(mechanism.type);
    if (!spec.mac) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a MAC');
    const key = operationKey(hsm, session, call.ulong('hKey'), spec, direction === 'sign' ? CKA.CKA_SIGN : CKA.CKA_VERIFY);
    const use = spec.mac(secretValue(key), mechanism.param);
    session.operations.set(direction, new MacOperation(hsm.backend.createMac(use.spec), use.length));
  };
}

function update(module: CratonModule, direction: Direction) {
  return (call: Call) => {
    const session = module.ready().sessions.get(call.ulong('hSession'));
    const op = active(session, direction);
    step(session, direction, () => {
      op.context.update(call.inBytes('pPart'));
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
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = active(session, 'sign');
      step(session, 'sign', () => {
        const data = call.inBytes('pData');
        const out = call.outBytes('pSignature');
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        if (!out.accepts(op.length)) return;
        op.context.update(data);
        const mac = op.finish();
        end(session, 'sign');
        out.write(mac);
      });
    },

    C_SignFinal(call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = active(session, 'sign');
      step(session, 'sign', () => {
        const out = call.outBytes('pSignature');
        if (!out.accepts(op.length)) return;
        const mac = op.finish();
        end(session, 'sign');
        out.write(mac);
      });
    },

    C_Verify(call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = active(session, 'verify');
      step(session, 'verify', () => {
        const data = call.inBytes('pData');
        const signature = call.inBytes('pSignature');
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        op.context.update(data);
        checkSignature(op, signature);
        end(session, 'verify');
      });
    },

    C_VerifyFinal(call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = active(session, 'verify');
      step(session, 'verify', () => {
        checkSignature(op, call.inBytes('pSignature'));
        end(session, 'verify');
      });
    },
  };
}
