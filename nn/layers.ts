// Layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout, ModuleList, Sequential. Each holds its
// parameters as fields (found by Module) and has forward(). Read next: optim.ts.

import {
  dropout,
  layerNorm,
  linear,
  ones,
  rmsNorm,
  zeros,
  type Activation,
  type Tensor,
} from '../lib/index.ts';
import * as init from './init.ts';
import { Module } from './module.ts';

function checkPositiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`${op}: ${name} must be a positive integer, got ${v}`);
}

/**
 * y = x·Wᵀ + b, W of shape (out, in) as in PyTorch; init U(±1/√in) like torch.nn.Linear.
 * forward(x, 'relu') is relu(x·Wᵀ + b) in one fused op (an FFN's first layer).
 */
export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true } = {},
  ) {
    super();
    checkPositiveInt('Linear', 'inFeatures', inFeatures);
    checkPositiveInt('Linear', 'outFeatures', outFeatures);
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = init.uniform(zeros([outFeatures, inFeatures]), -bound, bound).requiresGrad_();
    this.bias = bias ? init.uniform(zeros([outFeatures]), -bound, bound).requiresGrad_() : null;
  }
  forward(x: Tensor, activation: Activation = 'none'): Tensor {
    return linear(x, this.weight, this.bias, activation);
  }
}

/** A lookup table: row ids[i] of the weight (numEmbeddings, dim), init N(0, 1). */
export class Embedding extends Module {
  weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
  ) {
    super();
    checkPositiveInt('Embedding', 'numEmbeddings', numEmbeddings);
    checkPositiveInt('Embedding', 'embeddingDim', embeddingDim);
    this.weight = init.normal(zeros([numEmbeddings, embeddingDim])).requiresGrad_();
  }
  forward(ids: Tensor): Tensor {
    const rows = this.weight.indexSelect(0, ids.reshape([-1])); // (N, dim)
    return rows.reshape([...ids.shape, this.embeddingDim]); // (...ids, dim)
  }
}

export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
    { elementwiseAffine = true, bias = true } = {},
  ) {
    super();
    checkPositiveInt('LayerNorm', 'dim', dim);
    this.weight = elementwiseAffine ? ones([dim], { requiresGrad: true }) : null;
    this.bias = elementwiseAffine && bias ? zeros([dim], { requiresGrad: true }) : null;
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class RMSNorm extends Module {
  weight: Tensor | null;
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
    { elementwiseAffine = true } = {},
  ) {
    super();
    checkPositiveInt('RMSNorm', 'dim', dim);
    this.weight = elementwiseAffine ? ones([dim], { requiresGrad: true }) : null;
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.1) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

/** A list of modules whose parameters are registered as `name.0`, `name.1`, ... */
export class ModuleList<M extends Module = Module> extends Module {
  items: M[];
  constructor(items: M[] = []) {
    super();
    this.items = items;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    return this.items[i];
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
  // named by position, as in PyTorch: `blocks.0.attn...`
  protected override children(): [string, Module][] {
    return this.items.map((m, i) => [String(i), m]);
  }
}

interface Forward {
  forward(x: Tensor): Tensor;
}

/** Modules applied one after another. */
export class Sequential extends Module {
  layers: (Module & Forward)[];
  constructor(...layers: (Module & Forward)[]) {
    super();
    this.layers = layers;
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, layer) => layer.forward(h), x);
  }
  protected override children(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }
}
