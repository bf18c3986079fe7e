/**
 * Message-based encryption and decryption (PKCS#11 3.0 sections 5.9 and 5.11)
 * with the AEAD mechanisms (AES-GCM, AES-CCM). A process runs from
 * C_Message{En,De}cryptInit to C_Message{En,De}cryptFinal and takes any number
 * of messages, each single-part (C_EncryptMessage) or in parts (Begin, then
 * Next until CKF_END_OF_MESSAGE). Each message brings its own parameter; what
 * the module produces for it (a generated IV, the tag) is written back into
 * the caller's parameter structure.
 *
 * A process occupies the session's encrypt (decrypt) slot, so it and a
 * C_EncryptInit operation exclude each other. A failed message ends that
 * message only; the process goes on until its Final.
 */
import { CKA, CKF_MECH, CKF_MSG, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { CryptoBackend } from '../backends/backend';
import type { CipherContext } from '../backends/symmetric';
import type { Call } from '../dispatch/call';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { AeadMessageParams } from '../mechanisms/mechanism';
import { ivGeneratorFor, type PendingIv } from '../sessions/iv-generator';
import type { Operation } from '../sessions/operation';
import type { Session } from '../sessions/session';
import type { WireParam } from '../wire/codec';
import { createCipher, dataError, type Direction } from './encryption';
import { operationKey, secretValue } from './operation-key';

/** A message in parts, from C_*MessageBegin to the C_*MessageNext that ends it. */
interface MessageInParts {
  readonly context: CipherContext;
  readonly tagLength: number;
}

class MessageProcess implements Operation {
  message: MessageInParts | null = null;

  constructor(
    /** A copy of the key value, wiped when the process ends. */
    readonly key: Uint8Array,
    readonly readParams: (param: WireParam) => AeadMessageParams,
    /** The IV for a message: generated or as given (encryption), always as given (decryption). */
    readonly ivFor: (params: AeadMessageParams) => PendingIv,
  ) {}

  endMessage(): void {
    this.message?.context.dispose();
    this.message = null;
  }

  dispose(): void {
    this.endMessage();
    this.key.fill(0);
  }
}

function activeProcess(session: Session, direction: Direction): MessageProcess {
  const op = session.operations.get(direction);
  require(op instanceof MessageProcess, CKR.CKR_OPERATION_NOT_INITIALIZED);
  return op;
}

/** Writes into fields of the caller's parameter structure (the shim allows only its inout fields). */
function writeBack(call: Call, param: WireParam, values: ReadonlyMap<string, Uint8Array>): void {
  const fields = param.value?.struct.fields ?? [];
  call.setWritebacks(
    'pParameter',
    [...values].map(([name, data]) => ({ field: fields.findIndex((f) => f.name === name), data })),
  );
}

/** Encryption generates the IV when the parameter asks for it; decryption takes it as given (section 6.13). */
function ivSource(session: Session, direction: Direction, key: Uint8Array, backend: CryptoBackend): (params: AeadMessageParams) => PendingIv {
  if (direction === 'decrypt') return (params) => ({ iv: params.iv, generated: false, take: () => undefined });
  const generator = ivGeneratorFor(session, key, backend);
  return (params) => generator.prepare({ template: params.iv, fixedBits: params.ivFixedBits, generator: params.ivGenerator });
}

/** What a message hands back in its parameter: the IV if the module chose it, the tag if it made one. */
function produced(params: AeadMessageParams, pending: PendingIv, tag?: Uint8Array): Map<string, Uint8Array> {
  const values = new Map<string, Uint8Array>();
  if (pending.generated) values.set(params.ivField, pending.iv);
  if (tag) values.set(params.tagField, tag);
  return values;
}

/** The tag buffer of a message's parameter: the tag goes there (encryption) or comes from there (decryption). */
function tagBuffer(params: AeadMessageParams, tagLength: number): Uint8Array {
  require(params.tag !== null && params.tagLength === tagLength, CKR.CKR_MECHANISM_PARAM_INVALID, `${params.tagField} must hold the ${tagLength}-byte tag`);
  return params.tag;
}

/** How a message ends: encryption hands out the tag, decryption checks it before releasing anything. */
interface Ending {
  /** Output of the last part, exactly (a length query consumes nothing). */
  length(context: CipherContext, input: Uint8Array, tagLength: number): number;
  run(context: CipherContext, input: Uint8Array, tag: Uint8Array): { output: Uint8Array; tag?: Uint8Array };
}

const ENDINGS: Readonly<Record<Direction, Ending>> = {
  encrypt: {
    length: (context, input, tagLength) => context.finalSize(input.length) - tagLength,
    run(context, input, tag) {
      const sealed = Buffer.concat([context.update(input), context.final()]);
      const cut = sealed.length - tag.length;
      return { output: sealed.subarray(0, cut), tag: sealed.subarray(cut) };
    },
  },
  decrypt: {
    length: (context, input, tagLength) => context.finalSize(input.length + tagLength),
    run(context, input, tag) {
      context.update(input);
      context.update(tag);
      return { output: context.final() };
    },
  },
};

interface Names {
  init: string;
  single: string;
  begin: string;
  next: string;
  final: string;
  input: string;
  output: string;
  partIn: string;
  partOut: string;
}

function handlers(module: CratonModule, direction: Direction, names: Names): Record<string, Handler> {
  const ending = ENDINGS[direction];

  return {
    [names.init](call: Call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.optionalMechanism('pMechanism');
      // A NULL mechanism ends the active operation (PKCS#11 3.0, C_EncryptInit and the other *Init functions).
      if (!mechanism) return session.endOperation(direction);
      require(!session.operations.has(direction), CKR.CKR_OPERATION_ACTIVE);
      const spec = hsm.mechanisms.get(mechanism.type);
      const readParams = spec.messageCipher;
      const flag = direction === 'encrypt' ? CKF_MECH.CKF_MESSAGE_ENCRYPT : CKF_MECH.CKF_MESSAGE_DECRYPT;
      if (!readParams || (spec.flags & flag) === 0) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a message-based encryption mechanism');
      const key = secretValue(operationKey(hsm, session, call.ulong('hKey'), spec, direction === 'encrypt' ? CKA.CKA_ENCRYPT : CKA.CKA_DECRYPT));
      // The mechanism's own parameter is not used: every message brings one.
      session.start(direction, new MessageProcess(Uint8Array.from(key), readParams, ivSource(session, direction, key, hsm.backend)));
    },

    [names.single](call: Call) {
      const hsm = module.ready();
      const process = activeProcess(hsm.sessions.get(call.ulong('hSession')), direction);
      require(!process.message, CKR.CKR_OPERATION_ACTIVE, 'a message in parts is under way');
      const param = call.messageParam('pParameter');
      const params = process.readParams(param);
      const aad = call.inBytes('pAssociatedData');
      const input = call.inBytes(names.input);
      const out = call.outBytes(names.output);
      const tag = tagBuffer(params, params.tagLength);
      const pending = process.ivFor(params);
      const context = createCipher(hsm.backend, params.cipher(process.key, pending.iv, aad), direction);
      try {
        if (!out.accepts(ending.length(context, input, params.tagLength))) return;
        pending.take();
        const result = ending.run(context, input, tag);
        out.write(result.output);
        writeBack(call, param, produced(params, pending, result.tag));
      } catch (e) {
        throw dataError(direction, e);
      } finally {
        context.dispose();
      }
    },

    [names.begin](call: Call) {
      const hsm = module.ready();
      const process = activeProcess(hsm.sessions.get(call.ulong('hSession')), direction);
      require(!process.message, CKR.CKR_OPERATION_ACTIVE, 'a message in parts is under way');
      const param = call.messageParam('pParameter');
      const params = process.readParams(param);
      const aad = call.inBytes('pAssociatedData');
      const pending = process.ivFor(params);
      const context = createCipher(hsm.backend, params.cipher(process.key, pending.iv, aad), direction);
      pending.take();
      process.message = { context, tagLength: params.tagLength };
      writeBack(call, param, produced(params, pending));
    },

    [names.next](call: Call) {
      const process = activeProcess(module.ready().sessions.get(call.ulong('hSession')), direction);
      const message = process.message;
      require(message, CKR.CKR_OPERATION_NOT_INITIALIZED, 'no message was begun');
      // Any failure ends the message (a length query or CKR_BUFFER_TOO_SMALL is no failure).
      try {
        const param = call.messageParam('pParameter');
        const params = process.readParams(param);
        const input = call.inBytes(names.partIn);
        const out = call.outBytes(names.partOut);
        const flags = call.ulong('flags');
        require(flags === 0 || flags === CKF_MSG.CKF_END_OF_MESSAGE, CKR.CKR_ARGUMENTS_BAD, 'flags must be 0 or CKF_END_OF_MESSAGE');
        if (flags === 0) {
          if (out.accepts(message.context.updateSize(input.length))) out.write(message.context.update(input));
          return;
        }
        const tag = tagBuffer(params, message.tagLength);
        if (!out.accepts(ending.length(message.context, input, message.tagLength))) return;
        const result = ending.run(message.context, input, tag);
        process.endMessage();
        out.write(result.output);
        if (result.tag) writeBack(call, param, new Map([[params.tagField, result.tag]]));
      } catch (e) {
        process.endMessage();
        throw dataError(direction, e);
      }
    },

    [names.final](call: Call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      // Ends the process, and a message in parts with it.
      activeProcess(session, direction).dispose();
      session.operations.delete(direction);
    },
  };
}

export function messageEncryptionFunctions(module: CratonModule): Record<string, Handler> {
  return {
    ...handlers(module, 'encrypt', {
      init: 'C_MessageEncryptInit',
      single: 'C_EncryptMessage',
      begin: 'C_EncryptMessageBegin',
      next: 'C_EncryptMessageNext',
      final: 'C_MessageEncryptFinal',
      input: 'pPlaintext',
      output: 'pCiphertext',
      partIn: 'pPlaintextPart',
      partOut: 'pCiphertextPart',
    }),
    ...handlers(module, 'decrypt', {
      init: 'C_MessageDecryptInit',
      single: 'C_DecryptMessage',
      begin: 'C_DecryptMessageBegin',
      next: 'C_DecryptMessageNext',
      final: 'C_MessageDecryptFinal',
      input: 'pCiphertext',
      output: 'pPlaintext',
      partIn: 'pCiphertextPart',
      partOut: 'pPlaintextPart',
    }),
  };
}
