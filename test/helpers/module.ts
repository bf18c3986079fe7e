/** Shared fixtures: where the built module is, and a fresh token store per test. */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_ALGORITHMS } from '../../src/config/config';
import { AlgorithmPolicy } from '../../src/mechanisms/policy';
import { MechanismRegistry } from '../../src/mechanisms/registry';

export const ROOT = resolve(__dirname, '..', '..');
export const MODULE_PATH = join(ROOT, 'build', 'libcraton_hsm.so');
export const TRANSPORTS = ['process', 'embedded'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export const SO_PIN = '12345678';
export const USER_PIN = '1234';

/** A temporary token store and the environment that points the module at it. */
export interface Sandbox {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  cleanup(): void;
}

export function sandbox(transport: Transport, extraEnv: NodeJS.ProcessEnv = {}, config = ''): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'craton-test-'));
  const configPath = join(dir, 'craton_hsm.toml');
  writeFileSync(configPath, `[storage]\npath = ${JSON.stringify(join(dir, 'tokens'))}\n${config}`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CRATON_HSM_CONFIG: configPath,
    CRATON_HSM_RUNTIME: transport,
    ...extraEnv,
  };
  return { dir, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const run = promisify(execFile);

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Runs a command, never throwing on a non-zero exit. */
export async function runTool(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<RunResult> {
  try {
    const child = run(cmd, args, { env, encoding: 'buffer', maxBuffer: 64 << 20, timeout: 60_000 });
    if (input) {
      child.child.stdin?.end(input);
    }
    const { stdout, stderr } = await child;
    return { stdout: stdout.toString('latin1'), stderr: stderr.toString(), code: 0 };
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer; code?: number };
    return { stdout: err.stdout?.toString('latin1') ?? '', stderr: err.stderr?.toString() ?? '', code: typeof err.code === 'number' ? err.code : -1 };
  }
}

/** pkcs11-tool against the built module. */
export function pkcs11Tool(env: NodeJS.ProcessEnv, ...args: string[]): Promise<RunResult> {
  return runTool('pkcs11-tool', ['--module', MODULE_PATH, ...args], env);
}

/** A token initialised with SO_PIN and USER_PIN, label "test". */
export async function initialisedToken(env: NodeJS.ProcessEnv): Promise<void> {
  const init = await pkcs11Tool(env, '--init-token', '--label', 'test', '--so-pin', SO_PIN);
  if (init.code !== 0) throw new Error(`init-token failed: ${init.stderr}`);
  const pin = await pkcs11Tool(env, '--init-pin', '--login', '--so-pin', SO_PIN, '--pin', USER_PIN);
  if (pin.code !== 0) throw new Error(`init-pin failed: ${pin.stderr}`);
}

/** A key pair generated in the token by pkcs11-tool, logged in as the user; keyType as pkcs11-tool spells it ("RSA:2048", "EC:prime256v1"). */
export async function generateKeyPair(env: NodeJS.ProcessEnv, keyType: string, id: string, label: string): Promise<void> {
  const gen = await pkcs11Tool(env, '--login', '--pin', USER_PIN, '--keypairgen', '--key-type', keyType, '--id', id, '--label', label);
  if (gen.code !== 0) throw new Error(`keypairgen ${keyType} failed: ${gen.stderr}`);
}

/** The mechanisms the module offers with the default [algorithms] settings. */
export function defaultRegistry(): MechanismRegistry {
  return new MechanismRegistry(new AlgorithmPolicy(DEFAULT_ALGORITHMS));
}

/**
 * A copy of the built module laid out as it is deployed (lib/, dist/,
 * build/Release/) in a temporary folder, with the integrity sidecar
 * tools/compute-integrity-hmac.sh writes: what approved-only mode needs, and
 * what a test may change without disturbing any other.
 */
export function sealedModuleCopy(): { readonly dir: string; readonly lib: string; readonly runtime: string; readonly addons: string; seal(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'craton-module-'));
  const libDir = join(dir, 'lib');
  const addons = join(dir, 'build', 'Release');
  mkdirSync(libDir);
  mkdirSync(join(dir, 'dist'));
  mkdirSync(addons, { recursive: true });
  const lib = join(libDir, 'libcraton_hsm.so');
  copyFileSync(MODULE_PATH, lib);
  copyFileSync(join(ROOT, 'build', 'libcraton_embedder.so'), join(libDir, 'libcraton_embedder.so'));
  const runtime = join(dir, 'dist', 'runtime.js');
  copyFileSync(join(ROOT, 'dist', 'runtime.js'), runtime);
  for (const addon of ['craton_crypto.node', 'craton_sqlite.node', 'craton_os.node']) copyFileSync(join(ROOT, 'build', 'Release', addon), join(addons, addon));
  const seal = () => {
    execFileSync('bash', [join(ROOT, 'tools', 'compute-integrity-hmac.sh'), lib], { stdio: 'ignore' });
  };
  seal();
  return { dir, lib, runtime, addons, seal };
}
