/**
 * craton_hsm.toml: found through CRATON_HSM_CONFIG, then
 * $XDG_CONFIG_HOME/craton-hsm/craton_hsm.toml, then
 * /etc/craton-hsm/craton_hsm.toml, else built-in defaults. Validated
 * strictly: an unknown key, a wrong type or a bad value is an error naming
 * the file, the key and what was expected. docs/CONFIGURATION.md lists every key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'smol-toml';
import type { LogLevel } from '../log';

export type BackendChoice = 'auto' | 'awslc' | 'openssl' | 'cng';

export interface AlgorithmSettings {
  readonly cryptoBackend: BackendChoice;
  readonly fipsApprovedOnly: boolean;
  readonly enablePqc: boolean;
  readonly allowWeakRsa: boolean;
  readonly allowSha1Signing: boolean;
}

export const DEFAULT_ALGORITHMS: AlgorithmSettings = {
  cryptoBackend: 'auto',
  fipsApprovedOnly: false,
  enablePqc: true,
  allowWeakRsa: false,
  allowSha1Signing: false,
};

/**
 * Switches for tests only, taken from the environment, never from the file:
 * CRATON_HSM_TEST_FAULT names a self-test to fail. Refused when
 * fips_approved_only is set.
 */
export interface TestSwitches {
  readonly fault: string | null;
}

export interface CratonConfig {
  readonly slots: { readonly count: number };
  readonly storage: { readonly path: string };
  readonly pin: { readonly minLength: number; readonly maxLength: number; readonly maxLoginAttempts: number };
  readonly logging: { readonly level: LogLevel; readonly file: string | null };
  readonly runtime: { readonly mode: 'auto' | 'embedded' | 'process' };
  readonly algorithms: AlgorithmSettings;
  readonly audit: { readonly enabled: boolean; readonly path: string };
  readonly testing: TestSwitches;
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

/** One key of the file: its expected type and, where values are limited, which are allowed. */
type KeySpec =
  | { readonly type: 'integer'; readonly min: number; readonly max: number }
  | { readonly type: 'string'; readonly oneOf?: readonly string[] }
  | { readonly type: 'boolean' };

const int = (min: number, max: number): KeySpec => ({ type: 'integer', min, max });
const path: KeySpec = { type: 'string' };
const oneOf = (...values: string[]): KeySpec => ({ type: 'string', oneOf: values });
const bool: KeySpec = { type: 'boolean' };

const SCHEMA: Record<string, Record<string, KeySpec>> = {
  slots: { count: int(1, 64) },
  storage: { path },
  pin: { min_length: int(1, 255), max_length: int(1, 255), max_login_attempts: int(1, 1000) },
  logging: { level: oneOf('error', 'warn', 'info', 'debug'), file: path },
  runtime: { mode: oneOf('auto', 'embedded', 'process') },
  algorithms: {
    crypto_backend: oneOf('auto', 'awslc', 'openssl', 'cng'),
    fips_approved_only: bool,
    enable_pqc: bool,
    allow_weak_rsa: bool,
    allow_sha1_signing: bool,
  },
  audit: { enabled: bool, path },
};

function expected(spec: KeySpec): string {
  switch (spec.type) {
    case 'integer': return `an integer from ${spec.min} to ${spec.max}`;
    case 'boolean': return 'true or false';
    case 'string': return spec.oneOf ? `one of ${spec.oneOf.map((v) => `"${v}"`).join(', ')}` : 'a non-empty string';
  }
}

function valid(spec: KeySpec, v: unknown): boolean {
  switch (spec.type) {
    case 'integer': {
      if (typeof v !== 'bigint' && !Number.isInteger(v)) return false;
      const n = Number(v);
      return n >= spec.min && n <= spec.max;
    }
    case 'boolean': return typeof v === 'boolean';
    case 'string': return typeof v === 'string' && v.length > 0 && (!spec.oneOf || spec.oneOf.includes(v));
  }
}

function parseFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`${file}: not valid TOML: ${(e as Error).message}`);
  }
}

function validate(doc: Record<string, unknown>, where: string): void {
  for (const [section, body] of Object.entries(doc)) {
    const keys = SCHEMA[section];
    if (!keys) throw new ConfigError(`${where}: unknown section [${section}]`);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ConfigError(`${where}: [${section}] must be a table`);
    for (const [key, v] of Object.entries(body)) {
      const spec = keys[key];
      if (!spec) throw new ConfigError(`${where}: unknown key ${section}.${key}`);
      if (!valid(spec, v)) throw new ConfigError(`${where}: ${section}.${key} must be ${expected(spec)}`);
    }
  }
}


export function loadConfig(env: Env): { config: CratonConfig; source: string } {
  const file = findConfigFile(env);
  const doc = file ? parseFile(file) : {};
  const where = file ?? 'built-in defaults';
  validate(doc, where);
  const value = (section: string, key: string): unknown => (doc[section] as Record<string, unknown> | undefined)?.[key];
  const num = (section: string, key: string, fallback: number): number => {
    const v = value(section, key);
    return v === undefined ? fallback : Number(v);
  };
  const str = <T extends string>(section: string, key: string, fallback: T): T => (value(section, key) as T | undefined) ?? fallback;
  const flag = (section: string, key: string, fallback: boolean): boolean => (value(section, key) as boolean | undefined) ?? fallback;
  const storagePath = str('storage', 'path', env.CRATON_HSM_STORAGE || defaultStoragePath(env));
  const config: CratonConfig = {
    slots: { count: num('slots', 'count', 1) },
    storage: { path: storagePath },
    pin: {
      minLength: num('pin', 'min_length', 4),
      maxLength: num('pin', 'max_length', 255),
      maxLoginAttempts: num('pin', 'max_login_attempts', 10),
    },
    logging: {
      level: str<LogLevel>('logging', 'level', (env.CRATON_HSM_LOG as LogLevel | undefined) ?? 'warn'),
      file: (value('logging', 'file') as string | undefined) ?? null,
    },
    runtime: { mode: str('runtime', 'mode', 'auto') },
    algorithms: {
      cryptoBackend: str<BackendChoice>('algorithms', 'crypto_backend', DEFAULT_ALGORITHMS.cryptoBackend),
      fipsApprovedOnly: flag('algorithms', 'fips_approved_only', DEFAULT_ALGORITHMS.fipsApprovedOnly),
      enablePqc: flag('algorithms', 'enable_pqc', DEFAULT_ALGORITHMS.enablePqc),
      allowWeakRsa: flag('algorithms', 'allow_weak_rsa', DEFAULT_ALGORITHMS.allowWeakRsa),
      allowSha1Signing: flag('algorithms', 'allow_sha1_signing', DEFAULT_ALGORITHMS.allowSha1Signing),
    },
    audit: { enabled: flag('audit', 'enabled', true), path: str('audit', 'path', join(storagePath, 'audit.ndjson')) },
    testing: { fault: env.CRATON_HSM_TEST_FAULT || null },
  };
  if (config.pin.minLength > config.pin.maxLength) throw new ConfigError(`${where}: pin.min_length is larger than pin.max_length`);
  if (config.algorithms.fipsApprovedOnly && config.testing.fault) {
    throw new ConfigError(`${where}: algorithms.fips_approved_only is set, so the test-only switch CRATON_HSM_TEST_FAULT is refused`);
  }
  return { config, source: where };
}
