// Bad input gives a clear Error naming the op and the shapes or values, never a NaN or a wrong
// read.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  cat,
  crossEntropy,
  gather,
  indexSelect,
  layerNorm,
  matmul,
  ones,
  randn,
  stack,
  tensor,
  zeros,
} from '../lib/index.ts';

const ids = (v: number[], shape = [v.length]) => tensor(new Int32Array(v), { shape });

const cases: [string, () => unknown, RegExp][] = [
  [
    'matmul inner dims',
    () => matmul(zeros([2, 3]), zeros([4, 5])),
    /^matmul: shapes \[2,3\] and \[4,5\] are not compatible \(3 != 4\)/,
  ],
  [
    'matmul batch dims',
    () => matmul(zeros([2, 3, 4]), zeros([3, 4, 5])),
    /matmul: shapes \[2\] and \[3\] cannot be broadcast/,
  ],
  ['matmul scalar', () => matmul(tensor(1), zeros([2])), /matmul: scalars are not matrices/],
  [
    'matmul transB of a vector',
    () => matmul(zeros([2, 3]), zeros([3]), { transB: true }),
    /^matmul: transA \/ transB need an operand of 2\+ dims, got shapes \[2,3\] and \[3\] with transA false, transB true/,
  ],
  [
    'matmul transB inner dims',
    () => matmul(zeros([2, 3]), zeros([3, 4]), { transB: true }),
    /^matmul: shapes \[2,3\] and \[3,4\]ᵀ are not compatible \(3 != 4\)/,
  ],
  [
    'add broadcast',
    () => zeros([2, 3]).add(zeros([4])),
    /add: shapes \[2,3\] and \[4\] cannot be broadcast/,
  ],
  [
    'dtype mismatch',
    () => zeros([2]).add(zeros([2], { dtype: 'float64' })),
    /add: dtype mismatch \(float32 \[2\] vs float64 \[2\]\)/,
  ],
  [
    'backward non-scalar',
    () => zeros([2], { requiresGrad: true }).mul(2).backward(),
    /backward: a gradient can be created implicitly only for a scalar output; got shape \[2\]/,
  ],
  [
    'backward seed shape',
    () =>
      zeros([2], { requiresGrad: true })
        .mul(2)
        .backward(zeros([3])),
    /backward: seed gradient shape \[3\] does not match the output shape \[2\]/,
  ],
  [
    'gather out of range',
    () => gather(zeros([2, 3]), 1, ids([0, 3], [2, 1])),
    /gather: index 3 is out of range for a dim of size 3/,
  ],
  [
    'gather negative',
    () => gather(zeros([2, 3]), 1, ids([-1, 0], [2, 1])),
    /gather: index -1 is out of range/,
  ],
  [
    'gather index dtype',
    () => gather(zeros([2, 3]), 1, zeros([2, 1])),
    /gather: index must have dtype int32, got float32/,
  ],
  [
    'indexSelect out of range',
    () => indexSelect(zeros([4, 2]), 0, ids([4])),
    /indexSelect: index 4 is out of range for a dim of size 4/,
  ],
  [
    'crossEntropy target range',
    () => crossEntropy(zeros([2, 5]), ids([1, 5])),
    /crossEntropy: target 5 at position 1 is out of range for 5 classes/,
  ],
  [
    'crossEntropy shapes',
    () => crossEntropy(zeros([2, 5]), ids([1, 2, 3])),
    /crossEntropy: logits \[2,5\] need shape \[...targets, C\] for targets \[3\]/,
  ],
  [
    'crossEntropy target dtype',
    () => crossEntropy(zeros([2, 5]), zeros([2])),
    /crossEntropy: targets must have dtype int32/,
  ],
  [
    'reshape size',
    () => zeros([2, 3]).reshape([4, 2]),
    /reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,2\]/,
  ],
  ['reshape two -1', () => zeros([2, 3]).reshape([-1, -1]), /reshape: invalid shape/],
  [
    'dim out of range',
    () => zeros([2, 3]).sum(2),
    /sum: dim 2 is out of range for a tensor of 2 dims/,
  ],
  [
    'permute not a permutation',
    () => zeros([2, 3]).permute([0, 0]),
    /permute: dims \[0,0\] are not a permutation/,
  ],
  ['expand', () => zeros([2, 3]).expand([4, 3]), /expand: cannot expand shape \[2,3\] to \[4,3\]/],
  [
    'cat shapes',
    () => cat([zeros([2, 3]), zeros([3, 3])], 1),
    /cat: shapes \[2,3\], \[3,3\] differ outside dim 1/,
  ],
  ['stack shapes', () => stack([zeros([2]), zeros([3])]), /stack: all tensors must have one shape/],
  [
    'layerNorm weight',
    () => layerNorm(zeros([2, 4]), ones([3])),
    /layerNorm: weight must have shape \[4\].*got \[3\]/,
  ],
  ['ragged tensor', () => tensor([[1, 2], [3]]), /tensor: /],
  ['item of many', () => zeros([2]).item(), /item: only a one-element tensor/],
  [
    'int requiresGrad',
    () => zeros([2], { dtype: 'int32', requiresGrad: true }),
    /only float tensors can require grad/,
  ],
  ['bad shape', () => zeros([2, -1]), /zeros: shape must be a list of non-negative integers/],
  [
    'narrow past the end',
    () => randn([3]).narrow(0, 2, 2),
    /narrow: start 2 \+ length 2 exceeds dim 0 of size 3/,
  ],
  [
    'pow tensor exponent',
    () => randn([3]).pow(randn([3]) as unknown as number),
    /pow: the exponent must be a number/,
  ],
  [
    'scatterAdd index past the input',
    () => zeros([2, 3]).scatterAdd(0, ids([0, 1, 0, 1], [1, 4]), zeros([1, 4])),
    /^scatterAdd: input \[2,3\], index \[1,4\] and src \[1,4\] do not fit/,
  ],
  [
    'scatterAdd src smaller than index',
    () => zeros([2, 3]).scatterAdd(1, ids([0, 1], [1, 2]), zeros([1, 1])),
    /^scatterAdd: input \[2,3\], index \[1,2\] and src \[1,1\] do not fit/,
  ],
  [
    'scatterAdd index range',
    () => zeros([2, 3]).scatterAdd(0, ids([2], [1, 1]), zeros([1, 1])),
    /^scatterAdd: index 2 is out of range for a dim of size 2/,
  ],
  [
    'indexAdd source shape',
    () => zeros([4, 2]).indexAdd(0, ids([0, 1]), zeros([3, 2])),
    /^indexAdd: source \[3,2\] must have shape \[2,2\] \(input \[4,2\], dim 0, index of length 2\)/,
  ],
  [
    'indexAdd index range',
    () => zeros([4, 2]).indexAdd(1, ids([2]), zeros([4, 1])),
    /^indexAdd: index 2 is out of range for a dim of size 2/,
  ],
  [
    'sliceScatter src shape',
    () => zeros([4, 5]).sliceScatter(zeros([3, 5]), 0, 1, 3),
    /^sliceScatter: src \[3,5\] does not match the slice \[2,5\] of input \[4,5\] \(dim 0, start 1, end 3, step 1\)/,
  ],
];

for (const [name, fn, message] of cases) {
  test(`error: ${name}`, () => {
    assert.throws(fn, (e: Error) => e instanceof Error && message.test(e.message));
  });
}

test.run();
