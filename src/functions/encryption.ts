/**
 * Encryption and decryption (PKCS#11 3.0 sections 5.8-5.9): AES modes as
 * streams, and the single-part mechanisms (RSA, AES key wrap) that take all
 * their input at once. The single-part path also serves C_WrapKey and
 * C_UnwrapKey.
 */
import { CKA, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { RsaEncryptionParams, RsaKey } from '../backends/asymmetric';
import { BackendError, type CryptoBackend } from '../backends/backend';
import type { CipherContext, CipherSpec } from '../backends/symmetric';
import type { Call } from '../dispatch/call';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Hsm } from '../module/hsm';
import type { MechanismSpec } from '../mechanisms/mechanism';
import type { P11Object } from '../objects/object-table';
import type { Operation } from '../sessions/operation';
import type { Session } from '../sessions/session';
import type { WireMechanism } from '../wire/codec';
import { operationKey, secretValue } from './operation-key';

export type Direction = 'encrypt' | 'decrypt';

/** Single-part mechanisms buffer what C_*Update gives them, up to this much. */
const MAX_BUFFERED = 64 * 1024 * 1024;

export interface EncryptionOperation extends Operation {
  multipart: boolean;
  /** Output of update(n bytes), exactly. */
  updateSize(length: number): number;
  /** Output of update(pending) + final(), exactly or (for decryption) an upper bound. */
  finalSize(pending?: number): number;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array | Promise<Uint8Array>;
}

/** An AES mode run by a backend cipher context. */
class StreamOperation implements EncryptionOperation {
  multipart = false;

  constructor(private readonly context: CipherContext) {}

  updateSize(length: number): number {
    return this.context.updateSize(length);
  }

  finalSize(pending?: number): number {
    return this.context.finalSize(pending);
  }

  update(data: Uint8Array): Uint8Array {
    return this.context.update(data);
  }

  final(): Uint8Array {
    return this.context.final();
  }

  dispose(): void {
    this.context.dispose();
  }
}

/** The work a single-part mechanism does on its whole input, and how long its output is. */
interface OneShot {
  outputSize(inputLength: number): number;
  run(input: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

class BufferedOperation implements EncryptionOperation {
  multipart = false;
  private readonly parts: Uint8Array[] = [];
  private buffered = 0;

  constructor(private readonly work: OneShot) {}

  updateSize(): number {
    return 0;
  }

  finalSize(pending = 0): number {
    return this.work.outputSize(this.buffered + pending);
  }

  update(data: Uint8Array): Uint8Array {
    this.buffered += data.length;
    require(this.buffered <= MAX_BUFFERED, CKR.CKR_DATA_LEN_RANGE);
    this.parts.push(Uint8Array.from(data));
    return new Uint8Array(0);
  }

  final(): Uint8Array | Promise<Uint8Array> {
    return this.work.run(Buffer.concat(this.parts));
  }

  dispose(): void {
    for (const p of this.parts) p.fill(0);
  }
}

function rsaOneShot(backend: CryptoBackend, key: RsaKey, params: RsaEncryptionParams, direction: Direction): OneShot {
  return {
    outputSize: () => key.byteLength,
    run: (input) => (direction === 'encrypt' ? backend.rsaEncrypt(key, params, input) : backend.rsaDecrypt(key, params, input)),
  };
}

function keyWrapOneShot(backend: CryptoBackend, key: Uint8Array, padded: boolean, direction: Direction): OneShot {
  return {
    outputSize: (n) => (direction === 'encrypt' ? (padded ? Math.ceil(n / 8) * 8 : n) + 8 : Math.max(n - 8, 0)),
    run: (input) => (direction === 'encrypt' ? backend.aesKeyWrap(key, input, padded) : backend.aesKeyUnwrap(key, input, padded)),
  };
}

/** A backend cipher context; sizes the backend refuses (IV, tag...) make a bad mechanism parameter. */
export function createCipher(backend: CryptoBackend, spec: CipherSpec, direction: Direction): CipherContext {
  try {
    return backend.createCipher(spec, direction === 'encrypt');
  } catch (e) {
    throw e instanceof BackendError && e.code === 'ARGUMENT' ? new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, e.message) : e;
  }
}

/** The operation a mechanism runs with a key, once the key has passed the C_*Init checks. */
export async function startOperation(hsm: Hsm, spec: MechanismSpec, key: P11Object, mechanism: WireMechanism, direction: Direction): Promise<EncryptionOperation> {
  if (spec.cipher) return new StreamOperation(createCipher(hsm.backend, spec.cipher(secretValue(key), mechanism.param), direction));
  if (spec.keyWrap) return new BufferedOperation(keyWrapOneShot(hsm.backend, secretValue(key), spec.keyWrap(mechanism.param).padded, direction));
  if (spec.rsaEncryption) {
    const params = spec.rsaEncryption(mechanism.param);
    const native = await hsm.keys.get(key);
    if (native.type !== 'rsa') throw new CkError(CKR.CKR_KEY_TYPE_INCONSISTENT);
    return new BufferedOperation(rsaOneShot(hsm.backend, native, params, direction));
  }
  throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not an encryption mechanism');
}

/** Backend refusals mean the data, not the module, is at fault. */
export function dataError(direction: Direction, e: unknown): unknown {
  if (!(e instanceof BackendError)) return e;
  if (e.code === 'AUTH') return new CkError(CKR.CKR_ENCRYPTED_DATA_INVALID, e.message);
  if (e.code === 'ARGUMENT') return new CkError(direction === 'encrypt' ? CKR.CKR_DATA_LEN_RANGE : CKR.CKR_ENCRYPTED_DATA_LEN_RANGE, e.message);
  return e;
}

/** The session's C_EncryptInit (C_DecryptInit) operation; message-based ones do not count. */
export function activeEncryption(session: Session, direction: Direction): EncryptionOperation {
  const op = session.operations.get(direction);
  require(op instanceof StreamOperation || op instanceof BufferedOperation, CKR.CKR_OPERATION_NOT_INITIALIZED);
  return op;
}

/**
 * Runs a step; any failure other than a length query ends the operation
 * (section 5.2). Stays synchronous when the work is, so AES calls need no
 * promise round trip.
 */
function step(session: Session, direction: Direction, work: () => void | Promise<void>): void | Promise<void> {
  const fail = (e: unknown): never => {
    session.endOperation(direction);
    throw dataError(direction, e);
  };
  try {
    const pending = work();
    return pending instanceof Promise ? pending.catch(fail) : undefined;
  } catch (e) {
    return fail(e);
  }
}

/** Writes the final output once it is ready, synchronously when it already is. */
function finish(session: Session, direction: Direction, first: Uint8Array, last: Uint8Array | Promise<Uint8Array>, write: (out: Uint8Array) => void): void | Promise<void> {
  const done = (tail: Uint8Array) => {
    session.endOperation(direction);
    write(first.length === 0 ? tail : Buffer.concat([first, tail]));
  };
  return last instanceof Promise ? last.then(done) : done(last);
}

interface Names {
  init: string;
  single: string;
  update: string;
  final: string;
  input: string;
  output: string;
  partIn: string;
  partOut: string;
  last: string;
}

function handlers(module: CratonModule, direction: Direction, names: Names): Record<string, Handler> {
  const usage = direction === 'encrypt' ? CKA.CKA_ENCRYPT : CKA.CKA_DECRYPT;
  return {
    async [names.init](call: Call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.optionalMechanism('pMechanism');
      // A NULL mechanism ends the active operation (PKCS#11 3.0, C_EncryptInit and the other *Init functions).
      if (!mechanism) return session.endOperation(direction);
      require(!session.operations.has(direction), CKR.CKR_OPERATION_ACTIVE);
      const spec = hsm.mechanisms.get(mechanism.type);
      if (!spec.cipher && !spec.keyWrap && !spec.rsaEncryption) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not an encryption mechanism');
      const key = operationKey(hsm, session, call.ulong('hKey'), spec, usage);
      const op = await startOperation(hsm, spec, key, mechanism, direction);
      // Another call may have started an operation while the key was being prepared.
      if (session.operations.has(direction)) {
        op.dispose();
        throw new CkError(CKR.CKR_OPERATION_ACTIVE);
      }
      session.start(direction, op);
    },

    [names.single](call: Call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = activeEncryption(session, direction);
      return step(session, direction, () => {
        const input = call.inBytes(names.input);
        const out = call.outBytes(names.output);
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        if (!out.accepts(op.finalSize(input.length))) return undefined;
        const first = op.update(input);
        return finish(session, direction, first, op.final(), (o) => out.write(o));
      });
    },

    [names.update](call: Call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = activeEncryption(session, direction);
      return step(session, direction, () => {
        const input = call.inBytes(names.partIn);
        const out = call.outBytes(names.partOut);
        op.multipart = true;
        if (!out.accepts(op.updateSize(input.length))) return;
        out.write(op.update(input));
      });
    },

    [names.final](call: Call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = activeEncryption(session, direction);
      return step(session, direction, () => {
        const out = call.outBytes(names.last);
        if (!out.accepts(op.finalSize())) return undefined;
        return finish(session, direction, new Uint8Array(0), op.final(), (o) => out.write(o));
      });
    },
  };
}

export function encryptionFunctions(module: CratonModule): Record<string, Handler> {
  return {
    ...handlers(module, 'encrypt', {
      init: 'C_EncryptInit',
      single: 'C_Encrypt',
      update: 'C_EncryptUpdate',
      final: 'C_EncryptFinal',
      input: 'pData',
      output: 'pEncryptedData',
      partIn: 'pPart',
      partOut: 'pEncryptedPart',
      last: 'pLastEncryptedPart',
    }),
    ...handlers(module, 'decrypt', {
      init: 'C_DecryptInit',
      single: 'C_Decrypt',
      update: 'C_DecryptUpdate',
      final: 'C_DecryptFinal',
      input: 'pEncryptedData',
      output: 'pData',
      partIn: 'pEncryptedPart',
      partOut: 'pPart',
      last: 'pLastPart',
    }),
  };
}
