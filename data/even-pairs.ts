// Even pairs (Delétang et al. 2023, "Neural Networks and the Chomsky Hierarchy"): a sequence over
// a small alphabet, labelled by whether its first symbol equals its last (for a binary string:
// whether the number of ab and ba pairs is even). It needs a view of both ends at once, so a model
// that sees only a window fails at lengths past it: train at length ≤ 32, test at ≤ 256
// (testMinLen / testMaxLen). The two labels are equally likely for any alphabet size, so chance is
// 1/2. Read next: char-text.ts (text), or stream.ts (batches).

import { random, randomInt } from '../lib/random.ts';
import { FIRST_SYMBOL } from './tokens.ts';
import { lengthFor, letter, Task, type TaskOptions } from './task.ts';

/** even-pairs   a b b a → =   a b b b → ≠ */
export function evenPairsTask(options: Required<TaskOptions>): Task {
  const { numSymbols, minLen, testMinLen } = options;
  if (numSymbols < 2) {
    throw new Error(`makeTask: even-pairs needs numSymbols ≥ 2, got ${numSymbols}`);
  }
  if (Math.min(minLen, testMinLen) < 2) {
    const got = `got minLen ${minLen}, testMinLen ${testMinLen}`;
    throw new Error(`makeTask: even-pairs needs sequences of length ≥ 2, ${got}`);
  }
  const letters = Array.from({ length: numSymbols }, (_, i) => letter(i));
  const same = FIRST_SYMBOL + numSymbols,
    differ = same + 1;
  return new Task('even-pairs', options, [...letters, '=', '≠'], (split) => {
    const length = lengthFor(split, options);
    const input = Array.from({ length }, () => FIRST_SYMBOL + randomInt(0, numSymbols));
    const equal = random() < 0.5; // the label first, so both are equally likely
    const shift = equal ? 0 : 1 + randomInt(0, numSymbols - 1); // another symbol, uniformly
    input[length - 1] = FIRST_SYMBOL + ((input[0] - FIRST_SYMBOL + shift) % numSymbols);
    return { input, output: [equal ? same : differ] };
  });
}
