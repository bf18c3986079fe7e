/**
 * The libFuzzer target for the shim's reply decoder (fuzz/reply_decoder_fuzz.c):
 * builds it with clang when clang is installed, replays the inputs of bugs it
 * found before (fuzz/regressions/reply/), then fuzzes for 20 seconds from the
 * seed corpus (fuzz/corpus/reply/). Any crash, canary hit or sanitizer report
 * fails the test, with the fuzzer's output in the message.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/module';

const OUT = join(ROOT, 'build', 'fuzz');
const FUZZER = join(OUT, 'reply_decoder_fuzz');
const REGRESSIONS = join(ROOT, 'fuzz', 'regressions', 'reply');

function hasClang(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Run {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], timeout: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** The part of libFuzzer's output worth reading when it failed. */
function excerpt(output: string): string {
  const lines = output.split('\n').filter((l) => !/^#\d+\s+(NEW|REDUCE|pulse)|Uses: \d+$/.test(l));
  return lines.slice(-80).join('\n');
}

describe.skipIf(!hasClang())('reply decoder fuzzing (libFuzzer)', () => {
  beforeAll(async () => {
    const built = await run(join(ROOT, 'fuzz', 'build.sh'), [], 180_000);
    if (built.code !== 0) throw new Error(`fuzz/build.sh failed:\n${built.output}`);
  }, 200_000);

  const regressions = existsSync(REGRESSIONS) ? readdirSync(REGRESSIONS).sort() : [];
  it.each(regressions)('regression input %s decodes without a crash', async (name) => {
    const r = await run(FUZZER, ['-runs=1', join(REGRESSIONS, name)], 60_000);
    expect(r.code, excerpt(r.output)).toBe(0);
  });

  it('survives 20 s of fuzzing from the seed corpus', async () => {
    const r = await run(join(ROOT, 'fuzz', 'build.sh'), ['--run', '20'], 120_000);
    const execs = /stat::number_of_executed_units:\s+(\d+)/.exec(r.output);
    const perSecond = /stat::average_exec_per_sec:\s+(\d+)/.exec(r.output);
    console.log(`reply_decoder_fuzz: ${execs?.[1] ?? '?'} executions, ${perSecond?.[1] ?? '?'}/s`);
    expect(r.output, excerpt(r.output)).not.toMatch(/ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error:/);
    expect(r.code, excerpt(r.output)).toBe(0);
    expect(Number(execs?.[1] ?? 0)).toBeGreaterThan(1000);
  }, 150_000);
});
