/** Key management (PKCS#11 3.0 section 5.18): generating secret keys and key pairs, wrapping and unwrapping secret keys. */
import { CKA, CKF_MECH, CKK, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { AsymmetricKey } from '../backends/asymmetric';
import { BackendError } from '../backends/backend';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Hsm } from '../module/hsm';
import type { AdditionalKey, KeyAgreement, MechanismSpec, SecretDerivation } from '../mechanisms/mechanism';
import type { P11Object } from '../objects/object-table';
import type { Session } from '../sessions/session';
import type { WireParam } from '../wire/codec';
import { templateFromWire, valuesEqual, type AttributeMap, type AttributeValue } from '../objects/attribute-value';
import { pairAttributes } from '../objects/asymmetric-keys';
import { completeSecretKey } from '../objects/check-value';
import { curveNamedBy, publicBytes, rawPublicLengths } from '../objects/ec-params';
import { buildObject, type Actor } from '../objects/object-rules';
import { noParam } from '../mechanisms/params';
import { pairwiseConsistent } from '../self-tests/pairwise-consistency';
import { matches } from '../store/object-index';
import { dataError, startOperation } from './encryption';
import { actor } from './object-management';
import { operationKey, recordOperation, secretValue } from './operation-key';

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
    async C_GenerateKey(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.mechanism('pMechanism');
      const template = templateFromWire(call.template('pTemplate').attributes);
      call.checkOutUlong('phKey');
      const spec = hsm.mechanisms.get(mechanism.type);
      const generation = spec.generateKey;
      if (!generation) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a key generation mechanism');
      const fromParam = generation.fromParam?.(mechanism.param);
      if (!fromParam) noParam(mechanism.param);
      implied(template, CKA.CKA_CLASS, CKO.CKO_SECRET_KEY);
      if (generation.keyType === undefined) require(template.has(CKA.CKA_KEY_TYPE), CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_KEY_TYPE is required');
      else implied(template, CKA.CKA_KEY_TYPE, generation.keyType);
      const valueLen = template.get(CKA.CKA_VALUE_LEN);
      template.delete(CKA.CKA_VALUE_LEN);
      require(!template.has(CKA.CKA_VALUE), CKR.CKR_TEMPLATE_INCONSISTENT, 'a generated key cannot be given CKA_VALUE');
      const length = generation.valueLength(typeof valueLen === 'number' ? valueLen : undefined);
      const approved = hsm.mechanisms.policy.secretKeyGeneration(spec, template.get(CKA.CKA_KEY_TYPE) as number, length);
      checkPlacement(session, template, true);
      const value = fromParam ? await fromParam(hsm.backend, length) : hsm.backend.randomBytes(length);
      const assigned: AttributeMap = new Map<number, AttributeValue>([
        [CKA.CKA_VALUE, value],
        [CKA.CKA_VALUE_LEN, length],
        [CKA.CKA_LOCAL, true],
        [CKA.CKA_KEY_GEN_MECHANISM, mechanism.type],
        [CKA.CKA_VENDOR_FIPS_APPROVED, approved],
      ]);
      recordOperation(session, spec, approved);
      const key = buildObject(template, assigned, actor(session));
      completeSecretKey(hsm.backend, key);
      recordKeyHistory(key);
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
      const approved = hsm.mechanisms.policy.keyPairGeneration(spec, params);
      checkPlacement(session, publicTemplate, false);
      checkPlacement(session, privateTemplate, true);
      const pair = await hsm.backend.generateKeyPair(params);
      if (!(await pairwiseConsistent(hsm.backend, pair, hsm.config.testing.fault))) {
        pair.privateKey.dispose();
        pair.publicKey.dispose();
        module.enterErrorState(`the pairwise consistency test of a new ${pair.privateKey.type} key pair failed`);
        throw new CkError(CKR.CKR_GENERAL_ERROR, 'pairwise consistency test failed');
      }
      const ecParams = publicTemplate.get(CKA.CKA_EC_PARAMS);
      const { publicPart, privatePart } = pairAttributes(hsm.backend, pair.privateKey, ecParams instanceof Uint8Array ? ecParams : undefined);
      const origin: [number, AttributeValue][] = [
        [CKA.CKA_LOCAL, true],
        [CKA.CKA_KEY_GEN_MECHANISM, mechanism.type],
        [CKA.CKA_VENDOR_FIPS_APPROVED, approved],
      ];
      recordOperation(session, spec, approved);
      const who = actor(session);
      const publicKey = buildObject(publicTemplate, new Map([...publicPart, ...origin]), who);
      const privateKey = buildObject(privateTemplate, new Map([...privatePart, ...origin]), who);
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
      const source = derivationSource(hsm, session, spec, mechanism.param, call.ulong('hBaseKey'));
      // The key C_DeriveKey's template defines comes first, then the parameter's additional keys in order.
      const requests = [template, ...source.additionalKeys.map((k) => templateFromWire(k.template))].map((t) => derivedRequest(session, source, t));
      const values = await source.values(requests.map((r) => r.length));
      const who = actor(session);
      const handles = addAll(
        hsm,
        session,
        requests.map((r, i) => derivedObject(hsm, session, source, r.template, values[i] ?? new Uint8Array(0), who)),
      );
      call.setUlong('phKey', handles[0] ?? 0);
      if (source.additionalKeys.length > 0) call.setWritebacks('pMechanism', source.additionalKeys.map((k, i) => k.handleWriteback(handles[i + 1] ?? 0)));
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
      const objectClass = attrs.get(CKA.CKA_CLASS);
      require(objectClass === CKO.CKO_SECRET_KEY || objectClass === CKO.CKO_PRIVATE_KEY, CKR.CKR_KEY_NOT_WRAPPABLE, 'only secret and private keys can be wrapped');
      require(attrs.get(CKA.CKA_EXTRACTABLE) === true, CKR.CKR_KEY_UNEXTRACTABLE);
      if (attrs.get(CKA.CKA_WRAP_WITH_TRUSTED) === true) require(wrapping.attributes.get(CKA.CKA_TRUSTED) === true, CKR.CKR_KEY_NOT_WRAPPABLE, 'needs a trusted wrapping key');
      const wrapTemplate = wrapping.attributes.get(CKA.CKA_WRAP_TEMPLATE);
      if (wrapTemplate instanceof Map) require(matches(attrs, wrapTemplate), CKR.CKR_KEY_NOT_WRAPPABLE, 'the key does not match CKA_WRAP_TEMPLATE');
      // A secret key's CKA_VALUE is what gets encrypted; a private key's PKCS#8 PrivateKeyInfo ("Wrapping/unwrapping private keys").
      const material = objectClass === CKO.CKO_SECRET_KEY ? attrs.get(CKA.CKA_VALUE) : hsm.backend.privateKeyInfo(await hsm.keys.get(target));
      require(material instanceof Uint8Array, CKR.CKR_KEY_NOT_WRAPPABLE);
      // ECB and CBC wrap a value padded with zero bytes to whole blocks (AES-ECB, AES-CBC in the spec).
      const value = spec.wrapPadding ? zeroPadded(material, spec.wrapPadding) : material;
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
        if (objectClass === CKO.CKO_PRIVATE_KEY) material.fill(0);
        if (value !== material) value.fill(0);
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
      const objectClass = template.get(CKA.CKA_CLASS);
      const known = objectClass === CKO.CKO_SECRET_KEY || objectClass === CKO.CKO_PRIVATE_KEY;
      require(known, template.has(CKA.CKA_CLASS) ? CKR.CKR_TEMPLATE_INCONSISTENT : CKR.CKR_TEMPLATE_INCOMPLETE, 'only secret and private keys can be unwrapped');
      // A private key's type comes with its PKCS#8 encoding; a secret's only from the template.
      if (objectClass === CKO.CKO_SECRET_KEY) require(template.has(CKA.CKA_KEY_TYPE), CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_KEY_TYPE is required');
      const unwrapTemplate = unwrapping.attributes.get(CKA.CKA_UNWRAP_TEMPLATE);
      if (unwrapTemplate instanceof Map) {
        for (const [type, value] of unwrapTemplate) implied(template, type, value);
      }
      require(!template.has(CKA.CKA_VALUE), CKR.CKR_TEMPLATE_INCONSISTENT, 'an unwrapped key cannot be given its value');
      checkPlacement(session, template, true);
      const op = await startOperation(hsm, spec, unwrapping, mechanism, 'decrypt');
      let value: Uint8Array;
      try {
        const first = op.update(wrapped);
        const last = await op.final();
        value = first.length === 0 ? last : Uint8Array.from(Buffer.concat([first, last]));
        first.fill(0);
      } catch (e) {
        const mapped = dataError('decrypt', e);
        if (mapped instanceof CkError && mapped.rv === CKR.CKR_ENCRYPTED_DATA_INVALID) throw new CkError(CKR.CKR_WRAPPED_KEY_INVALID, mapped.message);
        if (mapped instanceof CkError && mapped.rv === CKR.CKR_ENCRYPTED_DATA_LEN_RANGE) throw new CkError(CKR.CKR_WRAPPED_KEY_LEN_RANGE, mapped.message);
        throw mapped;
      } finally {
        op.dispose();
      }
      const who = actor(session);
      if (objectClass === CKO.CKO_PRIVATE_KEY) {
        const { attributes, native } = await unwrappedPrivateKey(hsm, template, value);
        const unwrapped = buildUnwrapped(template, attributes, who);
        markApproval(hsm, session, unwrapped);
        const object = hsm.objects.add(session, unwrapped);
        hsm.keys.put(object, native);
        call.setUlong('phKey', object.handle);
        return;
      }
      // CKA_VALUE_LEN, when given, cuts a value padded by a block mode to the key's real length.
      const valueLen = template.get(CKA.CKA_VALUE_LEN);
      template.delete(CKA.CKA_VALUE_LEN);
      if (typeof valueLen === 'number') {
        require(valueLen <= value.length, CKR.CKR_TEMPLATE_INCONSISTENT, 'CKA_VALUE_LEN exceeds the unwrapped value');
        value = value.subarray(0, valueLen);
      }
      const key = buildUnwrapped(template, new Map<number, AttributeValue>([[CKA.CKA_VALUE, value]]), who);
      completeSecretKey(hsm.backend, key);
      markApproval(hsm, session, key);
      call.setUlong('phKey', hsm.objects.add(session, key).handle);
    },
  };
}

/** An unwrapped key was outside the token once: it is not local and has not always been sensitive. */
function buildUnwrapped(template: AttributeMap, material: AttributeMap, who: Actor): AttributeMap {
  const key = buildObject(template, new Map([...material, [CKA.CKA_LOCAL, false]]), who);
  key.set(CKA.CKA_ALWAYS_SENSITIVE, false);
  key.set(CKA.CKA_NEVER_EXTRACTABLE, false);
  return key;
}

const KEY_TYPE_OF: Readonly<Record<AsymmetricKey['type'], number>> = {
  rsa: CKK.CKK_RSA,
  ec: CKK.CKK_EC,
  eddsa: CKK.CKK_EC_EDWARDS,
  xdh: CKK.CKK_EC_MONTGOMERY,
};

/** The private key inside unwrapped PKCS#8, checked against the template's key type and curve. */
async function unwrappedPrivateKey(hsm: Hsm, template: AttributeMap, der: Uint8Array): Promise<{ attributes: AttributeMap; native: AsymmetricKey }> {
  let native: AsymmetricKey;
  try {
    native = await hsm.backend.importPrivateKeyInfo(der);
  } catch (e) {
    if (e instanceof BackendError && (e.code === 'ARGUMENT' || e.code === 'ALGORITHM_UNSUPPORTED')) throw new CkError(CKR.CKR_WRAPPED_KEY_INVALID, e.message);
    throw e;
  } finally {
    der.fill(0);
  }
  implied(template, CKA.CKA_KEY_TYPE, KEY_TYPE_OF[native.type]);
  const params = template.get(CKA.CKA_EC_PARAMS);
  if (params instanceof Uint8Array && native.type !== 'rsa') {
    require(curveNamedBy(native.type, params) === native.curve, CKR.CKR_TEMPLATE_INCONSISTENT, 'CKA_EC_PARAMS names another curve');
  }
  const { privatePart } = pairAttributes(hsm.backend, native, params instanceof Uint8Array ? params : undefined);
  return { attributes: privatePart, native };
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

/** Where C_DeriveKey's values come from: the base object and how the values are computed. */
interface DerivationSource {
  readonly objectClass: number;
  readonly base: P11Object;
  /** Keys the mechanism parameter defines besides the main one (SP800-108), made with it or not at all. */
  readonly additionalKeys: readonly AdditionalKey[];
  /** Whether a template without CKA_SENSITIVE / CKA_EXTRACTABLE takes the base key's. */
  readonly inheritsProtection: boolean;
  /** The new objects' values, each `lengths[i]` bytes or the mechanism's natural length; the main object first. */
  values(lengths: readonly (number | undefined)[]): Promise<Uint8Array[]>;
}

/** One object C_DeriveKey makes: its template with what the mechanism and base imply, and the value length it asks for. */
function derivedRequest(session: Session, source: DerivationSource, template: AttributeMap): { template: AttributeMap; length: number | undefined } {
  implied(template, CKA.CKA_CLASS, source.objectClass);
  const makesKey = source.objectClass === CKO.CKO_SECRET_KEY;
  if (makesKey) require(template.has(CKA.CKA_KEY_TYPE), CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_KEY_TYPE is required');
  const valueLen = template.get(CKA.CKA_VALUE_LEN);
  template.delete(CKA.CKA_VALUE_LEN);
  require(!template.has(CKA.CKA_VALUE), CKR.CKR_TEMPLATE_INCONSISTENT, 'a derived object cannot be given CKA_VALUE');
  const base = source.base.attributes;
  const deriveTemplate = base.get(CKA.CKA_DERIVE_TEMPLATE);
  if (makesKey && deriveTemplate instanceof Map) {
    for (const [type, value] of deriveTemplate) implied(template, type, value);
  }
  if (makesKey && source.inheritsProtection) {
    for (const type of [CKA.CKA_SENSITIVE, CKA.CKA_EXTRACTABLE]) {
      const inherited = base.get(type);
      if (!template.has(type) && inherited !== undefined) template.set(type, inherited);
    }
  }
  checkPlacement(session, template, makesKey);
  return { template, length: typeof valueLen === 'number' ? valueLen : undefined };
}

/** CKA_VENDOR_FIPS_APPROVED of a key made by an unwrap or a derivation: the operation was approved, and the new key is of an approved type and size. */
function markApproval(hsm: Hsm, session: Session, key: AttributeMap): void {
  key.set(CKA.CKA_VENDOR_FIPS_APPROVED, session.lastOperation?.fipsApproved === true && hsm.mechanisms.policy.keyApproved(key));
}

function derivedObject(hsm: Hsm, session: Session, source: DerivationSource, template: AttributeMap, value: Uint8Array, who: Actor): AttributeMap {
  const makesKey = source.objectClass === CKO.CKO_SECRET_KEY;
  const assigned = new Map<number, AttributeValue>([[CKA.CKA_VALUE, value]]);
  if (makesKey) assigned.set(CKA.CKA_LOCAL, false);
  const derived = buildObject(template, assigned, who);
  if (makesKey) {
    completeSecretKey(hsm.backend, derived);
    // A derived key inherits the base key's history (section 4.10); a data object has none.
    const base = source.base.attributes;
    derived.set(CKA.CKA_ALWAYS_SENSITIVE, base.get(CKA.CKA_ALWAYS_SENSITIVE) === true && derived.get(CKA.CKA_SENSITIVE) === true);
    derived.set(CKA.CKA_NEVER_EXTRACTABLE, base.get(CKA.CKA_NEVER_EXTRACTABLE) === true && derived.get(CKA.CKA_EXTRACTABLE) === false);
    markApproval(hsm, session, derived);
  }
  return derived;
}

/** Stores every new object or none: a store failure takes back the objects already stored. */
function addAll(hsm: Hsm, session: Session, objects: readonly AttributeMap[]): number[] {
  const added: P11Object[] = [];
  try {
    for (const o of objects) added.push(hsm.objects.add(session, o));
  } catch (e) {
    for (const o of added) hsm.objects.remove(session, o);
    throw e;
  }
  return added.map((o) => o.handle);
}

function derivationSource(hsm: Hsm, session: Session, spec: MechanismSpec, param: WireParam, baseHandle: number): DerivationSource {
  if (spec.agreement) return agreementSource(hsm, session, spec, spec.agreement(param), baseHandle);
  if (spec.secretDerivation) return secretSource(hsm, session, spec, spec.secretDerivation(param), baseHandle);
  throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a derivation mechanism');
}

/** ECDH: the shared secret of the base private key and the peer's public value. */
function agreementSource(hsm: Hsm, session: Session, spec: MechanismSpec, agreement: KeyAgreement, baseHandle: number): DerivationSource {
  const base = operationKey(hsm, session, baseHandle, spec, CKA.CKA_DERIVE);
  require(base.attributes.get(CKA.CKA_CLASS) === CKO.CKO_PRIVATE_KEY, CKR.CKR_KEY_TYPE_INCONSISTENT, 'key agreement needs a private key');
  return {
    objectClass: CKO.CKO_SECRET_KEY,
    base,
    additionalKeys: [],
    inheritsProtection: false,
    async values([length]) {
      const native = await hsm.keys.get(base);
      if (native.type !== 'ec' && native.type !== 'xdh') throw new CkError(CKR.CKR_KEY_TYPE_INCONSISTENT);
      let z: Uint8Array;
      try {
        z = await hsm.backend.deriveEcdh(native, publicBytes(agreement.peerPublic, rawPublicLengths(native.type, native.byteLength)));
      } catch (e) {
        throw e instanceof BackendError && e.code === 'ARGUMENT' ? new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, 'the peer public value is not a point of this curve') : e;
      }
      try {
        // Without CKA_VALUE_LEN the key takes the whole secret.
        return [Uint8Array.from(agreement.kdf(hsm.backend, z, length ?? z.length))];
      } finally {
        z.fill(0);
      }
    },
  };
}

/** HKDF, data encryption and SP800-108: a function of the base secret (a key, or for HKDF a data object) and maybe a second key. */
function secretSource(hsm: Hsm, session: Session, spec: MechanismSpec, derivation: SecretDerivation, baseHandle: number): DerivationSource {
  const base = (derivation.baseMayBeData && dataObject(hsm, session, baseHandle)) || operationKey(hsm, session, baseHandle, spec, CKA.CKA_DERIVE);
  if (derivation.baseKeyTypes) {
    const keyType = base.attributes.get(CKA.CKA_KEY_TYPE);
    require(typeof keyType === 'number' && derivation.baseKeyTypes.includes(keyType), CKR.CKR_KEY_TYPE_INCONSISTENT, 'the base key type does not suit this parameter');
  }
  const baseValue = secretValue(base);
  const other = derivation.otherKey === undefined ? undefined : secretValue(asKey(() => hsm.objects.get(session, derivation.otherKey as number)));
  return {
    objectClass: derivation.objectClass,
    base,
    additionalKeys: derivation.additionalKeys ?? [],
    inheritsProtection: derivation.inheritsProtection === true,
    values(lengths) {
      const sizes = lengths.map((length) => length ?? derivation.defaultLength ?? missingLength());
      const [first = missingLength(), ...rest] = sizes;
      return Promise.resolve(derivation.derive(hsm.backend, baseValue, [first, ...rest], other).map((v) => Uint8Array.from(v)));
    },
  };
}

function missingLength(): never {
  throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_VALUE_LEN is required');
}

function dataObject(hsm: Hsm, session: Session, handle: number): P11Object | undefined {
  try {
    const object = hsm.objects.get(session, handle);
    return object.attributes.get(CKA.CKA_CLASS) === CKO.CKO_DATA ? object : undefined;
  } catch (e) {
    if (e instanceof CkError) return undefined;
    throw e;
  }
}

function zeroPadded(value: Uint8Array, block: number): Uint8Array {
  if (value.length % block === 0) return value;
  const padded = new Uint8Array(value.length + block - (value.length % block));
  padded.set(value);
  return padded;
}
