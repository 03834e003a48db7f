// Learning-rate schedules: functions from the step to the learning rate. Steps count from 1 (the
// step about to be taken), so a training loop does `optimizer.lr = schedule(step)` before step().
// makeSchedule builds one from a name, for the CLI. Read next: losses.ts.

export type Schedule = (step: number) => number;

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 1)
    throw new Error(`schedule: step must be an integer ≥ 1 (steps count from 1), got ${step}`);
}
function check(who: string, key: string, value: number, ok: boolean, need: string): void {
  if (!ok) throw new Error(`${who}: ${key} must be ${need}, got ${value}`);
}
const checkLr = (who: string, lr: number) =>
  check(who, 'lr', lr, lr >= 0 && Number.isFinite(lr), 'a finite number ≥ 0');
const checkCount = (who: string, key: string, n: number, min: number) =>
  check(who, key, n, Number.isInteger(n) && n >= min, `an integer ≥ ${min}`);

export function constantLr(lr: number): Schedule {
  checkLr('constantLr', lr);
  return (step) => (checkStep(step), lr);
}

/** lr·min(1, step / warmupSteps): a straight ramp up to lr, then flat. */
export function linearWarmup(lr: number, warmupSteps: number): Schedule {
  checkLr('linearWarmup', lr);
  checkCount('linearWarmup', 'warmupSteps', warmupSteps, 0);
  return (step) => (checkStep(step), step < warmupSteps ? (lr * step) / warmupSteps : lr);
}

/**
 * Linear warmup to lr, then half a cosine down to minLr at totalSteps, and minLr after:
 * lr(t) = minLr + (lr − minLr)·½(1 + cos(π·(t − warmup) / (total − warmup))).
 */
export function cosineWithWarmup(
  lr: number,
  warmupSteps: number,
  totalSteps: number,
  minLr = 0,
): Schedule {
  const who = 'cosineWithWarmup';
  checkLr(who, lr);
  checkCount(who, 'warmupSteps', warmupSteps, 0);
  checkCount(who, 'totalSteps', totalSteps, warmupSteps + 1);
  check(who, 'minLr', minLr, minLr >= 0 && minLr <= lr, `in [0, lr = ${lr}]`);
  return (step) => {
    checkStep(step);
    if (step < warmupSteps) return (lr * step) / warmupSteps;
    const progress = Math.min(1, (step - warmupSteps) / (totalSteps - warmupSteps));
    return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/**
 * "Noam", from Attention Is All You Need (§5.3): lr(t) = factor·d^−½·min(t^−½, t·warmup^−3/2).
 * It rises linearly for warmupSteps, peaks at t = warmupSteps, then decays as 1/√t.
 */
export function inverseSqrt(dModel: number, warmupSteps: number, factor = 1): Schedule {
  checkCount('inverseSqrt', 'dModel', dModel, 1);
  checkCount('inverseSqrt', 'warmupSteps', warmupSteps, 1);
  check(
    'inverseSqrt',
    'factor',
    factor,
    factor >= 0 && Number.isFinite(factor),
    'a finite number ≥ 0',
  );
  return (step) => (
    checkStep(step),
    factor * dModel ** -0.5 * Math.min(step ** -0.5, step * warmupSteps ** -1.5)
  );
}

export const scheduleNames = ['constant', 'warmup', 'cosine', 'noam'] as const;
export type ScheduleName = (typeof scheduleNames)[number];

export interface ScheduleOptions {
  lr?: number;
  warmupSteps?: number;
  totalSteps?: number;
  minLr?: number;
  dModel?: number;
  factor?: number;
}

/**
 * A schedule by name: constant {lr}, warmup {lr, warmupSteps}, cosine {lr, totalSteps, warmupSteps
 * = 0, minLr = 0}, noam {dModel, warmupSteps, factor = 1}.
 */
export function makeSchedule(
  name: ScheduleName | (string & {}),
  opts: ScheduleOptions = {},
): Schedule {
  const need = (key: keyof ScheduleOptions): number => {
    const v = opts[key];
    if (v === undefined)
      throw new Error(`makeSchedule: the '${name}' schedule needs the option ${key}`);
    return v;
  };
  switch (name) {
    case 'constant':
      return constantLr(need('lr'));
    case 'warmup':
      return linearWarmup(need('lr'), need('warmupSteps'));
    case 'cosine':
      return cosineWithWarmup(need('lr'), opts.warmupSteps ?? 0, need('totalSteps'), opts.minLr);
    case 'noam':
      return inverseSqrt(need('dModel'), need('warmupSteps'), opts.factor);
    default:
      throw new Error(
        `makeSchedule: unknown schedule '${name}' (expected one of ${scheduleNames.join(', ')})`,
      );
  }
}
