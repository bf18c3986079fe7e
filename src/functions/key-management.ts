/** Key generation (PKCS#11 3.0 section 5.18): secret keys and key pairs. */
import { CKA, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Session } from '../sessions/session';
import { templateFromWire, type AttributeMap, type AttributeValue } from '../objects/attribute-value';
import { pairAttributes } from '../objects/asymmetric-keys';
import { completeSecretKey } from '../objects/check-value';
import { buildObject } from '../objects/object-rules';
import { noParam } from '../mechanisms/params';

/** Checks that a template does not contradict what the mechanism makes. */
function implied(template: AttributeMap, type: number, value: number): void {
  const given = template.get(type);
  require(given === undefined || given === value, CKR.CKR_TEMPLATE_INCONSISTENT, `attribute 0x${type.toString(16)} contradicts the mechanism`);
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
  };
}
