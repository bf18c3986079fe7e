/**
 * Asymmetric part of the libcrypto backend (native/crypto/asymmetric.c)
 * against Node's crypto in both directions, RFC 8032 vectors, rejection
 * cases, and thread-pool concurrency.
 */
import {
  constants,
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import type {
  AsymmetricKey,
  EcCurve,
  EdwardsCurve,
  KeyPair,
  MontgomeryCurve,
  RsaKey,
  SignatureParams,
} from '../../src/backends/asymmetric';
import { BackendError, DIGEST_ALGORITHMS, type DigestAlgorithm } from '../../src/backends/backend';
import { loadLibcryptoBackend } from '../../src/backends/libcrypto';

const backend = loadLibcryptoBackend();
/** AWS-LC has no Ed448 / X448 (it reports them ALGORITHM_UNSUPPORTED): those cases are skipped there. */
const HAS_448 = backend.library.name !== 'AWS-LC';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const b64u = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
const unb64u = (s: string | undefined): Uint8Array => new Uint8Array(Buffer.from(s ?? '', 'base64url'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const flip = (b: Uint8Array, i = 0): Uint8Array => {
  const c = Uint8Array.from(b);
  c[i] = (c[i] ?? 0) ^ 0x01;
  return c;
};

async function expectReject(p: Promise<unknown> | (() => unknown), code: string): Promise<BackendError> {
  let thrown: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a rejection').toBeInstanceOf(BackendError);
  expect((thrown as BackendError).code, (thrown as Error).message).toBe(code);
  return thrown as BackendError;
}

const E65537 = new Uint8Array([1, 0, 1]);
const MSG = utf8('Craton HSM asymmetric test message');

/** Node names of the curves. */
const NODE_EC: Record<EcCurve, string> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
  secp256k1: 'secp256k1',
};

function nodeKeyFromComponents(c: ReturnType<typeof backend.exportPrivateKey>): KeyObject {
  let jwk: JsonWebKey;
  switch (c.type) {
    case 'rsa':
      jwk = {
        kty: 'RSA',
        n: b64u(c.modulus),
        e: b64u(c.publicExponent),
        d: b64u(c.privateExponent),
        p: b64u(c.prime1),
        q: b64u(c.prime2),
        dp: b64u(c.exponent1),
        dq: b64u(c.exponent2),
        qi: b64u(c.coefficient),
      };
      break;
    case 'ec': {
      const half = (c.point.length - 1) / 2;
      jwk = {
        kty: 'EC',
        crv: c.curve,
        x: b64u(c.point.subarray(1, 1 + half)),
        y: b64u(c.point.subarray(1 + half)),
        d: b64u(c.privateValue),
      };
      break;
    }
    default:
      jwk = { kty: 'OKP', crv: c.curve, x: b64u(c.publicKey), d: b64u(c.privateKey) };
  }
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

// ---------------------------------------------------------------------------

describe('RSA', () => {
  let pair: KeyPair<RsaKey>;
  let nodePriv: KeyObject;
  let nodePub: KeyObject;

  beforeAll(async () => {
    const t0 = performance.now();
    pair = await backend.generateKeyPair({ type: 'rsa', bits: 2048, publicExponent: E65537 });
    const t1 = performance.now();
    nodePriv = nodeKeyFromComponents(backend.exportPrivateKey(pair.privateKey));
    nodePub = createPublicKey(nodePriv);
    console.log(`RSA-2048 keygen: ${(t1 - t0).toFixed(1)} ms`);
  });

  it('generates a key pair with the requested size and a public-only twin', () => {
    expect(pair.privateKey).toMatchObject({ type: 'rsa', curve: null, bits: 2048, byteLength: 256, hasPrivate: true });
    expect(pair.publicKey).toMatchObject({ type: 'rsa', bits: 2048, byteLength: 256, hasPrivate: false });
    const pub = backend.exportPublicKey(pair.publicKey);
    expect(pub).toEqual(backend.exportPublicKey(pair.privateKey));
    expect(Object.keys(pub).sort()).toEqual(['modulus', 'publicExponent', 'type']);
    if (pub.type !== 'rsa') throw new Error('type');
    expect(toHex(pub.publicExponent)).toBe('010001');
    expect(pub.modulus.length).toBe(256);
    expect(nodePriv.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048, publicExponent: 65537n });
  });

  it('SPKI and PKCS#8 match what Node makes of the same key', () => {
    expect(toHex(backend.publicKeyInfo(pair.publicKey))).toBe(
      toHex(bytes(nodePub.export({ type: 'spki', format: 'der' }))),
    );
    const p8 = backend.privateKeyInfo(pair.privateKey);
    const fromP8 = createPrivateKey({ key: Buffer.from(p8), format: 'der', type: 'pkcs8' });
    expect(fromP8.export({ format: 'jwk' })).toEqual(nodePriv.export({ format: 'jwk' }));
  });

  it('imports a Node key (JWK components) and exports the same components', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1536 });
    const jwk = privateKey.export({ format: 'jwk' });
    const key = await backend.importKey({
      type: 'rsa',
      modulus: unb64u(jwk.n),
      publicExponent: unb64u(jwk.e),
      privateExponent: unb64u(jwk.d),
      prime1: unb64u(jwk.p),
      prime2: unb64u(jwk.q),
      exponent1: unb64u(jwk.dp),
      exponent2: unb64u(jwk.dq),
      coefficient: unb64u(jwk.qi),
    });
    expect(key).toMatchObject({ type: 'rsa', bits: 1536, byteLength: 192, hasPrivate: true });
    expect(nodeKeyFromComponents(backend.exportPrivateKey(key)).export({ format: 'jwk' })).toEqual(jwk);
    const sig = await backend.sign(key, { scheme: 'rsa-pkcs1', digest: 'sha256' }, MSG);
    expect(nodeVerify('sha256', MSG, privateKey, sig)).toBe(true);
  });

  it.each([65537, 3])('imports n, e, d only (e = %i) and recovers the primes and CRT values', async (e) => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024, publicExponent: e });
    const jwk = privateKey.export({ format: 'jwk' });
    const key = await backend.importKey({
      type: 'rsa',
      modulus: unb64u(jwk.n),
      publicExponent: unb64u(jwk.e),
      privateExponent: unb64u(jwk.d),
    });
    const c = backend.exportPrivateKey(key);
    if (c.type !== 'rsa') throw new Error('type');
    expect([b64u(c.prime1), b64u(c.prime2)].sort()).toEqual([jwk.p, jwk.q].sort());
    const sig = await backend.sign(key, { scheme: 'rsa-pss', digest: 'sha256', mgf1Digest: 'sha256', saltLength: 32, prehashed: false }, MSG);
    expect(
      nodeVerify('sha256', MSG, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig),
    ).toBe(true);
    // the same modulus as a public key
    const pub = await backend.importKey({ type: 'rsa', modulus: unb64u(jwk.n), publicExponent: unb64u(jwk.e) });
    expect(pub.hasPrivate).toBe(false);
    await expectReject(backend.exportPrivateKey.bind(backend, pub), 'ARGUMENT');
  });

  it.each(DIGEST_ALGORITHMS)('PKCS#1 v1.5 with %s: Node verifies ours, we verify Node\'s, signatures equal', async (alg) => {
    const params: SignatureParams = { scheme: 'rsa-pkcs1', digest: alg };
    const ours = await backend.sign(pair.privateKey, params, MSG);
    expect(nodeVerify(alg, MSG, nodePub, ours)).toBe(true);
    const theirs = bytes(nodeSign(alg, MSG, nodePriv));
    expect(toHex(ours)).toBe(toHex(theirs)); // deterministic scheme
    expect(await backend.verify(pair.publicKey, params, MSG, theirs)).toBe(true);
    // prehashed: the same signature over the digest
    const hash = bytes(createHash(alg).update(MSG).digest());
    const pre = await backend.sign(pair.privateKey, { scheme: 'rsa-pkcs1', digest: alg, prehashed: true }, hash);
    expect(toHex(pre)).toBe(toHex(ours));
    expect(await backend.verify(pair.publicKey, { scheme: 'rsa-pkcs1', digest: alg, prehashed: true }, hash, theirs)).toBe(true);
  });

  it('raw PKCS#1 v1.5 (CKM_RSA_PKCS) over a DigestInfo, verifyRecover, length limit', async () => {
    const digestInfo = Buffer.concat([
      Buffer.from('3031300d060960864801650304020105000420', 'hex'),
      createHash('sha256').update(MSG).digest(),
    ]);
    const ours = await backend.sign(pair.privateKey, { scheme: 'rsa-pkcs1' }, bytes(digestInfo));
    expect(nodeVerify('sha256', MSG, nodePub, ours)).toBe(true);
    expect(toHex(ours)).toBe(toHex(bytes(privateEncrypt({ key: nodePriv, padding: constants.RSA_PKCS1_PADDING }, digestInfo))));
    expect(await backend.verify(pair.publicKey, { scheme: 'rsa-pkcs1' }, bytes(digestInfo), ours)).toBe(true);
    expect(toHex((await backend.verifyRecover(pair.publicKey, { scheme: 'rsa-pkcs1' }, ours))!)).toBe(toHex(digestInfo));

    const arbitrary = randomBytes(256 - 11);
    const s2 = await backend.sign(pair.privateKey, { scheme: 'rsa-pkcs1' }, bytes(arbitrary));
    expect(toHex(bytes(publicDecrypt({ key: nodePub, padding: constants.RSA_PKCS1_PADDING }, s2)))).toBe(toHex(arbitrary));
    await expectReject(backend.sign(pair.privateKey, { scheme: 'rsa-pkcs1' }, bytes(randomBytes(256 - 10))), 'ARGUMENT');
    expect(await backend.verify(pair.publicKey, { scheme: 'rsa-pkcs1' }, bytes(randomBytes(300)), s2)).toBe(false);

    expect(await backend.verifyRecover(pair.publicKey, { scheme: 'rsa-pkcs1' }, flip(s2, 100))).toBeNull();
    expect(await backend.verifyRecover(pair.publicKey, { scheme: 'rsa-pkcs1' }, s2.subarray(1))).toBeNull();
  });

  it.each([
    ['sha1', 'sha1', 20],
    ['sha256', 'sha256', 32],
    ['sha256', 'sha256', 0],
    ['sha384', 'sha384', 48],
    ['sha512', 'sha512', 64],
    ['sha3-256', 'sha3-256', 32],
  ] as const)('PSS %s / MGF1-%s / salt %i against Node, prehashed and not', async (alg, mgf, salt) => {
    const nodeOpts = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt };
    const hashed: SignatureParams = { scheme: 'rsa-pss', digest: alg, mgf1Digest: mgf, saltLength: salt, prehashed: false };
    const pre: SignatureParams = { ...hashed, prehashed: true };
    const hash = bytes(createHash(alg).update(MSG).digest());

    const s1 = await backend.sign(pair.privateKey, hashed, MSG);
    const s2 = await backend.sign(pair.privateKey, pre, hash);
    expect(nodeVerify(alg, MSG, { key: nodePub, ...nodeOpts }, s1)).toBe(true);
    expect(nodeVerify(alg, MSG, { key: nodePub, ...nodeOpts }, s2)).toBe(true);
    const theirs = bytes(nodeSign(alg, MSG, { key: nodePriv, ...nodeOpts }));
    expect(await backend.verify(pair.publicKey, hashed, MSG, theirs)).toBe(true);
    expect(await backend.verify(pair.publicKey, pre, hash, theirs)).toBe(true);
    expect(await backend.verify(pair.publicKey, hashed, MSG, flip(theirs, 7))).toBe(false);
    expect(await backend.verify(pair.publicKey, hashed, flip(MSG), theirs)).toBe(false);
    // a different salt length does not verify
    expect(await backend.verify(pair.publicKey, { ...hashed, saltLength: salt + 1 }, MSG, theirs)).toBe(false);
  });

  it('PSS with an MGF1 digest different from the hash round-trips; bad lengths are ARGUMENT', async () => {
    const params: SignatureParams = { scheme: 'rsa-pss', digest: 'sha256', mgf1Digest: 'sha1', saltLength: 20, prehashed: false };
    const sig = await backend.sign(pair.privateKey, params, MSG);
    expect(await backend.verify(pair.publicKey, params, MSG, sig)).toBe(true);
    expect(await backend.verify(pair.publicKey, { ...params, mgf1Digest: 'sha256' }, MSG, sig)).toBe(false);
    await expectReject(backend.sign(pair.privateKey, { ...params, prehashed: true }, MSG), 'ARGUMENT');
    await expectReject(backend.sign(pair.privateKey, { ...params, saltLength: 256 - 32 - 1 }, MSG), 'ARGUMENT');
    await expectReject(
      backend.sign(pair.privateKey, { ...params, digest: 'md5' as DigestAlgorithm }, MSG),
      'ALGORITHM_UNSUPPORTED',
    );
  });

  it('raw RSA (X.509): Node agrees both ways, verifyRecover returns the k-byte block', async () => {
    const data = bytes(randomBytes(100));
    const block = new Uint8Array(256);
    block.set(data, 256 - data.length);
    const sig = await backend.sign(pair.privateKey, { scheme: 'rsa-x509' }, data);
    expect(toHex(sig)).toBe(toHex(bytes(privateEncrypt({ key: nodePriv, padding: constants.RSA_NO_PADDING }, block))));
    expect(toHex(bytes(publicDecrypt({ key: nodePub, padding: constants.RSA_NO_PADDING }, sig)))).toBe(toHex(block));
    expect(await backend.verify(pair.publicKey, { scheme: 'rsa-x509' }, data, sig)).toBe(true);
    expect(await backend.verify(pair.publicKey, { scheme: 'rsa-x509' }, block, sig)).toBe(true);
    expect(await backend.verify(pair.publicKey, { scheme: 'rsa-x509' }, flip(data), sig)).toBe(false);
    expect(toHex((await backend.verifyRecover(pair.publicKey, { scheme: 'rsa-x509' }, sig))!)).toBe(toHex(block));
    // not below the modulus
    const modulus = (backend.exportPublicKey(pair.publicKey) as { modulus: Uint8Array }).modulus;
    await expectReject(backend.sign(pair.privateKey, { scheme: 'rsa-x509' }, modulus), 'ARGUMENT');
    await expectReject(backend.sign(pair.privateKey, { scheme: 'rsa-x509' }, new Uint8Array(257)), 'ARGUMENT');
  });

  it.each([
    [{ padding: 'pkcs1' }, { padding: constants.RSA_PKCS1_PADDING }],
    [{ padding: 'oaep', digest: 'sha1', mgf1Digest: 'sha1' }, { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }],
    [
      { padding: 'oaep', digest: 'sha256', mgf1Digest: 'sha256', label: utf8('label') },
      { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('label') },
    ],
    [{ padding: 'oaep', digest: 'sha512', mgf1Digest: 'sha512' }, { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha512' }],
  ] as const)('encryption %j against Node both ways', async (params, nodeOpts) => {
    const pt = bytes(randomBytes(48));
    const ct = await backend.rsaEncrypt(pair.publicKey, params, pt);
    expect(ct.length).toBe(256);
    if (params.padding === 'pkcs1') {
      // Node >= 20.11 refuses PKCS#1 v1.5 private decryption (CVE-2023-46809):
      // take the raw block and check the type-2 padding here.
      const block = privateDecrypt({ key: nodePriv, padding: constants.RSA_NO_PADDING }, ct);
      const sep = block.indexOf(0, 2);
      expect([block[0], block[1]]).toEqual([0, 2]);
      expect(sep).toBeGreaterThanOrEqual(10);
      expect(block.subarray(2, sep).includes(0)).toBe(false);
      expect(toHex(bytes(block.subarray(sep + 1)))).toBe(toHex(pt));
    } else {
      expect(toHex(bytes(privateDecrypt({ key: nodePriv, ...nodeOpts }, ct)))).toBe(toHex(pt));
    }
    const theirs = bytes(publicEncrypt({ key: nodePub, ...nodeOpts }, pt));
    expect(toHex(await backend.rsaDecrypt(pair.privateKey, params, theirs))).toBe(toHex(pt));
  });

  it('OAEP with different MGF1 digest round-trips; length limits', async () => {
    const params = { padding: 'oaep', digest: 'sha256', mgf1Digest: 'sha1' } as const;
    const max = bytes(randomBytes(256 - 2 * 32 - 2));
    const ct = await backend.rsaEncrypt(pair.publicKey, params, max);
    expect(toHex(await backend.rsaDecrypt(pair.privateKey, params, ct))).toBe(toHex(max));
    await expectReject(backend.rsaEncrypt(pair.publicKey, params, bytes(randomBytes(max.length + 1))), 'ARGUMENT');
    await expectReject(backend.rsaEncrypt(pair.publicKey, { padding: 'pkcs1' }, bytes(randomBytes(246))), 'ARGUMENT');
    await expectReject(backend.rsaDecrypt(pair.privateKey, params, ct.subarray(1)), 'ARGUMENT');
  });

  it('raw encryption (none) against Node; decryption returns k bytes', async () => {
    const pt = bytes(randomBytes(40));
    const block = new Uint8Array(256);
    block.set(pt, 216);
    const ct = await backend.rsaEncrypt(pair.publicKey, { padding: 'none' }, pt);
    expect(toHex(bytes(privateDecrypt({ key: nodePriv, padding: constants.RSA_NO_PADDING }, ct)))).toBe(toHex(block));
    expect(toHex(await backend.rsaDecrypt(pair.privateKey, { padding: 'none' }, ct))).toBe(toHex(block));
  });

  it('a decryption padding failure is AUTH with one fixed message', async () => {
    const garbage = bytes(randomBytes(256));
    garbage[0] = 0; // below the modulus
    const oaep = await expectReject(
      backend.rsaDecrypt(pair.privateKey, { padding: 'oaep', digest: 'sha256', mgf1Digest: 'sha256' }, garbage),
      'AUTH',
    );
    // Wrong label / wrong digest on a genuine ciphertext: same error, same text.
    const ct = await backend.rsaEncrypt(pair.publicKey, { padding: 'oaep', digest: 'sha256', mgf1Digest: 'sha256' }, MSG);
    const wrongLabel = await expectReject(
      backend.rsaDecrypt(pair.privateKey, { padding: 'oaep', digest: 'sha256', mgf1Digest: 'sha256', label: utf8('x') }, ct),
      'AUTH',
    );
    const pkcs1 = await expectReject(backend.rsaDecrypt(pair.privateKey, { padding: 'pkcs1' }, garbage), 'AUTH');
    expect(wrongLabel.message).toBe(oaep.message);
    expect(pkcs1.message).toBe(oaep.message);
  });

  it('tampered signatures and messages do not verify', async () => {
    const params: SignatureParams = { scheme: 'rsa-pkcs1', digest: 'sha256' };
    const sig = await backend.sign(pair.privateKey, params, MSG);
    expect(await backend.verify(pair.publicKey, params, MSG, sig)).toBe(true);
    expect(await backend.verify(pair.publicKey, params, MSG, flip(sig, 255))).toBe(false);
    expect(await backend.verify(pair.publicKey, params, flip(MSG, 3), sig)).toBe(false);
    expect(await backend.verify(pair.publicKey, params, MSG, sig.subarray(1))).toBe(false);
    expect(await backend.verify(pair.publicKey, { scheme: 'rsa-pkcs1', digest: 'sha384' }, MSG, sig)).toBe(false);
  });

  it('rejects inconsistent or invalid RSA components with ARGUMENT', async () => {
    const c = backend.exportPrivateKey(pair.privateKey);
    if (c.type !== 'rsa') throw new Error('type');
    const bad = [
      { ...c, privateExponent: flip(c.privateExponent, c.privateExponent.length - 1) },
      { ...c, prime1: flip(c.prime1, 5) },
      { ...c, exponent1: flip(c.exponent1, 9) },
      { ...c, coefficient: flip(c.coefficient, 9) },
      {
        type: 'rsa' as const,
        modulus: c.modulus,
        publicExponent: c.publicExponent,
        privateExponent: flip(c.privateExponent, 40),
      },
      { type: 'rsa' as const, modulus: flip(c.modulus, 255), publicExponent: c.publicExponent }, // even
      { type: 'rsa' as const, modulus: c.modulus, publicExponent: new Uint8Array([1]) },
      { type: 'rsa' as const, modulus: c.modulus, publicExponent: new Uint8Array([1, 0, 0]) },
      { type: 'rsa' as const, modulus: c.modulus.subarray(0, 40), publicExponent: c.publicExponent },
      { type: 'rsa' as const, modulus: c.modulus, publicExponent: c.publicExponent, prime1: c.prime1 },
    ];
    for (const comp of bad) await expectReject(backend.importKey(comp), 'ARGUMENT');
    // One prime is enough: the other is derived.
    const k = await backend.importKey({
      type: 'rsa',
      modulus: c.modulus,
      publicExponent: c.publicExponent,
      privateExponent: c.privateExponent,
      prime2: c.prime2,
    });
    expect(backend.exportPrivateKey(k)).toEqual(c);
  });

  it('rejects bad generation parameters', async () => {
    await expectReject(backend.generateKeyPair({ type: 'rsa', bits: 512, publicExponent: E65537 }), 'ARGUMENT');
    await expectReject(backend.generateKeyPair({ type: 'rsa', bits: 16385, publicExponent: E65537 }), 'ARGUMENT');
    await expectReject(backend.generateKeyPair({ type: 'rsa', bits: 2048, publicExponent: new Uint8Array([1, 0, 0]) }), 'ARGUMENT');
    await expectReject(backend.generateKeyPair({ type: 'rsa', bits: 2048, publicExponent: new Uint8Array(9).fill(1) }), 'ARGUMENT');
  });
});

// ---------------------------------------------------------------------------

describe.each(['P-256', 'P-384', 'P-521', 'secp256k1'] as const)('ECDSA / ECDH on %s', (curve) => {
  let pair: KeyPair;
  let nodePriv: KeyObject;
  let nodePub: KeyObject;
  const size = { 'P-256': 32, 'P-384': 48, 'P-521': 66, secp256k1: 32 }[curve];

  beforeAll(async () => {
    pair = await backend.generateKeyPair({ type: 'ec', curve });
    nodePriv = nodeKeyFromComponents(backend.exportPrivateKey(pair.privateKey));
    nodePub = createPublicKey(nodePriv);
  });

  it('key info, SPKI and PKCS#8 agree with Node', () => {
    expect(pair.privateKey).toMatchObject({ type: 'ec', curve, byteLength: size, hasPrivate: true });
    expect(pair.publicKey).toMatchObject({ type: 'ec', curve, hasPrivate: false });
    const pub = backend.exportPublicKey(pair.publicKey);
    if (pub.type !== 'ec') throw new Error('type');
    expect(pub.point.length).toBe(1 + 2 * size);
    expect(pub.point[0]).toBe(4);
    expect(toHex(backend.publicKeyInfo(pair.publicKey))).toBe(toHex(bytes(nodePub.export({ type: 'spki', format: 'der' }))));
    const p8 = createPrivateKey({ key: Buffer.from(backend.privateKeyInfo(pair.privateKey)), format: 'der', type: 'pkcs8' });
    expect(p8.export({ format: 'jwk' })).toEqual(nodePriv.export({ format: 'jwk' }));
  });

  it.each(['sha1', 'sha256', 'sha384', 'sha512', 'sha3-256'] as const)('with %s: both directions against Node', async (alg) => {
    const params: SignatureParams = { scheme: 'ecdsa', digest: alg };
    const ours = await backend.sign(pair.privateKey, params, MSG);
    expect(ours.length).toBe(2 * size);
    expect(nodeVerify(alg, MSG, { key: nodePub, dsaEncoding: 'ieee-p1363' }, ours)).toBe(true);
    const theirs = bytes(nodeSign(alg, MSG, { key: nodePriv, dsaEncoding: 'ieee-p1363' }));
    expect(await backend.verify(pair.publicKey, params, MSG, theirs)).toBe(true);
    // over the precomputed hash (any length: truncated to the order)
    const hash = bytes(createHash(alg).update(MSG).digest());
    const pre = await backend.sign(pair.privateKey, { scheme: 'ecdsa' }, hash);
    expect(nodeVerify(alg, MSG, { key: nodePub, dsaEncoding: 'ieee-p1363' }, pre)).toBe(true);
    expect(await backend.verify(pair.publicKey, { scheme: 'ecdsa' }, hash, theirs)).toBe(true);
    expect(await backend.verify(pair.publicKey, { scheme: 'ecdsa', digest: alg, prehashed: true }, hash, theirs)).toBe(true);
    expect(await backend.verify(pair.publicKey, params, MSG, flip(theirs, size + 3))).toBe(false);
    expect(await backend.verify(pair.publicKey, params, flip(MSG), theirs)).toBe(false);
    expect(await backend.verify(pair.publicKey, params, MSG, theirs.subarray(1))).toBe(false);
    expect(await backend.verify(pair.publicKey, params, MSG, new Uint8Array(2 * size))).toBe(false);
  });

  it('imports Node keys (JWK) with and without the point, exports equal components', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: NODE_EC[curve] });
    const jwk = privateKey.export({ format: 'jwk' });
    const point = new Uint8Array([4, ...unb64u(jwk.x), ...unb64u(jwk.y)]);
    const d = unb64u(jwk.d);
    const full = await backend.importKey({ type: 'ec', curve, point, privateValue: d });
    const onlyD = await backend.importKey({ type: 'ec', curve, privateValue: d });
    const pubOnly = await backend.importKey({ type: 'ec', curve, point });
    expect(backend.exportPrivateKey(full)).toEqual({ type: 'ec', curve, point, privateValue: d });
    expect(backend.exportPrivateKey(onlyD)).toEqual({ type: 'ec', curve, point, privateValue: d });
    expect(backend.exportPublicKey(pubOnly)).toEqual({ type: 'ec', curve, point });
    expect(pubOnly.hasPrivate).toBe(false);
    // a scalar with its leading zeros stripped is accepted too
    let i = 0;
    while (d[i] === 0) i++;
    const stripped = await backend.importKey({ type: 'ec', curve, privateValue: d.subarray(i === 0 ? 0 : i) });
    expect(backend.exportPrivateKey(stripped)).toEqual({ type: 'ec', curve, point, privateValue: d });
    const sig = await backend.sign(onlyD, { scheme: 'ecdsa', digest: 'sha256' }, MSG);
    expect(nodeVerify('sha256', MSG, { key: privateKey, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
  });

  it('rejects invalid points and scalars with ARGUMENT', async () => {
    const c = backend.exportPrivateKey(pair.privateKey);
    if (c.type !== 'ec') throw new Error('type');
    const order: Record<EcCurve, string> = {
      'P-256': 'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
      'P-384':
        'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
      'P-521':
        '01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
      secp256k1: 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141',
    };
    const bad = [
      { type: 'ec' as const, curve, point: flip(c.point, c.point.length - 1) }, // off the curve
      { type: 'ec' as const, curve, point: c.point.subarray(0, c.point.length - 1) },
      { type: 'ec' as const, curve, point: new Uint8Array([0]) }, // infinity
      { type: 'ec' as const, curve, privateValue: new Uint8Array(size) }, // zero
      { type: 'ec' as const, curve, privateValue: hex(order[curve]) }, // = n
      { type: 'ec' as const, curve, privateValue: new Uint8Array(size + 1).fill(1) }, // too long
      { type: 'ec' as const, curve, point: c.point, privateValue: flip(c.privateValue, size - 1) }, // mismatch
      { type: 'ec' as const, curve },
    ];
    for (const comp of bad) await expectReject(backend.importKey(comp), 'ARGUMENT');
  });

  it('ECDH agrees with Node createECDH, peer uncompressed or compressed', async () => {
    const ecdh = createECDH(NODE_EC[curve]);
    ecdh.generateKeys();
    const ours = backend.exportPublicKey(pair.publicKey);
    if (ours.type !== 'ec') throw new Error('type');
    const expected = toHex(bytes(ecdh.computeSecret(Buffer.from(ours.point))));
    const s1 = await backend.deriveEcdh(pair.privateKey as never, bytes(ecdh.getPublicKey()));
    const s2 = await backend.deriveEcdh(pair.privateKey as never, bytes(ecdh.getPublicKey(null, 'compressed')));
    expect(s1.length).toBe(size);
    expect(toHex(s1)).toBe(expected);
    expect(toHex(s2)).toBe(expected);
    await expectReject(backend.deriveEcdh(pair.privateKey as never, flip(bytes(ecdh.getPublicKey()), 2 * size)), 'ARGUMENT');
    await expectReject(backend.deriveEcdh(pair.publicKey as never, bytes(ecdh.getPublicKey())), 'ARGUMENT');
  });
});

// ---------------------------------------------------------------------------

/** RFC 8032 section 7.1 (Ed25519 tests 1-3 and SHA(abc)) and 7.4 (Ed448 blank). */
const RFC8032: { curve: EdwardsCurve; name: string; secret: string; public: string; message: string; signature: string }[] = [
  {
    curve: 'Ed25519',
    name: 'TEST 1',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    curve: 'Ed25519',
    name: 'TEST 2',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    curve: 'Ed25519',
    name: 'TEST 3',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    public: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
  {
    curve: 'Ed25519',
    name: 'TEST SHA(abc)',
    secret: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
    public: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
    message:
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    signature:
      'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
  },
  {
    curve: 'Ed448',
    name: 'Blank',
    secret:
      '6c82a562cb808d10d632be89c8513ebf6c929f34ddfa8c9f63c9960ef6e348a3528c8a3fcc2f044e39a3fc5b94492f8f032e7549a20098f95b',
    public:
      '5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180',
    message: '',
    signature:
      '533a37f6bbe457251f023c0d88f976ae2dfb504a843e34d2074fd823d41a591f2b233f034f628281f2fd7a22ddd47d7828c59bd0a21bfd3980ff0d2028d4b18a9df63e006c5d1c2d345b925d8dc00b4104852db99ac5c7cdda8530a113a0f4dbb61149f05a7363268c71d95808ff2e652600',
  },
];

describe('EdDSA', () => {
  it.each(RFC8032.filter((v) => HAS_448 || v.curve !== 'Ed448'))('RFC 8032 $curve $name', async (v) => {
    const key = await backend.importKey({ type: 'eddsa', curve: v.curve, privateKey: hex(v.secret) });
    expect(backend.exportPublicKey(key)).toEqual({ type: 'eddsa', curve: v.curve, publicKey: hex(v.public) });
    const sig = await backend.sign(key, { scheme: 'eddsa' }, hex(v.message));
    expect(toHex(sig)).toBe(v.signature);
    const pub = await backend.importKey({ type: 'eddsa', curve: v.curve, publicKey: hex(v.public) });
    expect(await backend.verify(pub, { scheme: 'eddsa' }, hex(v.message), hex(v.signature))).toBe(true);
    expect(await backend.verify(pub, { scheme: 'eddsa' }, hex(v.message), flip(hex(v.signature), 10))).toBe(false);
    expect(await backend.verify(pub, { scheme: 'eddsa' }, utf8('x'), hex(v.signature))).toBe(false);
  });

  it.each((['Ed25519', 'Ed448'] as const).filter((c) => HAS_448 || c !== 'Ed448'))('%s: both directions against Node, JWK import/export, SPKI, PKCS#8', async (curve) => {
    const pair = await backend.generateKeyPair({ type: 'eddsa', curve });
    const size = curve === 'Ed25519' ? 32 : 57;
    expect(pair.privateKey).toMatchObject({ type: 'eddsa', curve, byteLength: size, bits: curve === 'Ed25519' ? 255 : 448 });
    const nodePriv = nodeKeyFromComponents(backend.exportPrivateKey(pair.privateKey));
    const nodePub = createPublicKey(nodePriv);
    expect(toHex(backend.publicKeyInfo(pair.publicKey))).toBe(toHex(bytes(nodePub.export({ type: 'spki', format: 'der' }))));
    const p8 = createPrivateKey({ key: Buffer.from(backend.privateKeyInfo(pair.privateKey)), format: 'der', type: 'pkcs8' });
    expect(p8.export({ format: 'jwk' })).toEqual(nodePriv.export({ format: 'jwk' }));

    const ours = await backend.sign(pair.privateKey, { scheme: 'eddsa' }, MSG);
    expect(ours.length).toBe(2 * size);
    expect(nodeVerify(null, MSG, nodePub, ours)).toBe(true);
    expect(toHex(ours)).toBe(toHex(bytes(nodeSign(null, MSG, nodePriv))));

    const { privateKey: np } = curve === 'Ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ed448');
    const jwk = np.export({ format: 'jwk' });
    const k = await backend.importKey({ type: 'eddsa', curve, publicKey: unb64u(jwk.x), privateKey: unb64u(jwk.d) });
    expect(backend.exportPrivateKey(k)).toEqual({ type: 'eddsa', curve, publicKey: unb64u(jwk.x), privateKey: unb64u(jwk.d) });
    const theirs = bytes(nodeSign(null, MSG, np));
    expect(await backend.verify(k, { scheme: 'eddsa' }, MSG, theirs)).toBe(true);
    expect(await backend.verify(backend.publicKeyOf(k), { scheme: 'eddsa' }, MSG, flip(theirs, 40))).toBe(false);
  });

  it('Ed25519ctx / ph and Ed448 contexts: RFC 8032 vectors where the library has them, else ALGORITHM_UNSUPPORTED', async () => {
    const ctxKey = await backend.importKey({
      type: 'eddsa',
      curve: 'Ed25519',
      privateKey: hex('0305334e381af78f141cb666f6199f57bc3495335a256a95bd2a55bf546663f6'),
    });
    const phKey = await backend.importKey({
      type: 'eddsa',
      curve: 'Ed25519',
      privateKey: hex('833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42'),
    });
    let ctxSig: Uint8Array;
    try {
      ctxSig = await backend.sign(ctxKey, { scheme: 'eddsa', context: hex('666f6f') }, hex('f726936d19c800494e3fdaff20b276a8'));
    } catch (err) {
      expect((err as BackendError).code).toBe('ALGORITHM_UNSUPPORTED');
      await expectReject(backend.sign(phKey, { scheme: 'eddsa', prehash: true }, utf8('abc')), 'ALGORITHM_UNSUPPORTED');
      await expectReject(backend.verify(phKey, { scheme: 'eddsa', prehash: true }, utf8('abc'), new Uint8Array(64)), 'ALGORITHM_UNSUPPORTED');
      const ed448 = await backend.generateKeyPair({ type: 'eddsa', curve: 'Ed448' });
      await expectReject(backend.sign(ed448.privateKey, { scheme: 'eddsa', context: utf8('ctx') }, MSG), 'ALGORITHM_UNSUPPORTED');
      // an empty context is plain Ed25519 / Ed448
      const s = await backend.sign(ed448.privateKey, { scheme: 'eddsa', context: new Uint8Array(0) }, MSG);
      expect(await backend.verify(ed448.publicKey, { scheme: 'eddsa' }, MSG, s)).toBe(true);
      return;
    }
    // RFC 8032 7.2 (foo) and 7.3 (abc)
    expect(toHex(ctxSig)).toBe(
      '55a4cc2f70a54e04288c5f4cd1e45a7bb520b36292911876cada7323198dd87a8b36950b95130022907a7fb7c4e9b2d5f6cca685a587b4b21f4b888e4e7edb0d',
    );
    expect(toHex(await backend.sign(phKey, { scheme: 'eddsa', prehash: true }, utf8('abc')))).toBe(
      '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406',
    );
  });

  it('rejects bad raw keys, mismatches and over-long contexts', async () => {
    const v = RFC8032[0]!;
    await expectReject(backend.importKey({ type: 'eddsa', curve: 'Ed25519', privateKey: hex(v.secret).subarray(1) }), 'ARGUMENT');
    if (HAS_448) await expectReject(backend.importKey({ type: 'eddsa', curve: 'Ed448', privateKey: hex(v.secret) }), 'ARGUMENT');
    await expectReject(
      backend.importKey({ type: 'eddsa', curve: 'Ed25519', privateKey: hex(v.secret), publicKey: flip(hex(v.public)) }),
      'ARGUMENT',
    );
    await expectReject(backend.importKey({ type: 'eddsa', curve: 'Ed25519' }), 'ARGUMENT');
    const key = await backend.importKey({ type: 'eddsa', curve: 'Ed25519', privateKey: hex(v.secret) });
    await expectReject(backend.sign(key, { scheme: 'eddsa', context: new Uint8Array(256) }, MSG), 'ARGUMENT');
    expect(await backend.verify(key, { scheme: 'eddsa' }, hex(v.message), hex(v.signature).subarray(1))).toBe(false);
  });
});

// ---------------------------------------------------------------------------

describe.each((['X25519', 'X448'] as const).filter((c) => HAS_448 || c !== 'X448'))('%s', (curve: MontgomeryCurve) => {
  const size = curve === 'X25519' ? 32 : 56;

  it('agrees with Node diffieHellman both ways; keys move by JWK', async () => {
    const pair = await backend.generateKeyPair({ type: 'xdh', curve });
    expect(pair.privateKey).toMatchObject({ type: 'xdh', curve, byteLength: size });
    const theirs = curve === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
    const theirPub = unb64u(theirs.publicKey.export({ format: 'jwk' }).x);
    const ourPub = backend.exportPublicKey(pair.publicKey);
    if (ourPub.type !== 'xdh') throw new Error('type');
    const ourSecret = await backend.deriveEcdh(pair.privateKey as never, theirPub);
    const nodeSecret = diffieHellman({
      privateKey: theirs.privateKey,
      publicKey: createPublicKey({ key: { kty: 'OKP', crv: curve, x: b64u(ourPub.publicKey) }, format: 'jwk' }),
    });
    expect(ourSecret.length).toBe(size);
    expect(toHex(ourSecret)).toBe(toHex(bytes(nodeSecret)));
    // Node's private key imported here agrees as well
    const jwk = theirs.privateKey.export({ format: 'jwk' });
    const imported = await backend.importKey({ type: 'xdh', curve, privateKey: unb64u(jwk.d) });
    expect(backend.exportPrivateKey(imported)).toEqual({ type: 'xdh', curve, publicKey: theirPub, privateKey: unb64u(jwk.d) });
    expect(toHex(await backend.deriveEcdh(imported as never, ourPub.publicKey))).toBe(toHex(ourSecret));
    expect(toHex(backend.publicKeyInfo(pair.publicKey))).toBe(
      toHex(bytes(createPublicKey({ key: { kty: 'OKP', crv: curve, x: b64u(ourPub.publicKey) }, format: 'jwk' }).export({ type: 'spki', format: 'der' }))),
    );
  });

  it('rejects a low-order peer and wrong lengths with ARGUMENT', async () => {
    const pair = await backend.generateKeyPair({ type: 'xdh', curve });
    await expectReject(backend.deriveEcdh(pair.privateKey as never, new Uint8Array(size)), 'ARGUMENT');
    await expectReject(backend.deriveEcdh(pair.privateKey as never, new Uint8Array(size + 1)), 'ARGUMENT');
    await expectReject(backend.importKey({ type: 'xdh', curve, publicKey: new Uint8Array(size - 1) }), 'ARGUMENT');
  });
});

describe('X25519 vector', () => {
  it('X25519 RFC 7748 6.1', async () => {
    const alice = await backend.importKey({
      type: 'xdh',
      curve: 'X25519',
      privateKey: hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'),
    });
    expect(toHex((backend.exportPublicKey(alice) as { publicKey: Uint8Array }).publicKey)).toBe(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    const shared = await backend.deriveEcdh(
      alice as never,
      hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'),
    );
    expect(toHex(shared)).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });
});

// ---------------------------------------------------------------------------

describe('key handles and argument checking', () => {
  let rsa: KeyPair<RsaKey>;
  let ec: KeyPair;
  let ed: KeyPair;

  beforeAll(async () => {
    [rsa, ec, ed] = await Promise.all([
      backend.generateKeyPair({ type: 'rsa', bits: 1024, publicExponent: E65537 }),
      backend.generateKeyPair({ type: 'ec', curve: 'P-256' }),
      backend.generateKeyPair({ type: 'eddsa', curve: 'Ed25519' }),
    ]);
  });

  it('a wrong key type or a public key for a private operation is ARGUMENT', async () => {
    await expectReject(backend.sign(rsa.privateKey, { scheme: 'ecdsa' }, MSG), 'ARGUMENT');
    await expectReject(backend.sign(ec.privateKey, { scheme: 'rsa-pkcs1', digest: 'sha256' }, MSG), 'ARGUMENT');
    await expectReject(backend.sign(ec.privateKey, { scheme: 'eddsa' }, MSG), 'ARGUMENT');
    await expectReject(backend.verify(ed.publicKey, { scheme: 'ecdsa' }, MSG, new Uint8Array(64)), 'ARGUMENT');
    await expectReject(backend.sign(rsa.publicKey, { scheme: 'rsa-pkcs1', digest: 'sha256' }, MSG), 'ARGUMENT');
    await expectReject(backend.rsaDecrypt(rsa.publicKey, { padding: 'pkcs1' }, new Uint8Array(128)), 'ARGUMENT');
    await expectReject(backend.rsaEncrypt(ec.publicKey as unknown as RsaKey, { padding: 'pkcs1' }, MSG), 'ARGUMENT');
    await expectReject(backend.deriveEcdh(ed.privateKey as never, new Uint8Array(32)), 'ARGUMENT');
    await expectReject(backend.deriveEcdh(rsa.privateKey as never, new Uint8Array(32)), 'ARGUMENT');
    await expectReject(
      backend.verifyRecover(ec.publicKey as unknown as RsaKey, { scheme: 'rsa-pkcs1' }, new Uint8Array(64)),
      'ARGUMENT',
    );
    await expectReject(
      backend.verifyRecover(rsa.publicKey, { scheme: 'rsa-pss' } as never, new Uint8Array(128)),
      'ARGUMENT',
    );
    await expectReject(() => backend.exportPrivateKey(rsa.publicKey), 'ARGUMENT');
    await expectReject(() => backend.privateKeyInfo(ec.publicKey), 'ARGUMENT');
  });

  it('unknown schemes, digests, curves and key types are ALGORITHM_UNSUPPORTED; malformed params ARGUMENT', async () => {
    await expectReject(backend.sign(rsa.privateKey, { scheme: 'rsa-foo' } as never, MSG), 'ALGORITHM_UNSUPPORTED');
    await expectReject(backend.sign(ec.privateKey, { scheme: 'ecdsa', digest: 'md5' } as never, MSG), 'ALGORITHM_UNSUPPORTED');
    await expectReject(backend.generateKeyPair({ type: 'ec', curve: 'P-192' } as never), 'ALGORITHM_UNSUPPORTED');
    await expectReject(backend.generateKeyPair({ type: 'ec', curve: 'Ed25519' } as never), 'ALGORITHM_UNSUPPORTED');
    await expectReject(backend.generateKeyPair({ type: 'dsa' } as never), 'ALGORITHM_UNSUPPORTED');
    await expectReject(backend.rsaEncrypt(rsa.publicKey, { padding: 'x931' } as never, MSG), 'ALGORITHM_UNSUPPORTED');
    await expectReject(backend.sign(rsa.privateKey, null as never, MSG), 'ARGUMENT');
    await expectReject(backend.sign(rsa.privateKey, { scheme: 'rsa-pkcs1' }, 'text' as never), 'ARGUMENT');
    await expectReject(
      backend.sign(rsa.privateKey, { scheme: 'rsa-pss', digest: 'sha256', mgf1Digest: 'sha256', prehashed: false } as never, MSG),
      'ARGUMENT',
    );
  });

  it('a disposed key is STATE, a foreign object ARGUMENT; jobs in flight survive dispose()', async () => {
    const pair = await backend.generateKeyPair({ type: 'ec', curve: 'P-256' });
    const pending = backend.sign(pair.privateKey, { scheme: 'ecdsa', digest: 'sha256' }, MSG);
    pair.privateKey.dispose();
    pair.privateKey.dispose(); // idempotent
    const sig = await pending;
    expect(await backend.verify(pair.publicKey, { scheme: 'ecdsa', digest: 'sha256' }, MSG, sig)).toBe(true);
    await expectReject(backend.sign(pair.privateKey, { scheme: 'ecdsa', digest: 'sha256' }, MSG), 'STATE');
    await expectReject(() => backend.exportPublicKey(pair.privateKey), 'STATE');
    await expectReject(() => backend.publicKeyOf(pair.privateKey), 'STATE');
    const fake = { ...pair.publicKey } as AsymmetricKey;
    await expectReject(backend.verify(fake, { scheme: 'ecdsa' }, MSG, sig), 'ARGUMENT');
    await expectReject(() => backend.publicKeyInfo(fake), 'ARGUMENT');
  });

  it('publicKeyOf gives a public-only handle with the same public key', () => {
    const pub = backend.publicKeyOf(ec.privateKey);
    expect(pub.hasPrivate).toBe(false);
    expect(backend.exportPublicKey(pub)).toEqual(backend.exportPublicKey(ec.privateKey));
    expect(Object.keys(pub)).not.toContain('addon');
  });
});

// ---------------------------------------------------------------------------

describe('thread pool', () => {
  it('two RSA-2048 signs issued together run at the same time; the JS thread stays free', { timeout: 20_000 }, async () => {
    const pair = await backend.generateKeyPair({ type: 'rsa', bits: 2048, publicExponent: E65537 });
    const params: SignatureParams = { scheme: 'rsa-pkcs1', digest: 'sha256' };
    await backend.sign(pair.privateKey, params, MSG); // warm up (blinding setup)

    // Sequential baseline timing.
    const n = 20;
    let t = performance.now();
    for (let i = 0; i < n; i++) await backend.sign(pair.privateKey, params, MSG);
    const perSign = (performance.now() - t) / n;

    // Pairs issued together: the native side counts jobs inside the library
    // call at once; both started before either ended iff the maximum is >= 2.
    backend.asymmetricStats(true);
    let overlapped = false;
    // On a loaded machine the second pool thread may wake only after the first
    // finished a 1 ms job (and took the second one too), so try for a while.
    const until = performance.now() + 5000;
    while (!overlapped && performance.now() < until) {
      const [a, b] = await Promise.all([
        backend.sign(pair.privateKey, params, MSG),
        backend.sign(pair.privateKey, params, utf8('other')),
      ]);
      expect(a.length + b.length).toBe(512);
      overlapped = backend.asymmetricStats().maxRunning >= 2;
    }
    expect(overlapped, 'two signs inside the library at once').toBe(true);

    // The JS thread keeps turning the event loop while a batch runs on the pool.
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    t = performance.now();
    const batch = Promise.all(Array.from({ length: 64 }, () => backend.sign(pair.privateKey, params, MSG)));
    const issued = performance.now() - t;
    setImmediate(spin);
    await batch;
    const elapsed = performance.now() - t;
    spinning = false;
    console.log(
      `RSA-2048 sign: ${perSign.toFixed(2)} ms sequential; 64 concurrent in ${elapsed.toFixed(1)} ms ` +
        `(${(elapsed / 64).toFixed(2)} ms each, issuing took ${issued.toFixed(1)} ms); ${turns} event-loop turns meanwhile`,
    );
    expect(turns, 'event-loop turns during the batch').toBeGreaterThan(1);
    expect(backend.asymmetricStats().running).toBe(0);
  });
});
