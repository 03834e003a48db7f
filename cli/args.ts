// A small flag parser driven by a table of flag specs: types, defaults, choices and help text in
// one place. Bad input raises UsageError, which the CLI prints as one line and exits with code 2.

export class UsageError extends Error {}

export interface FlagSpec {
  type: 'int' | 'float' | 'string' | 'bool';
  default?: number | string | boolean;
  choices?: readonly string[];
  min?: number;
  help: string;
}

export type Flags = Record<string, number | string | boolean | undefined>;

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Parse `--name value`, `--name=value` and bare `--bool` flags; every flag must be in `specs`. */
export function parseFlags(argv: string[], specs: Record<string, FlagSpec>): Flags {
  const out: Flags = {};
  for (const [name, spec] of Object.entries(specs)) out[camel(name)] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--'))
      throw new UsageError(`unexpected argument '${arg}' (flags start with --; see --help)`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown flag --${name} (see --help)`);
    if (spec.type === 'bool' && inline === undefined) {
      out[camel(name)] = true;
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new UsageError(`flag --${name} needs a value`);
    out[camel(name)] = convert(name, spec, raw);
  }
  return out;
}

function convert(name: string, spec: FlagSpec, raw: string): number | string | boolean {
  if (spec.type === 'bool') {
    if (raw !== 'true' && raw !== 'false')
      throw new UsageError(`--${name} must be true or false, got '${raw}'`);
    return raw === 'true';
  }
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(raw)) {
      throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}, got '${raw}'`);
    }
    return raw;
  }
  const value = Number(raw);
  if (
    raw.trim() === '' ||
    !Number.isFinite(value) ||
    (spec.type === 'int' && !Number.isInteger(value))
  ) {
    throw new UsageError(
      `--${name} must be ${spec.type === 'int' ? 'an integer' : 'a number'}, got '${raw}'`,
    );
  }
  if (spec.min !== undefined && value < spec.min)
    throw new UsageError(`--${name} must be ≥ ${spec.min}, got ${value}`);
  return value;
}

/**
 * The usage, then one line a flag with its choices and default; with `groups` (title → flag
 * names, every flag in one) the flags come under their titles.
 */
export function helpText(
  usage: string,
  specs: Record<string, FlagSpec>,
  groups?: Record<string, readonly string[]>,
): string {
  const row = (name: string) => {
    const s = specs[name];
    const values = s.choices ? ` (${s.choices.join(' | ')})` : '';
    const def = s.default === undefined ? '' : ` [default: ${s.default}]`;
    return `  --${name.padEnd(16)} ${s.help}${values}${def}`;
  };
  if (!groups) return `${usage}\n\n${Object.keys(specs).map(row).join('\n')}\n`;
  const grouped = Object.values(groups).flat();
  const missing = Object.keys(specs).filter((n) => !grouped.includes(n));
  const unknown = grouped.filter((n) => !(n in specs));
  if (missing.length || unknown.length)
    throw new Error(`helpText: ungrouped flags [${missing}], unknown [${unknown}]`);
  const sections = Object.entries(groups).map(([title, names]) =>
    [`${title}:`, ...names.map(row)].join('\n'),
  );
  return `${usage}\n\n${sections.join('\n\n')}\n`;
}
