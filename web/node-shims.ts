// What a few modules import from Node's built-ins, in the browser bundles (web/build.ts swaps this
// module in for those imports of data/char-text.ts and of bench/train-step.ts and its profiler).
// A page has no files and no processes: the shipped corpus is fetched and given to
// CharDataset.fromText, and the bench's profiling and command-line paths never run. The modules
// still compute a few paths when they load, so the path helpers answer, and no file ever exists.

const absent = (what: string) => (): never => {
  throw new Error(`${what}: not in a browser (fetch the text, then CharDataset.fromText)`);
};

export const existsSync = (): boolean => false;
export const readFileSync = absent('readFileSync');
export const readdirSync = absent('readdirSync');
export const mkdtempSync = absent('mkdtempSync');
export const spawnSync = absent('spawnSync');
export const tmpdir = absent('tmpdir');

export const fileURLToPath = (url: URL | string): string => new URL(url).pathname;
export const pathToFileURL = (path: string): URL => new URL(`file://${path}`);
export const join = (...parts: string[]): string => parts.join('/').replace(/\/+/g, '/');
