/**
 * Asymmetric primitives the mechanisms need (key pairs, signatures, RSA
 * encryption, key agreement): the part of the backend interface implemented
 * in native/crypto/asymmetric.c.
 */
export interface AsymmetricCrypto {}
