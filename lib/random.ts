// The one seeded generator behind every random draw in attngrad (xoshiro128**, 32-bit state words).
// Same seed => same numbers, on every machine. getRngState/setRngState let checkpoints resume a
// stream.

let state = new Uint32Array(4);
let spareNormal: number | null = null;

/** splitmix32 spreads one seed over the four state words (xoshiro must not start all-zero). */
export function manualSeed(seed: number): void {
  if (!Number.isFinite(seed))
    throw new Error(`manualSeed: seed must be a finite number, got ${seed}`);
  let s = seed >>> 0;
  for (let i = 0; i < 4; i++) {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    state[i] = (z ^ (z >>> 16)) >>> 0;
  }
  spareNormal = null;
}
manualSeed(0);

function nextUint32(): number {
  const [s0, s1, s2, s3] = state;
  const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
  const t = (s1 << 9) >>> 0;
  state[2] = s2 ^ s0;
  state[3] = s3 ^ s1;
  state[1] = s1 ^ state[2];
  state[0] = s0 ^ state[3];
  state[2] ^= t;
  state[3] = rotl(state[3], 11);
  return result;
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/** Uniform in [0, 1) with 53 random bits. */
export function random(): number {
  return (nextUint32() * 2 ** 21 + (nextUint32() >>> 11)) / 2 ** 53;
}

/** Standard normal by Box–Muller; the second value of each pair is kept for the next call. */
export function randomNormal(): number {
  if (spareNormal !== null) {
    const z = spareNormal;
    spareNormal = null;
    return z;
  }
  const u = 1 - random(); // (0, 1]: log(u) is finite
  const v = random();
  const r = Math.sqrt(-2 * Math.log(u));
  spareNormal = r * Math.sin(2 * Math.PI * v);
  return r * Math.cos(2 * Math.PI * v);
}

/** Uniform integer in [low, high). */
export function randomInt(low: number, high: number): number {
  return low + Math.floor(random() * (high - low));
}

export interface RngState {
  words: number[];
  spareNormal: number | null;
}

export function getRngState(): RngState {
  return { words: [...state], spareNormal };
}

export function setRngState(s: RngState): void {
  if (!Array.isArray(s?.words) || s.words.length !== 4) {
    throw new Error(`setRngState: expected {words: [4 numbers]}, got ${JSON.stringify(s)}`);
  }
  state = Uint32Array.from(s.words);
  spareNormal = s.spareNormal ?? null;
}
