// What data/char-text.ts imports from node:fs and node:url, in the browser bundle (web/build.ts
// swaps them in for that module only). A page has no files: the shipped corpus is fetched and
// given to CharDataset.fromText. The module still computes its table of shipped corpora when it
// loads, so fileURLToPath answers with the URL's path, and no file ever exists.

export const existsSync = (): boolean => false;

export function readFileSync(path: string): never {
  throw new Error(`no files in a browser ('${path}'): fetch the text, then CharDataset.fromText`);
}

export const fileURLToPath = (url: URL | string): string => new URL(url).pathname;
