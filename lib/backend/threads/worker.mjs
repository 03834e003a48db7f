// A pool worker's entry point. Node 20 workers cannot start from a .ts file (the `--import tsx`
// hooks are not ready when the entry loads), so this plain module registers tsx, resolved from
// here rather than from the working directory, and then loads the TypeScript loop. Read next:
// worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
