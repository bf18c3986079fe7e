#!/usr/bin/env node
// Bundles the TypeScript runtime into dist/runtime.js: one CommonJS file that
// both the embedded runtime (Debian's Node 18) and a `node` child can load.
import { build } from 'esbuild';

await build({
  entryPoints: { runtime: 'src/runtime/main.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node18',
  format: 'cjs',
  sourcemap: true,
  external: ['*.node'],
  logLevel: 'warning',
});
console.log('bundle: wrote dist/runtime.js');
