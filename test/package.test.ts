// The package as a user gets it: `npm pack` (prepack builds dist/), the tarball installed into an
// empty project with --omit=optional (so no gpu.js, no tsx, no native module), and there: a plain
// .mjs file imports it and trains (loss finite and falling; the worker pool runs compiled workers
// and gives the reference's bits), a .ts consumer type-checks against the shipped .d.ts (and a
// wrong type is caught), and `npx attngrad --help | --version | train` run the compiled CLI. When
// the registry cannot be reached (the install needs ndarray), every case is a counted skip.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version as string;
// npm test's own npm_* variables (npm_package_*, npm_config_local_prefix, ...) must not leak into
// the user's npm; where the registry and the cache are stays as configured
const kept = /^npm_config_(registry|cache|userconfig|https?_proxy|proxy|noproxy)$/i;
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || kept.test(k)),
);
const run = (cmd: string, args: string[], options: SpawnSyncOptions = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 60_000, ...options });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, stdout: `${r.stdout}` };
};

const reachable = run('npm', ['ping', '--fetch-timeout=5000', '--fetch-retries=0'], {
  timeout: 15_000,
}).status;
const it = reachable === 0 ? test : test.skip;
if (reachable !== 0) console.log('package.test: the npm registry cannot be reached; skipping');

const work = mkdtempSync(join(tmpdir(), 'attngrad-pack-'));
const project = join(work, 'project');
let installed = false;

it('npm pack ships dist, bin and the corpus, no sources or tests; installs with --omit=optional', () => {
  const pack = run('npm', ['pack', '--pack-destination', work, '--json'], { cwd: repo });
  assert.is(pack.status, 0, pack.out);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')));
  const paths = (info.files as { path: string }[]).map((f) => f.path);
  for (const must of [
    'dist/lib/index.js',
    'dist/lib/index.d.ts',
    'dist/lib/index.js.map',
    'dist/lib/backend/threads/worker.js',
    'dist/cli/main.js',
    'bin/attngrad.mjs',
    'data/tinyshakespeare.txt',
  ]) {
    assert.ok(paths.includes(must), `the tarball lacks ${must}`);
  }
  const stray = paths.filter(
    (p) => /^(test|bench|lib|cli|docs)\/|\.ts$/.test(p) && !/\.d\.ts$/.test(p),
  );
  assert.equal(stray, [], 'sources, tests or benches in the tarball');

  writeFileSync(join(work, 'package.json'), '{}'); // so npm never climbs into the repository
  run('mkdir', ['-p', project]);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  const tarball = join(work, info.filename as string);
  const install = run(
    'npm',
    ['install', '--omit=optional', '--no-audit', '--no-fund', '--loglevel=error', tarball],
    { cwd: project },
  );
  assert.is(install.status, 0, install.out);
  const modules = readdirSync(join(project, 'node_modules'));
  for (const absent of ['tsx', 'esbuild', 'gpu.js', 'typescript'])
    assert.not.ok(modules.includes(absent), `${absent} was installed for the user`);
  installed = true;
});

it('a plain .mjs file imports attngrad, trains a char LM on the shipped corpus; threads agree', () => {
  assert.ok(installed, 'not installed');
  writeFileSync(
    join(project, 'train.mjs'),
    `import { manualSeed, randn, matmul, setBackend, threadStats } from 'attngrad';
import { AdamW } from 'attngrad/nn';
import { TransformerLM, CharDataset, corpora } from 'attngrad/models';

manualSeed(0);
const data = CharDataset.fromFile(corpora.shakespeare);
const config = { vocabSize: data.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 };
const model = new TransformerLM(config);
const optimizer = new AdamW(model.namedParameters(), { lr: 3e-3 });
const losses = [];
for (let step = 0; step < 40; step++) {
  optimizer.zeroGrad();
  const { x, y } = data.batch('train', 8, 16);
  const { loss } = model.forward(x, y);
  loss.backward();
  optimizer.step();
  losses.push(loss.item());
}
// a matmul big enough to split across the pool, until a worker has taken a chunk
const a = randn([256, 256]), b = randn([256, 256]);
const started = Date.now();
let threaded;
while (threadStats().workerChunks === 0 && Date.now() - started < 20000) threaded = matmul(a, b);
const stats = threadStats();
setBackend('cpu');
const reference = matmul(a, b).data;
const same = threaded.data.every((v, i) => v === reference[i]);
console.log(JSON.stringify({ losses, vocab: data.vocabSize, stats, same }));
`,
  );
  const r = run(process.execPath, ['train.mjs'], {
    cwd: project,
    env: { ...env, ATTNGRAD_THREADS: '2' },
  });
  assert.is(r.status, 0, r.out);
  const { losses, vocab, stats, same } = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.is(vocab, 65, 'tinyshakespeare has 65 characters');
  assert.ok(
    losses.every((l: number) => Number.isFinite(l)),
    `losses: ${losses}`,
  );
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const [first, last] = [mean(losses.slice(0, 5)), mean(losses.slice(-5))];
  assert.ok(first > 3.9 && last < first - 0.5, `loss ${first} → ${last}`);
  assert.ok(stats.workerChunks > 0, `no worker took a chunk: ${JSON.stringify(stats)}`);
  assert.ok(same, 'the threaded matmul differs from the reference');
});

it('a .ts consumer type-checks against the shipped .d.ts; a wrong type is an error', () => {
  assert.ok(installed, 'not installed');
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        target: 'ES2022',
        strict: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [join(repo, 'node_modules/@types')], // the user's @types/node, here the repo's
      },
      include: ['*.ts'],
    }),
  );
  writeFileSync(
    join(project, 'consumer.ts'),
    `import { tensor, randint, noGrad, type Tensor } from 'attngrad';
import { AdamW, Linear } from 'attngrad/nn';
import { TransformerLM, type TransformerConfig } from 'attngrad/models';

const x: Tensor = tensor([[1, 2, 3]]);
const layer = new Linear(3, 2);
const y: Tensor = layer.forward(x).relu();
const total: number = noGrad(() => y.sum().item());
const config: TransformerConfig = { vocabSize: 10, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8 };
const out = new TransformerLM(config).forward(randint(0, 10, [1, 8], { dtype: 'int32' }));
const optimizer = new AdamW(layer.namedParameters(), { lr: 1e-3 });
optimizer.step();
console.log(total, out.logits.shape);
`,
  );
  const tsc = join(repo, 'node_modules/.bin/tsc');
  const ok = run(tsc, ['-p', '.'], { cwd: project });
  assert.is(ok.status, 0, ok.out);
  writeFileSync(
    join(project, 'wrong.ts'),
    `import { tensor } from 'attngrad';\nexport const s: string = tensor([1]).item();\n`,
  );
  const wrong = run(tsc, ['-p', '.'], { cwd: project });
  assert.match(wrong.out, /wrong\.ts.*TS2322/, wrong.out);
});

it('npx attngrad --help, --version and a short train run the compiled CLI', () => {
  assert.ok(installed, 'not installed');
  assert.ok(!existsSync(join(project, 'node_modules/attngrad/cli')), 'sources were shipped');
  const help = run('npx', ['--no-install', 'attngrad', '--help'], { cwd: project });
  assert.is(help.status, 0, help.out);
  assert.match(help.stdout, /usage: attngrad train/);
  const v = run('npx', ['--no-install', 'attngrad', '--version'], { cwd: project });
  assert.is(v.stdout.trim(), version);
  const small = ['--layers', '1', '--d-model', '16', '--heads', '2', '--batch', '4'];
  const args = ['train', '--model', 'lm', '--task', 'text', '--block-size', '16', ...small];
  const trained = run(
    'npx',
    ['--no-install', 'attngrad', ...args, '--steps', '5', '--eval-size', '8', '--name', 't'],
    { cwd: project },
  );
  assert.is(trained.status, 0, trained.out);
  assert.ok(existsSync(join(project, 'runs/t/model.safetensors')), trained.out);
  assert.ok(existsSync(join(project, 'runs/t/metrics.jsonl')), trained.out);
});

test.run();
