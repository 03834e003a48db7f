#!/usr/bin/env node
// The `attngrad` command: registers tsx (TypeScript on the fly), then runs cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
