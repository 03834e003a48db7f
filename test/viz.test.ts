// `attngrad viz`: the maps drawn are the model's own weights (every unmasked row of a softmax map
// sums to 1, masked cells are the causal future and the padding), one panel per layer × head for
// a tiny seq2seq (self and cross) and a tiny LM, a char model reads --text as plain text, a toy
// LM continues its prompt, an out-of-vocabulary token is one line naming it, linear attention is
// drawn from its implied weights, FLASH is named in one line, and the spawned CLI writes the SVG.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed } from '../lib/index.ts';
import { saveCheckpoint } from '../nn/checkpoint.ts';
import { parseFlags, UsageError } from '../cli/args.ts';
import { buildModel } from '../cli/build.ts';
import { runConfigFrom, trainFlags, type RunConfig } from '../cli/flags.ts';
import { makeSource, type Model } from '../cli/sources.ts';
import {
  attentionMaps,
  mapsSvg,
  parseInput,
  runViz,
  vocabularyOf,
  type AttentionMap,
} from '../cli/viz.ts';
import { heatmapGridSvg } from '../report/heatmap.ts';

const words = (line: string) => line.split(' ');
const tiny = '--layers 2 --heads 2 --d-model 16 --ffn 32';
// a small corpus: char models build in milliseconds (shakespeare takes ~1 s to index, twice)
const corpus = join(mkdtempSync(join(tmpdir(), 'attngrad-viz-text-')), 'hamlet.txt');
writeFileSync(corpus, 'To be, or not to be, that is the question.\n'.repeat(40));
const text = `--task text --data ${corpus} --block-size 16`;

/** A freshly initialised model for a command line of train flags, and its config. */
function built(flags: string): { model: Model; config: RunConfig } {
  manualSeed(0);
  const config = runConfigFrom(parseFlags(words(flags), trainFlags));
  return { model: buildModel(config, makeSource(config)), config };
}

/** The maps of a model on an input written as on the command line. */
function mapsOf(flags: string, input: string) {
  const { model, config } = built(flags);
  const vocab = vocabularyOf(config);
  return { ...attentionMaps(model, vocab, parseInput(vocab, input, 'src')), config };
}

const titles = (svg: string) => [...svg.matchAll(/>((?:enc |dec )?layer \d+ head \d+ \w+)/g)];

/** Every row: masked cells hold 0, the others sum to 1 (a fully masked row is padding). */
function checkRows(m: AttentionMap, tolerance = 1e-5): void {
  const [T, S] = [m.queries.length, m.keys.length];
  for (let t = 0; t < T; t++) {
    const row = Array.from(m.weights.subarray(t * S, (t + 1) * S));
    const hidden = Array.from(m.masked.subarray(t * S, (t + 1) * S));
    if (hidden.every(Boolean)) continue;
    const open = row.filter((_, s) => !hidden[s]);
    assert.ok(
      row.every((w, s) => !hidden[s] || Math.abs(w) < 1e-7),
      `${m.title} row ${t}: weight on a masked key`,
    );
    const sum = open.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < tolerance, `${m.title} row ${t} sums to ${sum}`);
  }
}

test('seq2seq: enc self, dec self and cross per layer × head; rows sum to 1; PAD and the future masked', () => {
  const { maps, undrawable, config } = mapsOf(
    `--model seq2seq --task reverse ${tiny}`,
    'c j b PAD',
  );
  assert.equal(undrawable, []);
  assert.equal(
    maps.map((r) => r.map((m) => m.title)),
    [
      ['enc layer 1 head 1 self', 'enc layer 1 head 2 self'],
      ['enc layer 2 head 1 self', 'enc layer 2 head 2 self'],
      ['dec layer 1 head 1 self', 'dec layer 1 head 2 self'],
      ['dec layer 1 head 1 cross', 'dec layer 1 head 2 cross'],
      ['dec layer 2 head 1 self', 'dec layer 2 head 2 self'],
      ['dec layer 2 head 1 cross', 'dec layer 2 head 2 cross'],
    ],
  );
  for (const m of maps.flat()) checkRows(m);
  const [enc, decSelf, cross] = [maps[0][0], maps[2][0], maps[3][0]];
  assert.equal(enc.keys, ['c', 'j', 'b', 'PAD']);
  assert.equal(Array.from(enc.masked.subarray(0, 4)), [0, 0, 0, 1], 'the PAD key');
  assert.equal(Array.from(enc.masked.subarray(12, 16)), [1, 1, 1, 1], 'the PAD query');
  assert.equal(cross.keys, enc.keys);
  assert.is(decSelf.queries[0], 'BOS');
  const T = decSelf.queries.length;
  decSelf.masked.forEach((hidden, k) => {
    assert.is(hidden, k % T > Math.floor(k / T) ? 1 : 0, `causal mask at ${k}`);
  });
  const svg = mapsSvg(config, { maps, undrawable, input: '' });
  assert.is(titles(svg).length, 12);
  assert.ok(svg.includes('url(#masked)'), 'masked cells drawn hatched');
});

test('char LM: --text is plain text, one map per layer × head, causal, rows sum to 1', () => {
  const { maps, config, input } = mapsOf(`--model lm ${text} ${tiny}`, 'To be, or');
  assert.is(input, '"To be, or"');
  assert.equal(maps[0][0].queries, ['T', 'o', '␣', 'b', 'e', ',', '␣', 'o', 'r']);
  assert.equal(
    maps.flat().map((m) => m.title),
    ['layer 1 head 1 self', 'layer 1 head 2 self', 'layer 2 head 1 self', 'layer 2 head 2 self'],
  );
  for (const m of maps.flat()) {
    checkRows(m);
    assert.is(m.weights[1], 0, 'query 0 sees key 1');
  }
  assert.is(titles(mapsSvg(config, { maps, undrawable: [], input })).length, 4);
});

test('masked LM: bidirectional maps (nothing masked), █ in --text is the MASK token', () => {
  const { maps } = mapsOf(`--model mlm ${text} ${tiny}`, 'to █e');
  assert.equal(maps[0][0].queries, ['t', 'o', '␣', '█', 'e']);
  for (const m of maps.flat()) {
    checkRows(m);
    assert.ok(m.masked.every((x) => x === 0) && m.weights[4] > 0, 'query 0 sees key 4');
  }
});

test('toy-task LM: the prompt is the input and SEP, continued greedily', () => {
  const { maps } = mapsOf(`--model lm --task reverse ${tiny}`, 'a b c');
  const seen = maps[0][0].queries;
  assert.equal(seen.slice(0, 4), ['a', 'b', 'c', 'SEP']);
  assert.ok(seen.length > 4 && !seen.includes('EOS'), `sequence ${seen}`);
});

test('an out-of-vocabulary token or character is one UsageError line naming it', () => {
  const toy = vocabularyOf(built(`--model seq2seq --task reverse ${tiny}`).config);
  const chars = vocabularyOf(built(`--model lm ${text} ${tiny}`).config);
  for (const [vocab, input, token] of [
    [toy, 'c j zz b', '"zz"'],
    [chars, 'To be ∑', '"∑"'],
  ] as const) {
    try {
      parseInput(vocab, input, 'src');
      assert.unreachable('accepted');
    } catch (e) {
      assert.instance(e, UsageError);
      const message = (e as Error).message;
      assert.ok(message.includes(token) && !message.includes('\n'), message);
    }
  }
});

test('linear attention: its implied weights are drawn (rows sum to 1); FLASH: one line, no map', () => {
  const linear = mapsOf(`--model lm ${text} ${tiny} --attention linear`, 'to be or');
  assert.is(linear.maps.flat().length, 4);
  for (const m of linear.maps.flat()) checkRows(m, 1e-4);
  assert.match(mapsSvg(linear.config, linear), /weights it applies, φ\(q\)·φ\(k\)\/Σ/);
  const flash = mapsOf(`--model lm ${text} ${tiny} --attention flash`, 'to be or');
  assert.equal(flash.maps, []);
  assert.is(flash.undrawable.length, 1);
  assert.match(flash.undrawable[0], /cannot draw the model's self-attention \(flash\): FLASH/);
  const crossOnly = mapsOf(`--model seq2seq --task reverse ${tiny} --attention flash`, 'a b');
  assert.equal(
    crossOnly.maps.map((r) => r[0].title),
    ['dec layer 1 head 1 cross', 'dec layer 2 head 1 cross'],
  );
  assert.match(crossOnly.undrawable.join('|'), /^cannot draw the encoder's and the decoder's/);
});

test('GAU: relu²/n weights, each panel scaled to its own max (in its title)', () => {
  const gau = mapsOf(`--model lm ${text} ${tiny} --attention gau`, 'the');
  assert.ok(gau.maps.flat().every((m) => !m.distribution));
  const top = Math.max(...gau.maps[0][0].weights);
  assert.ok(
    mapsSvg(gau.config, gau).includes(`layer 1 head 1 self (max ${Number(top.toPrecision(3))})`),
  );
});

test('heatmapGridSvg checks each panel against its labels', () => {
  const panel = { title: 'p', rows: ['a', 'b'], cols: ['x'], values: [0.5] };
  assert.throws(
    () => heatmapGridSvg('t', [[panel]]),
    /panel 'p' values has 1 entries, expected 2 × 1 = 2/,
  );
});

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [join(repo, 'bin/attngrad.mjs'), 'viz', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ATTNGRAD_THREADS: '1' },
  });

test('the CLI: writes the SVG beside the checkpoint; an OOV token and FLASH are one line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-viz-'));
  for (const [name, flags] of [
    ['s2s', `--model seq2seq --task reverse ${tiny}`],
    ['flash', `--model lm ${text} ${tiny} --attention flash`],
  ]) {
    const { model, config } = built(flags);
    saveCheckpoint(join(dir, `${name}.safetensors`), { model, step: 0, config });
  }
  const ok = cli('--checkpoint', join(dir, 's2s.safetensors'), '--src', 'c j b e b');
  assert.is(ok.status, 0, ok.stderr);
  assert.is(titles(readFileSync(join(dir, 'attention-map.svg'), 'utf8')).length, 12);
  const oov = cli('--checkpoint', join(dir, 's2s.safetensors'), '--src', 'c q7 b');
  assert.is(oov.status, 2);
  assert.match(oov.stderr, /^attngrad: --src: "q7" is not in the model's vocabulary \([^\n]*\)\n$/);
  const flash = cli('--checkpoint', join(dir, 'flash.safetensors'), '--text', 'to be');
  assert.is(flash.status, 2);
  assert.match(
    flash.stderr,
    /^attngrad: cannot draw the model's self-attention \(flash\)[^\n]*\n$/,
  );
});

test('runViz: exactly one of --src and --text', () => {
  const load = () => built(`--model seq2seq --task reverse ${tiny}`);
  assert.throws(() => runViz(['--checkpoint', 'x'], load), /--src "…" or --text "…"/);
  assert.throws(() => runViz(words('--src a --text b'), load), /one of them/);
});

test.run();
