/**
 * Symmetric primitives the mechanisms need (ciphers, MACs, KDFs): the part of
 * the backend interface implemented in native/crypto/symmetric.c.
 */
export interface SymmetricCrypto {}
