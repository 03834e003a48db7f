// The house format: every source file (TypeScript, JavaScript, JSON) is as Prettier writes it
// (.prettierrc.json: 100 columns, single quotes; .prettierignore leaves prose, data and outputs
// alone). `npm run format` fixes what this test finds.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ignorePath = join(root, '.prettierignore');

/** Every file below `dir` that Prettier would format, skipping ignored folders early. */
async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name === '.git' || entry.name === 'node_modules') continue;
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (/\.(ts|mjs|js|json)$/.test(entry.name)) {
      const info = await prettier.getFileInfo(path, { ignorePath });
      if (!info.ignored && info.inferredParser) out.push(path);
    }
  }
  return out;
}

test('every source file is formatted by Prettier (npm run format)', async () => {
  const files = await sourceFiles(root);
  assert.ok(files.length > 50, `only ${files.length} source files found under ${root}`);
  const unformatted: string[] = [];
  for (const file of files) {
    const options = { ...(await prettier.resolveConfig(file)), filepath: file };
    if (!(await prettier.check(readFileSync(file, 'utf8'), options))) {
      unformatted.push(relative(root, file));
    }
  }
  assert.equal(unformatted, [], `not formatted (run npm run format): ${unformatted.join(', ')}`);
});

test.run();
