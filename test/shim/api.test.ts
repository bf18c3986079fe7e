/**
 * Runs the C API-contract program (test/shim/api_test.c, CMake target
 * craton_api_test) against the built module, once per transport.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_PATH, ROOT, TRANSPORTS, sandbox, type Sandbox } from '../helpers/module';

const BUILD = join(ROOT, 'build');
const BINARY = join(BUILD, 'craton_api_test');
const EMBEDDER = join(BUILD, 'libcraton_embedder.so');

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runApiTest(env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(BINARY, [MODULE_PATH], { env, timeout: 280_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number | string; signal?: string }) | null;
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout: stdout.toString(),
        stderr: stderr.toString(),
      });
    });
  });
}

beforeAll(() => {
  // Build just this target (and the module it loads) if the tree has not built it yet.
  if (!existsSync(BINARY) && existsSync(join(BUILD, 'build.ninja'))) {
    execFileSync('cmake', ['--build', BUILD, '--target', 'craton_api_test'], { stdio: 'inherit' });
  }
}, 300_000);

describe.each(TRANSPORTS)('C API contract (%s transport)', (transport) => {
  let box: Sandbox;
  beforeAll(() => {
    box = sandbox(transport);
  });
  afterAll(() => box.cleanup());

  const skip = !existsSync(MODULE_PATH) || (transport === 'embedded' && !existsSync(EMBEDDER));
  it.skipIf(skip)(
    'craton_api_test passes every check',
    async () => {
      expect(existsSync(BINARY), `${BINARY} is not built (cmake --build build --target craton_api_test)`).toBe(true);
      const run = await runApiTest(box.env);
      const failures = run.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
      const summary = /^(\d+) passed, (\d+) failed$/m.exec(run.stdout);
      // Everything the program printed is in the assertion message when it fails.
      const context = `${failures.join('\n')}\n--- stdout tail ---\n${run.stdout.slice(-3000)}\n--- stderr tail ---\n${run.stderr.slice(-2000)}`;
      expect(summary, context).not.toBeNull();
      expect(Number(summary?.[1]), context).toBeGreaterThan(150);
      expect(summary?.[2], context).toBe('0');
      expect(run.signal, context).toBeNull();
      expect(run.code, context).toBe(0);
    },
    300_000,
  );
});
