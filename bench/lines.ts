// Line counts of lib/, nn/, models/ (code and comment lines), to argue about growth: the engine
// core should stay readable in an afternoon. Run: npm run lines

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

console.log('| folder | files | lines | comment lines | comment % |\n|---|---|---|---|---|');
for (const dir of ['lib', 'nn', 'models', 'cli']) {
  const list = files(dir);
  const lines = list.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== ''),
  );
  const comments = lines.filter((l) => /^\s*(\/\/|\/\*|\*)/.test(l)).length;
  console.log(
    `| ${dir}/ | ${list.length} | ${lines.length} | ${comments} | ${((100 * comments) / lines.length).toFixed(0)}% |`,
  );
}
