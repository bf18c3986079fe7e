/** PIN policy across processes, through pkcs11-tool: lockout, flags, reset by the SO, length limits. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SO_PIN, USER_PIN, initialisedToken, pkcs11Tool, sandbox, type Sandbox } from '../helpers/module';

describe('PIN policy (pkcs11-tool, one process per command)', () => {
  let box: Sandbox;
  beforeEach(() => {
    box = sandbox('embedded', {}, '[pin]\nmax_login_attempts = 3\nmin_length = 4\nmax_length = 12\n');
  });
  afterEach(() => box.cleanup());

  const tokenFlags = async () => (await pkcs11Tool(box.env, '--list-token-slots')).stdout;

  it('locks the user PIN after max_login_attempts failures counted across processes, and the SO unlocks it', async () => {
    await initialisedToken(box.env);
    const first = await pkcs11Tool(box.env, '--login', '--pin', '0000', '--list-objects');
    expect(first.stderr).toMatch(/CKR_PIN_INCORRECT/);
    expect(await tokenFlags()).toMatch(/user PIN count low/);
    await pkcs11Tool(box.env, '--login', '--pin', '0000', '--list-objects');
    expect(await tokenFlags()).toMatch(/final user PIN try/);
    const third = await pkcs11Tool(box.env, '--login', '--pin', '0000', '--list-objects');
    expect(third.stderr).toMatch(/CKR_PIN_INCORRECT/);
    expect(await tokenFlags()).toMatch(/user PIN locked/);
    const right = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--list-objects');
    expect(right.stderr).toMatch(/CKR_PIN_LOCKED/);
    const reset = await pkcs11Tool(box.env, '--init-pin', '--login', '--so-pin', SO_PIN, '--pin', '4321');
    expect(reset.code).toBe(0);
    expect(await tokenFlags()).not.toMatch(/user PIN locked|user PIN count low|final user PIN try/);
    expect((await pkcs11Tool(box.env, '--login', '--pin', '4321', '--list-objects')).code).toBe(0);
  });

  it('a correct login clears the failure count', async () => {
    await initialisedToken(box.env);
    await pkcs11Tool(box.env, '--login', '--pin', '0000', '--list-objects');
    expect((await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--list-objects')).code).toBe(0);
    expect(await tokenFlags()).not.toMatch(/count low/);
  });

  it('enforces min_length and max_length', async () => {
    const short = await pkcs11Tool(box.env, '--init-token', '--label', 't', '--so-pin', '123');
    expect(short.stderr).toMatch(/CKR_PIN_LEN_RANGE/);
    const long = await pkcs11Tool(box.env, '--init-token', '--label', 't', '--so-pin', '1234567890123');
    expect(long.stderr).toMatch(/CKR_PIN_LEN_RANGE/);
    await initialisedToken(box.env);
    expect(await tokenFlags()).toMatch(/pin min\/max\s+: 4\/12/);
    const userShort = await pkcs11Tool(box.env, '--init-pin', '--login', '--so-pin', SO_PIN, '--pin', '12');
    expect(userShort.stderr).toMatch(/CKR_PIN_LEN_RANGE/);
  });

  it('re-initialising the token with the wrong SO PIN is refused and counted', async () => {
    await initialisedToken(box.env);
    const wrong = await pkcs11Tool(box.env, '--init-token', '--label', 'again', '--so-pin', '87654321');
    expect(wrong.stderr).toMatch(/CKR_PIN_INCORRECT/);
    expect(await tokenFlags()).toMatch(/SO PIN count low/);
    expect((await pkcs11Tool(box.env, '--init-token', '--label', 'again', '--so-pin', SO_PIN)).code).toBe(0);
    expect(await tokenFlags()).toMatch(/token label\s+: again/);
  });
});
