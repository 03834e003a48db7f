// Bundle the browser pages with esbuild: the playground (index.html), the bench page (bench.html),
// their workers and the pool's worker, as ES modules in one folder that any static host serves
// (`attngrad serve` adds the headers shared memory needs). Usage: npm run build:web [-- OUT_DIR]
//
// The engine's Node-only pieces stay out by swapping modules, which is all that makes lib/, nn/
// and models/ browser code (the same idea as package.json's "browser" field, kept here):
//   lib/index.ts → lib/browser.ts                    gpu.js on WebGL, not Dawn or headless-gl
//   lib/backend/threads/pool.ts → web-pool.ts        Web Workers, not worker_threads
//   nn/index.ts → nn/portable.ts                     checkpoints as bytes, not files
//   bench/harness.ts → web/bench-harness.ts          tfjs's browser builds, a plain timing loop
//   node:* imported by data/char-text.ts, bench/train-step.ts, bench/cpu-profile.ts →
//     web/node-shims.ts: the shipped corpus is fetched for CharDataset.fromText, and the bench's
//     profiler and command line never run (process.argv is [] in the bundle)
// Read next: playground.ts (the page), train-worker.ts (training), ../cli/serve.ts.

import { build, type Plugin } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
export const defaultOutDir = join(here, 'dist');

/** Node entry (relative to the repository) → browser entry. */
const swaps: Record<string, string> = {
  'lib/index.ts': 'lib/browser.ts',
  'lib/backend/threads/pool.ts': 'lib/backend/threads/web-pool.ts',
  'nn/index.ts': 'nn/portable.ts',
  'bench/harness.ts': 'web/bench-harness.ts',
};
/** Modules whose Node built-ins are served by web/node-shims.ts. */
const shimmed = ['data/char-text.ts', 'bench/train-step.ts', 'bench/cpu-profile.ts'];

const browserModules: Plugin = {
  name: 'attngrad-browser',
  setup(b) {
    b.onResolve({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith('.')) return undefined;
      const target = resolve(args.resolveDir, args.path);
      const swap = swaps[target.slice(root.length + 1)];
      return swap === undefined ? undefined : { path: join(root, swap) };
    });
    b.onResolve({ filter: /^node:/ }, (args) => {
      if (shimmed.some((file) => args.importer === join(root, file)))
        return { path: join(here, 'node-shims.ts') };
      return undefined; // anything else Node-only is an error: it must not reach the bundle
    });
  },
};

/** The entry points, by the name each has in the output folder. */
const entries = {
  playground: join(here, 'playground.ts'),
  'train-worker': join(here, 'train-worker.ts'),
  bench: join(here, 'bench.ts'),
  'bench-worker': join(here, 'bench-worker.ts'),
  'pool-worker': join(root, 'lib/backend/threads/web-worker.ts'),
};
const statics = [
  [join(here, 'index.html'), 'index.html'],
  [join(here, 'bench.html'), 'bench.html'],
  [join(here, 'style.css'), 'style.css'],
  [join(root, 'data/tinyshakespeare.txt'), 'tinyshakespeare.txt'],
  ...['', '-simd', '-threaded-simd'].map((kind) => {
    const file = `tfjs-backend-wasm${kind}.wasm`;
    return [join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist', file), file];
  }),
];

/** Build into `outDir` (replaced whole, atomically: a temp folder renamed over it). */
export async function buildWeb(outDir = defaultOutDir): Promise<void> {
  const temp = `${outDir}.${process.pid}.tmp`;
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp, { recursive: true });
  try {
    await build({
      entryPoints: entries,
      outdir: temp,
      bundle: true,
      splitting: true, // gpu.js and tfjs load on demand, in chunks of their own
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      sourcemap: true,
      minify: false, // a minifier can break gpu.js kernels, which gpu.js reads as source text
      define: { 'process.argv': '[]' },
      logLevel: 'warning',
      plugins: [browserModules],
    });
    for (const [from, to] of statics) copyFileSync(from, join(temp, to));
    rmSync(outDir, { recursive: true, force: true });
    renameSync(temp, outDir);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/** Whether `outDir` holds a build (serve builds only when it does not). */
export const isBuilt = (outDir = defaultOutDir): boolean =>
  Object.keys(entries).every((name) => existsSync(join(outDir, `${name}.js`))) &&
  statics.every(([, to]) => existsSync(join(outDir, to)));

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = resolve(process.argv[2] ?? defaultOutDir);
  const started = Date.now();
  await buildWeb(out);
  console.log(`web: built ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
