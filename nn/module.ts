// Module: the base of every layer and model. Parameters are found by walking the object's fields:
// a Tensor that requires grad is a parameter, any other Tensor is a buffer (saved, not trained),
// and Modules and arrays of them are walked recursively with dotted names
// (`blocks.0.attn.qkv.weight`).
// Read next: layers.ts.

import { noGrad, Tensor as TensorClass, type DType, type Tensor } from '../lib/index.ts';

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

export class Module {
  training = true;

  /** Direct children: [name, Tensor | Module] for each field, arrays flattened to `name.i`. */
  protected children(): [string, Tensor | Module][] {
    const out: [string, Tensor | Module][] = [];
    const visit = (name: string, value: unknown) => {
      if (value instanceof TensorClass || value instanceof Module) out.push([name, value]);
      else if (Array.isArray(value)) value.forEach((v, i) => visit(`${name}.${i}`, v));
    };
    for (const [name, value] of Object.entries(this)) visit(name, value);
    return out;
  }

  /**
   * Every tensor of the module tree with its dotted name; `trainable` picks parameters or buffers.
   */
  namedTensors(prefix = '', trainable?: boolean): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, child] of this.children()) {
      const full = prefix ? `${prefix}.${name}` : name;
      if (child instanceof Module) out.push(...child.namedTensors(full, trainable));
      else if (trainable === undefined || child.requiresGrad === trainable) out.push([full, child]);
    }
    return out;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    return this.namedTensors(prefix, true);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.children()) {
      if (child instanceof Module)
        out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    }
    return out;
  }

  /** Training mode on (dropout active) or off, for the whole tree. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Parameters and buffers by dotted name. The tensors are the module's own (not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedTensors());
  }

  /**
   * Copy values into the module's tensors. Every key and shape is checked before anything is
   * written, so a bad state dict leaves the module as it was.
   */
  loadStateDict(state: Record<string, Tensor>, { strict = true } = {}): void {
    const own = this.stateDict();
    const missing = Object.keys(own).filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !(k in own));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      throw new Error(
        `loadStateDict: missing keys [${missing.join(', ')}], unexpected keys ` +
          `[${unexpected.join(', ')}]`,
      );
    }
    for (const [key, t] of Object.entries(own)) {
      const src = state[key];
      if (!src) continue;
      if (fmt(src.shape) !== fmt(t.shape)) {
        throw new Error(
          `loadStateDict: shape mismatch for '${key}': the module has ${fmt(t.shape)}, the state ` +
            `dict ${fmt(src.shape)}`,
        );
      }
      if (src.dtype !== t.dtype) {
        throw new Error(
          `loadStateDict: dtype mismatch for '${key}': the module has ${t.dtype}, the state dict ` +
            `${src.dtype}`,
        );
      }
    }
    noGrad(() => {
      for (const [key, t] of Object.entries(own)) if (state[key]) t.data.set(state[key].data);
    });
  }

  /** Convert every tensor field of the tree to `dtype` in place (float64 for gradient checks). */
  to(dtype: DType): this {
    for (const [, m] of this.namedModules()) {
      // only float tensors of another dtype change (int32 ids stay ids); build optimizers after
      // to()
      const convert = (v: unknown): unknown =>
        v instanceof TensorClass && v.dtype !== dtype && v.dtype !== 'int32'
          ? v.to(dtype).detach().requiresGrad_(v.requiresGrad)
          : Array.isArray(v)
            ? v.map(convert)
            : v;
      for (const [key, value] of Object.entries(m))
        (m as unknown as Record<string, unknown>)[key] = convert(value);
    }
    return this;
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }
}
