// The token conventions every task shares, and the one shape of an example: an input and the
// answer the model must give. Read next: toy-tasks.ts (tasks that make examples), batches.ts
// (examples → padded tensors).

export const PAD = 0,
  BOS = 1,
  EOS = 2,
  SEP = 3,
  FIRST_SYMBOL = 4;
export const IGNORE_INDEX = -100; // crossEntropy skips targets equal to this
export const SPECIAL_NAMES = ['PAD', 'BOS', 'EOS', 'SEP'];

export interface Example {
  input: number[];
  output: number[];
}
