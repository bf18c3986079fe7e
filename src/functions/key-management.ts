/** Key management (PKCS#11 3.0 section 5.18): generating secret keys and key pairs, wrapping and unwrapping secret keys. */
import { CKA, CKF_MECH, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import { BackendError } from '../backends/backend';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Session } from '../sessions/session';
import { templateFromWire, valuesEqual, type AttributeMap, type AttributeValue } from '../objects/attribute-value';
import { pairAttributes } from '../objects/asymmetric-keys';
import { completeSecretKey } from '../objects/check-value';
import { buildObject } from '../objects/object-rules';
import { noParam } from '../mechanisms/params';
import { matches } from '../store/object-index';
import { dataError, startOperation } from './encryption';
import { operationKey } from './operation-key';

/** Checks that a template does not contradict what the mechanism makes. */
function implied(template: AttributeMap, type: number, value: AttributeValue): void {
  const given = template.get(type);
  require(given === undefined || valuesEqual(given, value), CKR.CKR_TEMPLATE_INCONSISTENT, `attribute 0x${type.toString(16)} contradicts what is required`);
  template.set(type, value);
}

/** A key born sensitive (or unextractable) has always been so (section 4.10). */
function recordKeyHistory(key: AttributeMap): void {
  key.set(CKA.CKA_ALWAYS_SENSITIVE, key.get(CKA.CKA_SENSITIVE) === true);
  key.set(CKA.CKA_NEVER_EXTRACTABLE, key.get(CKA.CKA_EXTRACTABLE) === false);
}

/** Token objects need a R/W session and private objects a user login, checked before any work is done. */
function checkPlacement(session: Session, template: AttributeMap, privateByDefault: boolean): void {
  if (template.get(CKA.CKA_TOKEN) === true) require(session.readWrite, CKR.CKR_SESSION_READ_ONLY);
  const isPrivate = template.has(CKA.CKA_PRIVATE) ? template.get(CKA.CKA_PRIVATE) === true : privateByDefault;
  if (isPrivate) require(session.userLoggedIn, CKR.CKR_USER_NOT_LOGGED_IN);
}

export function keyManagementFunctions(module: CratonModule): Record<string, Handler> {
  return {
    C_GenerateKey(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.mechanism('pMechanism');
      const template = templateFromWire(call.template('pTemplate').attributes);
      call.checkOutUlong('phKey');
      const spec = hsm.mechanisms.get(mechanism.type);
      const generation = spec.generateKey;
      if (!generation) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a key generation mechanism');
      noParam(mechanism.param);
      implied(template, CKA.CKA_CLASS, CKO.CKO_SECRET_KEY);
      implied(template, CKA.CKA_KEY_TYPE, generation.keyType);
      const valueLen = template.get(CKA.CKA_VALUE_LEN);
      template.delete(CKA.CKA_VALUE_LEN);
      require(!template.has(CKA.CKA_VALUE), CKR.CKR_TEMPLATE_INCONSISTENT, 'a generated key cannot be given CKA_VALUE');
      const length = generation.valueLength(typeof valueLen === 'number' ? valueLen : undefined);
      const value = hsm.backend.randomBytes(length);
      const assigned: AttributeMap = new Map<number, AttributeValue>([
        [CKA.CKA_VALUE, value],
        [CKA.CKA_VALUE_LEN, length],
        [CKA.CKA_LOCAL, true],
        [CKA.CKA_KEY_GEN_MECHANISM, mechanism.type],
      ]);
      const key = buildObject(template, assigned, { isSecurityOfficer: session.token.loginState === 'so' });
      completeSecretKey(hsm.backend, key);
      recordKeyHistory(key);
      checkPlacement(session, key, true);
      call.setUlong('phKey', hsm.objects.add(session, key).handle);
    },

    async C_GenerateKeyPair(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.mechanism('pMechanism');
      const publicTemplate = templateFromWire(call.template('pPublicKeyTemplate').attributes);
      const privateTemplate = templateFromWire(call.template('pPrivateKeyTemplate').attributes);
      call.checkOutUlong('phPublicKey');
      call.checkOutUlong('phPrivateKey');
      const spec = hsm.mechanisms.get(mechanism.type);
      const generation = spec.generateKeyPair;
      if (!generation) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a key-pair generation mechanism');
      noParam(mechanism.param);
      implied(publicTemplate, CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY);
      implied(publicTemplate, CKA.CKA_KEY_TYPE, generation.keyType);
      implied(privateTemplate, CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY);
      implied(privateTemplate, CKA.CKA_KEY_TYPE, generation.keyType);
      const params = generation.params(publicTemplate);
      checkPlacement(session, publicTemplate, false);
      checkPlacement(session, privateTemplate, true);
      const pair = await hsm.backend.generateKeyPair(params);
      const { publicPart, privatePart } = pairAttributes(hsm.backend, pair.privateKey);
      const origin: [number, AttributeValue][] = [
        [CKA.CKA_LOCAL, true],
        [CKA.CKA_KEY_GEN_MECHANISM, mechanism.type],
      ];
      const actor = { isSecurityOfficer: session.token.loginState === 'so' };
      const publicKey = buildObject(publicTemplate, new Map([...publicPart, ...origin]), actor);
      const privateKey = buildObject(privateTemplate, new Map([...privatePart, ...origin]), actor);
      recordKeyHistory(privateKey);
      // The login may have ended while the key was being generated.
      checkPlacement(session, publicKey, false);
      checkPlacement(session, privateKey, true);
      const publicObject = hsm.objects.add(session, publicKey);
      const privateObject = hsm.objects.add(session, privateKey);
      hsm.keys.put(publicObject, pair.publicKey);
      hsm.keys.put(privateObject, pair.privateKey);
      call.setUlong('phPublicKey', publicObject.handle);
      call.setUlong('phPrivateKey', privateObject.handle);
    },

    async C_DeriveKey(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.mechanism('pMechanism');
      const template = templateFromWire(call.template('pTemplate').attributes);
      call.checkOutUlong('phKey');
      const spec = hsm.mechanisms.get(mechanism.type);
      if (!spec.agreement) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a derivation mechanism');
      const agreement = spec.agreement(mechanism.param);
      const base = operationKey(hsm, session, call.ulong('hBaseKey'), spec, CKA.CKA_DERIVE);
      require(base.attributes.get(CKA.CKA_CLASS) === CKO.CKO_PRIVATE_KEY, CKR.CKR_KEY_TYPE_INCONSISTENT, 'ECDH needs a private key');
      implied(template, CKA.CKA_CLASS, CKO.CKO_SECRET_KEY);
      require(template.has(CKA.CKA_KEY_TYPE), CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_KEY_TYPE is required');
      const valueLen = template.get(CKA.CKA_VALUE_LEN);
      template.delete(CKA.CKA_VALUE_LEN);
      const deriveTemplate = base.attributes.get(CKA.CKA_DERIVE_TEMPLATE);
      if (deriveTemplate instanceof Map) {
        for (const [type, value] of deriveTemplate) implied(template, type, value);
      }
      checkPlacement(session, template, true);
      const native = await hsm.keys.get(base);
      if (native.type !== 'ec') throw new CkError(CKR.CKR_KEY_TYPE_INCONSISTENT);
      let z: Uint8Array;
      try {
        z = await hsm.backend.deriveEcdh(native, agreement.peerPublic);
      } catch (e) {
        throw e instanceof BackendError && e.code === 'ARGUMENT' ? new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, 'the peer public value is not a point of this curve') : e;
      }
      // Without CKA_VALUE_LEN the key takes the whole secret, except where its type fixes the size.
      const length = typeof valueLen === 'number' ? valueLen : z.length;
      const value = Uint8Array.from(agreement.kdf(hsm.backend, z, length));
      z.fill(0);
      const key = buildObject(template, new Map<number, AttributeValue>([[CKA.CKA_VALUE, value], [CKA.CKA_LOCAL, false]]), { isSecurityOfficer: session.token.loginState === 'so' });
      completeSecretKey(hsm.backend, key);
      // A derived key inherits the base key's history (section 4.10).
      key.set(CKA.CKA_ALWAYS_SENSITIVE, base.attributes.get(CKA.CKA_ALWAYS_SENSITIVE) === true && key.get(CKA.CKA_SENSITIVE) === true);
      key.set(CKA.CKA_NEVER_EXTRACTABLE, base.attributes.get(CKA.CKA_NEVER_EXTRACTABLE) === true && key.get(CKA.CKA_EXTRACTABLE) === false);
      call.setUlong('phKey', hsm.objects.add(session, key).handle);
    },

    async C_WrapKey(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.mechanism('pMechanism');
      const out = call.outBytes('pWrappedKey');
      const spec = hsm.mechanisms.get(mechanism.type);
      require(spec.flags & CKF_MECH.CKF_WRAP, CKR.CKR_MECHANISM_INVALID, 'not a wrapping mechanism');
      const wrapping = asWrappingKey(() => operationKey(hsm, session, call.ulong('hWrappingKey'), spec, CKA.CKA_WRAP));
      const target = asKey(() => hsm.objects.get(session, call.ulong('hKey')));
      const attrs = target.attributes;
      // Only secret keys are wrapped so far: their CKA_VALUE is what gets encrypted.
      require(attrs.get(CKA.CKA_CLASS) === CKO.CKO_SECRET_KEY, CKR.CKR_KEY_NOT_WRAPPABLE, 'only secret keys can be wrapped');
      require(attrs.get(CKA.CKA_EXTRACTABLE) === true, CKR.CKR_KEY_UNEXTRACTABLE);
      if (attrs.get(CKA.CKA_WRAP_WITH_TRUSTED) === true) require(wrapping.attributes.get(CKA.CKA_TRUSTED) === true, CKR.CKR_KEY_NOT_WRAPPABLE, 'needs a trusted wrapping key');
      const wrapTemplate = wrapping.attributes.get(CKA.CKA_WRAP_TEMPLATE);
      if (wrapTemplate instanceof Map) require(matches(attrs, wrapTemplate), CKR.CKR_KEY_NOT_WRAPPABLE, 'the key does not match CKA_WRAP_TEMPLATE');
      const value = attrs.get(CKA.CKA_VALUE);
      require(value instanceof Uint8Array, CKR.CKR_KEY_NOT_WRAPPABLE);
      const op = await startOperation(hsm, spec, wrapping, mechanism, 'encrypt');
      try {
        if (!out.accepts(op.finalSize(value.length))) return;
        const first = op.update(value);
        const last = await op.final();
        out.write(first.length === 0 ? last : Buffer.concat([first, last]));
      } catch (e) {
        const mapped = dataError('encrypt', e);
        throw mapped instanceof CkError && mapped.rv === CKR.CKR_DATA_LEN_RANGE ? new CkError(CKR.CKR_KEY_SIZE_RANGE, mapped.message) : mapped;
      } finally {
        op.dispose();
      }
    },

    async C_UnwrapKey(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.mechanism('pMechanism');
      const wrapped = call.requiredBytes('pWrappedKey');
      const template = templateFromWire(call.template('pTemplate').attributes);
      call.checkOutUlong('phKey');
      const spec = hsm.mechanisms.get(mechanism.type);
      require(spec.flags & CKF_MECH.CKF_UNWRAP, CKR.CKR_MECHANISM_INVALID, 'not an unwrapping mechanism');
      const unwrapping = asWrappingKey(() => operationKey(hsm, session, call.ulong('hUnwrappingKey'), spec, CKA.CKA_UNWRAP));
      require(template.get(CKA.CKA_CLASS) === CKO.CKO_SECRET_KEY, template.has(CKA.CKA_CLASS) ? CKR.CKR_TEMPLATE_INCONSISTENT : CKR.CKR_TEMPLATE_INCOMPLETE, 'only secret keys can be unwrapped');
      require(template.has(CKA.CKA_KEY_TYPE), CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_KEY_TYPE is required');
      const unwrapTemplate = unwrapping.attributes.get(CKA.CKA_UNWRAP_TEMPLATE);
      if (unwrapTemplate instanceof Map) {
        for (const [type, value] of unwrapTemplate) implied(template, type, value);
      }
      checkPlacement(session, template, true);
      const op = await startOperation(hsm, spec, unwrapping, mechanism, 'decrypt');
      let value: Uint8Array;
      try {
        op.update(wrapped);
        value = await op.final();
      } catch (e) {
        const mapped = dataError('decrypt', e);
        if (mapped instanceof CkError && mapped.rv === CKR.CKR_ENCRYPTED_DATA_INVALID) throw new CkError(CKR.CKR_WRAPPED_KEY_INVALID, mapped.message);
        if (mapped instanceof CkError && mapped.rv === CKR.CKR_ENCRYPTED_DATA_LEN_RANGE) throw new CkError(CKR.CKR_WRAPPED_KEY_LEN_RANGE, mapped.message);
        throw mapped;
      } finally {
        op.dispose();
      }
      // CKA_VALUE_LEN, when given, cuts a value padded by a block mode to the key's real length.
      const valueLen = template.get(CKA.CKA_VALUE_LEN);
      template.delete(CKA.CKA_VALUE_LEN);
      if (typeof valueLen === 'number') {
        require(valueLen <= value.length, CKR.CKR_TEMPLATE_INCONSISTENT, 'CKA_VALUE_LEN exceeds the unwrapped value');
        value = value.subarray(0, valueLen);
      }
      require(!template.has(CKA.CKA_VALUE), CKR.CKR_TEMPLATE_INCONSISTENT, 'an unwrapped key cannot be given CKA_VALUE');
      const key = buildObject(template, new Map<number, AttributeValue>([[CKA.CKA_VALUE, value], [CKA.CKA_LOCAL, false]]), { isSecurityOfficer: session.token.loginState === 'so' });
      completeSecretKey(hsm.backend, key);
      // An unwrapped key was outside the token once: it has not always been sensitive.
      key.set(CKA.CKA_ALWAYS_SENSITIVE, false);
      key.set(CKA.CKA_NEVER_EXTRACTABLE, false);
      call.setUlong('phKey', hsm.objects.add(session, key).handle);
    },
  };
}

/** A key handle that is not a key is CKR_KEY_HANDLE_INVALID (CKR_WRAPPING_KEY_HANDLE_INVALID for the wrapping key). */
function asWrappingKey<T>(get: () => T): T {
  try {
    return get();
  } catch (e) {
    if (e instanceof CkError && e.rv === CKR.CKR_KEY_HANDLE_INVALID) throw new CkError(CKR.CKR_WRAPPING_KEY_HANDLE_INVALID, e.message);
    if (e instanceof CkError && e.rv === CKR.CKR_KEY_TYPE_INCONSISTENT) throw new CkError(CKR.CKR_WRAPPING_KEY_TYPE_INCONSISTENT, e.message);
    throw e;
  }
}

function asKey<T>(get: () => T): T {
  try {
    return get();
  } catch (e) {
    if (e instanceof CkError && e.rv === CKR.CKR_OBJECT_HANDLE_INVALID) throw new CkError(CKR.CKR_KEY_HANDLE_INVALID, e.message);
    throw e;
  }
}
