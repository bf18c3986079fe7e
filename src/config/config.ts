/**
 * craton_hsm.toml: found through CRATON_HSM_CONFIG, then
 * $XDG_CONFIG_HOME/craton-hsm/craton_hsm.toml, then
 * /etc/craton-hsm/craton_hsm.toml, else built-in defaults. Validated
 * strictly: an unknown key or a wrong type is an error naming the file and
 * the key. docs/CONFIGURATION.md lists every key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import type { LogLevel } from '../log';

export interface CratonConfig {
  readonly slots: { readonly count: number };
  readonly storage: { readonly path: string };
  readonly pin: { readonly minLength: number; readonly maxLength: number; readonly maxLoginAttempts: number };
  readonly logging: { readonly level: LogLevel };
  readonly runtime: { readonly mode: 'auto' | 'embedded' | 'process' };
}

export class ConfigError extends Error {}

type Env = Readonly<Record<string, string | undefined>>;

export function defaultStoragePath(env: Env): string {
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'craton-hsm');
}

export function findConfigFile(env: Env): string | null {
  if (env.CRATON_HSM_CONFIG) return env.CRATON_HSM_CONFIG;
  const xdg = join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'craton-hsm', 'craton_hsm.toml');
  if (existsSync(xdg)) return xdg;
  const system = '/etc/craton-hsm/craton_hsm.toml';
  return existsSync(system) ? system : null;
}

/** One key of the file: its expected type and how to check a value. */
interface KeySpec {
  readonly type: 'integer' | 'string';
  readonly check?: (v: never) => string | null;
}

const SCHEMA: Record<string, Record<string, KeySpec>> = {
  slots: { count: { type: 'integer', check: (v: number) => (v >= 1 && v <= 64 ? null : 'an integer from 1 to 64') } },
  storage: { path: { type: 'string', check: (v: string) => (v.length > 0 ? null : 'a non-empty path') } },
  pin: {
    min_length: { type: 'integer', check: (v: number) => (v >= 1 && v <= 255 ? null : 'an integer from 1 to 255') },
    max_length: { type: 'integer', check: (v: number) => (v >= 1 && v <= 255 ? null : 'an integer from 1 to 255') },
    max_login_attempts: { type: 'integer', check: (v: number) => (v >= 1 && v <= 1000 ? null : 'an integer from 1 to 1000') },
  },
  logging: {
    level: { type: 'string', check: (v: string) => (['error', 'warn', 'info', 'debug'].includes(v) ? null : 'one of "error", "warn", "info", "debug"') },
  },
  runtime: {
    mode: { type: 'string', check: (v: string) => (['auto', 'embedded', 'process'].includes(v) ? null : 'one of "auto", "embedded", "process"') },
  },
};

export function loadConfig(env: Env): { config: CratonConfig; source: string } {
  const file = findConfigFile(env);
  let doc: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`${file}: cannot read: ${(e as Error).message}`);
    }
    try {
      doc = parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`${file}: not valid TOML: ${(e as Error).message}`);
    }
  }
  const where = file ?? 'built-in defaults';
  const value = (section: string, key: string): unknown => {
    const s = doc[section];
    return typeof s === 'object' && s !== null ? (s as Record<string, unknown>)[key] : undefined;
  };
  for (const [section, body] of Object.entries(doc)) {
    const keys = SCHEMA[section];
    if (!keys) throw new ConfigError(`${where}: unknown section [${section}]`);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ConfigError(`${where}: [${section}] must be a table`);
    for (const [key, v] of Object.entries(body)) {
      const spec = keys[key];
      if (!spec) throw new ConfigError(`${where}: unknown key ${section}.${key}`);
      const ok = spec.type === 'integer' ? typeof v === 'bigint' || Number.isInteger(v) : typeof v === spec.type;
      if (!ok) throw new ConfigError(`${where}: ${section}.${key} must be ${spec.type === 'integer' ? 'an integer' : 'a string'}`);
      const problem = spec.check?.((typeof v === 'bigint' ? Number(v) : v) as never);
      if (problem) throw new ConfigError(`${where}: ${section}.${key} must be ${problem}`);
    }
  }
  const num = (section: string, key: string, fallback: number): number => {
    const v = value(section, key);
    return v === undefined ? fallback : Number(v);
  };
  const str = <T extends string>(section: string, key: string, fallback: T): T => (value(section, key) as T | undefined) ?? fallback;
  const config: CratonConfig = {
    slots: { count: num('slots', 'count', 1) },
    storage: { path: str('storage', 'path', env.CRATON_HSM_STORAGE || defaultStoragePath(env)) },
    pin: {
      minLength: num('pin', 'min_length', 4),
      maxLength: num('pin', 'max_length', 255),
      maxLoginAttempts: num('pin', 'max_login_attempts', 10),
    },
    logging: { level: str<LogLevel>('logging', 'level', (env.CRATON_HSM_LOG as LogLevel | undefined) ?? 'warn') },
    runtime: { mode: str('runtime', 'mode', 'auto') },
  };
  if (config.pin.minLength > config.pin.maxLength) throw new ConfigError(`${where}: pin.min_length is larger than pin.max_length`);
  return { config, source: where };
}
