/**
 * EdDSA on the Edwards curves (PKCS#11 3.0 "Edwards Elliptic Curve key pair
 * generation" and "EdDSA"): Ed25519 and Ed448 key pairs, CKM_EDDSA pure, with
 * a context (Ed25519ctx) or prehashed (Ed25519ph, Ed448ph) as CK_EDDSA_PARAMS asks.
 */
import { CKF_MECH, CKK, CKM, CKR } from '../generated/constants';
import { require } from '../ck-error';
import { edwardsCurveOf, requiredEcParams } from '../objects/ec-params';
import { ValueKind } from '../wire/codec';
import type { MechanismFamily } from './mechanism';
import { boolField, bytesField, structParam } from './params';

// Key sizes in bits: RFC 8032 defines the two curves' field sizes.
const sizes = { minKeySize: 255, maxKeySize: 448 };

export const eddsaFamily: MechanismFamily = {
  name: 'eddsa',
  mechanisms: [
    {
      type: CKM.CKM_EC_EDWARDS_KEY_PAIR_GEN,
      ...sizes,
      flags: CKF_MECH.CKF_GENERATE_KEY_PAIR | CKF_MECH.CKF_EC_OID,
      fipsApproved: false,
      generateKeyPair: {
        keyType: CKK.CKK_EC_EDWARDS,
        params: (template) => ({ type: 'eddsa', curve: edwardsCurveOf(requiredEcParams(template)) }),
      },
    },
    {
      type: CKM.CKM_EDDSA,
      ...sizes,
      flags: CKF_MECH.CKF_SIGN | CKF_MECH.CKF_VERIFY | CKF_MECH.CKF_EC_OID,
      fipsApproved: false,
      keyTypes: [CKK.CKK_EC_EDWARDS],
      signature(param) {
        // Without a parameter: pure EdDSA, no context.
        if (param.kind === ValueKind.Null || param.length === 0) return { params: { scheme: 'eddsa' } };
        const f = structParam(param, 'CK_EDDSA_PARAMS');
        const context = bytesField(f, 'pContextData');
        require(context.length <= 255, CKR.CKR_MECHANISM_PARAM_INVALID, 'the context is at most 255 bytes');
        return { params: { scheme: 'eddsa', prehash: boolField(f, 'phFlag'), context } };
      },
    },
  ],
};
