#!/usr/bin/env node
// The `attngrad` command. In a checkout (cli/main.ts is here) it registers tsx and runs the
// TypeScript sources, so nothing is ever stale while developing; from the installed package
// (sources not shipped) it runs the compiled JavaScript in dist/ (`npm run build`).
import { existsSync } from 'node:fs';

const source = new URL('../cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/cli/main.js');
}
