// attngrad/data: tasks, corpora and batch streams; depends on lib/ only. The files, in the
// order a run's config meets them:
//   tokens.ts          PAD/BOS/EOS/SEP ids and the Example shape every task shares
//   task.ts            the Task class: options, a private stream, a held-out split by hash
//   toy-tasks.ts       copy, reverse, sort, addition, and makeTask (every task by name)
//   recall.ts          associative recall: two tokens a pair (recall) or one (recall1)
//   even-pairs.ts      first symbol = last symbol? (train short, test long)
//   order-tasks.ts     classification: a before b? a in it? (order vs bag of words)
//   char-text.ts       CharDataset (a corpus as character ids, MASK after them), corpora by name
//   masking.ts         BERT's 15% / 80-10-10 masking for the masked LM
//   repeated-text.ts   windows whose second half repeats the first
//   batches.ts         examples → padded tensors for a seq2seq model or a decoder-only LM
//   stream.ts          the batch of training step s as a pure function of (data seed, s)
//   length-windows.ts  fixed evaluation windows at several lengths, the same targets in each
//   two-hop.ts         copy the first token to the last through an intermediate (sparse attention)
//   pcfg.ts            a small PCFG with gold trees (unsupervised parsing)
//   rng.ts             private streams of the global generator, so data never moves it
//   word-language.ts   a generated word language with known word boundaries (segmentation)
// Read next: toy-tasks.ts.

export * from './tokens.ts';
export * from './toy-tasks.ts';
export { NUM_VALUES } from './recall.ts';
export * from './order-tasks.ts';
export * from './char-text.ts';
export * from './masking.ts';
export * from './repeated-text.ts';
export * from './batches.ts';
export * from './stream.ts';
export * from './length-windows.ts';
export * from './two-hop.ts';
export * from './pcfg.ts';
export { seedStream, withStream, stepSeed } from './rng.ts';
export * from './word-language.ts';
