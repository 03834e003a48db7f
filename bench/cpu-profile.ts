// Summarise a V8 .cpuprofile (from node --cpu-prof): self and inclusive time per function, and self
// time per file, as shares of the time spent inside one root function (e.g. trainAttngrad), so
// start-up and module loading do not dilute the numbers. Used by `train-step.ts --profile`;
// standalone: node --import tsx bench/cpu-profile.ts FILE.cpuprofile [root] [top]

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const where = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/(main|node_modules)\//, '$1/')
    .replace(/^main\//, '');
// tsx's transpiled modules report line 0 for every function: name and file are what identify them
const key = (f: ProfileNode['callFrame']) =>
  `${f.functionName || '(anonymous)'}  ${where(f.url)}${f.lineNumber > 0 ? `:${f.lineNumber + 1}` : ''}`;

export function printProfile(file: string, { top = 25, within = '' } = {}): void {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  prof.samples.forEach((id, i) =>
    selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)),
  );

  // Walk the call tree from the root; count a sample only under `within` when it is given.
  const self = new Map<string, number>(),
    incl = new Map<string, number>(),
    files = new Map<string, number>();
  let total = 0;
  const walk = (id: number, inside: boolean, stack: Set<string>): number => {
    const node = byId.get(id)!;
    const k = key(node.callFrame);
    const now = inside || (!!within && node.callFrame.functionName === within) || !within;
    let sum = now ? (selfUs.get(id) ?? 0) : 0;
    if (now && sum) {
      self.set(k, (self.get(k) ?? 0) + sum);
      const f = where(node.callFrame.url) || node.callFrame.functionName;
      files.set(f, (files.get(f) ?? 0) + sum);
      total += sum;
    }
    const seen = stack.has(k);
    stack.add(k);
    for (const c of node.children ?? []) sum += walk(c, now, stack);
    if (!seen) stack.delete(k);
    if (now && !seen) incl.set(k, (incl.get(k) ?? 0) + sum); // recursion counted once
    return sum;
  };
  walk(prof.nodes[0].id, false, new Set());

  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1e3).toFixed(0).padStart(7)} ms`;
  const list = (title: string, m: Map<string, number>, n: number) => {
    console.log(`\n${title}`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n))
      console.log(`${pct(us)} ${ms(us)}  ${k}`);
  };
  console.log(
    `\nprofile ${file}: ${(total / 1e3).toFixed(0)} ms sampled${within ? ` inside ${within}()` : ''}`,
  );
  list('self time by function', self, top);
  list('self time by file', files, 12);
  list('inclusive time by function', incl, top);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, within = '', top = '25'] = process.argv.slice(2);
  if (!file) throw new Error('usage: cpu-profile.ts FILE.cpuprofile [rootFunction] [top]');
  printProfile(file, { top: Number(top), within });
}
