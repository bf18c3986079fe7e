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
    const env = withFile('[slots]\ncount = 3\n[storage]\npath = "/srv/t"\n[pin]\nmin_length = 6\nmax_length = 32\nmax_login_attempts = 5\n[logging]\nlevel = "debug"\n[runtime]\nmode = "process"\n');
    const { config } = loadConfig(env);
    expect(config).toEqual({
      slots: { count: 3 },
      storage: { path: '/srv/t' },
      pin: { minLength: 6, maxLength: 32, maxLoginAttempts: 5 },
      logging: { level: 'debug' },
      runtime: { mode: 'process' },
    });
  });

  it.each([
    ['[slots]\ncount = 0\n', /slots\.count must be an integer from 1 to 64/],
    ['[slots]\ncount = "2"\n', /slots\.count must be an integer/],
    ['[slots]\ncolor = 1\n', /unknown key slots\.color/],
    ['[vault]\nx = 1\n', /unknown section \[vault\]/],
    ['[logging]\nlevel = "loud"\n', /logging\.level must be one of/],
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
