// Runs every test/*.test.ts file with uvu, one process per file, and ends with the line CI reads:
// `N passed, N failed, N skipped`. A test whose input is missing is a skip (uvu's test.skip),
// never a pass. Usage: npm test [-- pattern]   (pattern filters file names)

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pattern = new RegExp(process.argv[2] ?? '.');
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.ts') && pattern.test(f))
  .sort();

let passed = 0,
  failed = 0,
  skipped = 0;
for (const file of files) {
  const started = Date.now();
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(here, file)], {
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  const out = run.stdout + run.stderr;
  // uvu's summary: "Total: N", "Passed: N", "Skipped: N" (skipped tests are not in the total)
  const count = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(out)?.[1] ?? 0);
  const [total, ok, skips] = [count('Total'), count('Passed'), count('Skipped')];
  const crashed = run.status !== 0 && total === ok;
  passed += ok;
  failed += total - ok + (crashed ? 1 : 0);
  skipped += skips;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const skipNote = skips > 0 ? ` (${skips} skipped)` : '';
  console.log(
    `${run.status === 0 ? 'ok  ' : 'FAIL'} ${file}  ${ok}/${total}${skipNote}  ${seconds}s`,
  );
  if (run.status !== 0) console.log(out);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
