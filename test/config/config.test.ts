import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultStoragePath, loadConfig } from '../../src/config/config';

function withFile(text: string): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'craton-config-'));
  const file = join(dir, 'craton_hsm.toml');
  writeFileSync(file, text);
  return { CRATON_HSM_CONFIG: file, HOME: dir };
}

describe('craton_hsm.toml', () => {
  it('uses defaults when no file exists', () => {
    const home = mkdtempSync(join(tmpdir(), 'craton-home-'));
    const { config, source } = loadConfig({ HOME: home });
    expect(source).toBe('built-in defaults');
    expect(config.slots.count).toBe(1);
    expect(config.storage.path).toBe(join(home, '.local', 'share', 'craton-hsm'));
    expect(config.pin).toEqual({ minLength: 4, maxLength: 255, maxLoginAttempts: 10 });
  });

  it('follows XDG_DATA_HOME for the default store', () => {
    expect(defaultStoragePath({ XDG_DATA_HOME: '/x/data', HOME: '/home/u' })).toBe('/x/data/craton-hsm');
  });

  it('reads every documented key', () => {
    const env = withFile(
      [
        '[slots]\ncount = 3',
        '[storage]\npath = "/srv/t"',
        '[pin]\nmin_length = 6\nmax_length = 32\nmax_login_attempts = 5',
        '[logging]\nlevel = "debug"\nfile = "/var/log/craton.log"',
        '[runtime]\nmode = "process"',
        '[algorithms]\ncrypto_backend = "awslc"\nfips_approved_only = true\nenable_pqc = false\nallow_weak_rsa = true\nallow_sha1_signing = true',
        '[audit]\nenabled = false\npath = "/var/log/craton-audit.ndjson"',
      ].join('\n'),
    );
    const { config } = loadConfig(env);
    expect(config).toEqual({
      slots: { count: 3 },
      storage: { path: '/srv/t' },
      pin: { minLength: 6, maxLength: 32, maxLoginAttempts: 5 },
      logging: { level: 'debug', file: '/var/log/craton.log' },
      runtime: { mode: 'process' },
      algorithms: { cryptoBackend: 'awslc', fipsApprovedOnly: true, enablePqc: false, allowWeakRsa: true, allowSha1Signing: true },
      audit: { enabled: false, path: '/var/log/craton-audit.ndjson' },
      testing: { fault: null },
    });
  });

  it('puts the audit log beside the tokens by default', () => {
    const { config } = loadConfig(withFile('[storage]\npath = "/srv/t"\n'));
    expect(config.audit).toEqual({ enabled: true, path: '/srv/t/audit.ndjson' });
    expect(config.algorithms).toEqual({ cryptoBackend: 'auto', fipsApprovedOnly: false, enablePqc: true, allowWeakRsa: false, allowSha1Signing: false });
  });

  it('takes the test-only fault switch from the environment, and refuses it in approved-only mode', () => {
    const env = { ...withFile(''), CRATON_HSM_TEST_FAULT: 'kat:aes-gcm' };
    expect(loadConfig(env).config.testing).toEqual({ fault: 'kat:aes-gcm' });
    const fips = { ...withFile('[algorithms]\nfips_approved_only = true\n'), CRATON_HSM_TEST_FAULT: 'kat:aes-gcm' };
    expect(() => loadConfig(fips)).toThrow(/test-only switch CRATON_HSM_TEST_FAULT is refused/);
  });

  it.each([
    ['[slots]\ncount = 0\n', /slots\.count must be an integer from 1 to 64/],
    ['[slots]\ncount = "2"\n', /slots\.count must be an integer/],
    ['[slots]\ncolor = 1\n', /unknown key slots\.color/],
    ['[vault]\nx = 1\n', /unknown section \[vault\]/],
    ['[logging]\nlevel = "loud"\n', /logging\.level must be one of/],
    ['[algorithms]\nfips_approved_only = "yes"\n', /algorithms\.fips_approved_only must be true or false/],
    ['[algorithms]\ncrypto_backend = "boringssl"\n', /algorithms\.crypto_backend must be one of "auto", "awslc", "openssl", "cng"/],
    ['[audit]\npath = ""\n', /audit\.path must be a non-empty string/],
    ['[audit]\nrotate = true\n', /unknown key audit\.rotate/],
    ['[pin]\nmin_length = 10\nmax_length = 8\n', /min_length is larger/],
    ['not toml at all [', /not valid TOML/],
  ])('rejects %j naming the file and key', (text, message) => {
    const env = withFile(text);
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
    expect(() => loadConfig(env)).toThrow(env.CRATON_HSM_CONFIG as string);
  });

  it('refuses a named file that does not exist', () => {
    expect(() => loadConfig({ CRATON_HSM_CONFIG: '/nonexistent/craton_hsm.toml' })).toThrow(/cannot read/);
  });
});
