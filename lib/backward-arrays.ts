// Which of backward's arrays are still in use, so the dead ones go back to the storage pool at
// once and the rest of the walk reuses them. Every array the walk makes is a gradient or a vjp's
// temporary; after a node's step it is reachable only through a pending gradient (the walk's Map:
// add passes dy on to both inputs, reshape shares its buffer) or a leaf's .grad. So after each step
// the arrays it made, the gradient it consumed, and any pending gradient it replaced are released
// unless a pending gradient or a leaf still holds their buffer. Read next: storage-pool.ts.

import type { TypedArray } from './dtype.ts';
import type { Tensor } from './tensor.ts';
import { recordAllocations, release } from './storage-pool.ts';

export class BackwardArrays {
  private made = new Map<ArrayBufferLike, TypedArray>(); // every array the walk made
  private pending = new Map<ArrayBufferLike, number>(); // pending gradients on each buffer
  private kept = new Set<ArrayBufferLike>(); // the leaves' .grad

  /** Run one node's step, noting the arrays it makes. */
  step(fn: () => void): void {
    for (const a of recordAllocations(fn)[1]) this.made.set(a.buffer, a);
  }

  /** A gradient joins the pending Map. */
  hold(g: Tensor): void {
    const b = g.data.buffer;
    this.pending.set(b, (this.pending.get(b) ?? 0) + 1);
  }

  /** A gradient leaves the pending Map (consumed, or replaced by a sum). */
  drop(g: Tensor): void {
    const b = g.data.buffer;
    this.pending.set(b, this.pending.get(b)! - 1);
  }

  /** Whether only `g` holds its array: the walk made it and no pending gradient shares it. */
  owns(g: Tensor): boolean {
    const b = g.data.buffer;
    return this.made.has(b) && (this.pending.get(b) ?? 0) === 0;
  }

  /** A leaf's .grad: never released. */
  keep(leaf: Tensor): void {
    this.kept.add(leaf.grad!.data.buffer);
  }

  /** Release every array the walk made that nothing pending or kept holds. */
  sweep(): void {
    const dead: TypedArray[] = [];
    for (const [b, a] of this.made) {
      if ((this.pending.get(b) ?? 0) > 0) continue;
      if (!this.kept.has(b)) dead.push(a);
      this.made.delete(b);
    }
    release(dead);
  }
}
