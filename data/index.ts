// attngrad/data: tasks, corpora and batch streams; depends on lib/ only. The files, in the
// order a run's config meets them:
//   tokens.ts      PAD/BOS/EOS/SEP ids and the Example shape every task shares
//   toy-tasks.ts   copy, reverse, sort, addition, recall (seeded, with a held-out split)
//   char-text.ts   CharDataset (a corpus as character ids) and the shipped corpora by name
//   batches.ts     examples → padded tensors for a seq2seq model or a decoder-only LM
//   stream.ts      the batch of training step s as a pure function of (data seed, s)
//   rng.ts         private streams of the global generator, so data never moves it
// Read next: toy-tasks.ts.

export * from './tokens.ts';
export * from './toy-tasks.ts';
export * from './char-text.ts';
export * from './batches.ts';
export * from './stream.ts';
export { seedStream, withStream, stepSeed } from './rng.ts';
