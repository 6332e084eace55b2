// Command-line flags generated from a zod object schema, so a flag cannot drift from the config it
// sets: one option per key, named after it (batchSize -> --batch-size), with the field's
// `.describe()` as help, its default shown in help, and a value parser made from the field's type
// and checks (z.number().int().positive() refuses "0" and "abc" on the command line, naming the flag).
//
// Commander never applies the schema's defaults: a flag that was not given is absent from the
// parsed options, so a config file's value is not overridden by a default; the schema applies its
// defaults when the merged config is parsed.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { type ArgParser, choiceArg, intArg, listArg, numberArg, tupleArg } from './args.js';

/** A z.object(...), possibly under .refine()/.superRefine()/.transform(). */
export type ObjectSchema = z.AnyZodObject | z.ZodEffects<z.ZodTypeAny, unknown, unknown>;

export interface SchemaOptionsConfig {
  /** Only these keys get an option. */
  readonly only?: readonly string[];
  /** These keys get no option (the command adds its own, or they are config-file only). */
  readonly omit?: readonly string[];
  /** Flags for a key instead of the kebab-case long flag, e.g. { batchSize: '-b, --batch-size' }. */
  readonly names?: Readonly<Record<string, string>>;
  /** Help text for a key instead of its `.describe()`. */
  readonly help?: Readonly<Record<string, string>>;
}

/** batchSize -> batch-size, top5Acc -> top5-acc. */
export function kebabCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

function objectShape(schema: ObjectSchema): z.ZodRawShape {
  let t: z.ZodTypeAny = schema;
  while (t instanceof z.ZodEffects) t = t.innerType();
  if (!(t instanceof z.ZodObject)) throw new TypeError('schema options need a z.object() schema');
  return t.shape as z.ZodRawShape;
}

/** A field without its wrappers: the type that says how to parse it, its help text and default. */
interface Field {
  readonly type: z.ZodTypeAny;
  readonly description: string | undefined;
  readonly hasDefault: boolean;
  readonly defaultValue: unknown;
}

function unwrapField(schema: z.ZodTypeAny): Field {
  let t = schema;
  let description: string | undefined;
  let hasDefault = false;
  let defaultValue: unknown;
  for (;;) {
    // The outermost description and default are the ones the schema reports and applies.
    description ??= t.description;
    if (t instanceof z.ZodDefault) {
      if (!hasDefault) {
        hasDefault = true;
        defaultValue = (t._def as z.ZodDefaultDef).defaultValue();
      }
      t = (t._def as z.ZodDefaultDef).innerType;
    } else if (t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t.unwrap() as z.ZodTypeAny;
    else if (t instanceof z.ZodEffects) t = t.innerType() as z.ZodTypeAny;
    else if (t instanceof z.ZodBranded) t = t.unwrap() as z.ZodTypeAny;
    else if (t instanceof z.ZodReadonly || t instanceof z.ZodCatch) t = (t._def as { innerType: z.ZodTypeAny }).innerType;
    else if (t instanceof z.ZodPipeline) t = (t._def as { in: z.ZodTypeAny }).in;
    else if (t instanceof z.ZodLazy) t = t.schema as z.ZodTypeAny;
    else break;
  }
  return { type: t, description, hasDefault, defaultValue };
}

interface Bound {
  readonly value: number;
  readonly inclusive: boolean;
}

/** The tightest lower and upper bounds among a z.number()'s checks. */
function numberBounds(t: z.ZodNumber): { lower?: Bound; upper?: Bound; int: boolean } {
  let lower: Bound | undefined;
  let upper: Bound | undefined;
  let int = false;
  for (const c of t._def.checks) {
    if (c.kind === 'int') int = true;
    else if (c.kind === 'min') {
      if (!lower || c.value > lower.value || (c.value === lower.value && !c.inclusive)) lower = c;
    } else if (c.kind === 'max') {
      if (!upper || c.value < upper.value || (c.value === upper.value && !c.inclusive)) upper = c;
    }
  }
  return { ...(lower ? { lower } : {}), ...(upper ? { upper } : {}), int };
}

function numberParser(t: z.ZodNumber): ArgParser<number> {
  const { lower, upper, int } = numberBounds(t);
  if (int) {
    // An integer > 0 is an integer >= 1: said that way, it is the bound the user can type.
    const min = lower && (lower.inclusive ? Math.ceil(lower.value) : Math.floor(lower.value) + 1);
    const max = upper && (upper.inclusive ? Math.floor(upper.value) : Math.ceil(upper.value) - 1);
    return intArg({ ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) });
  }
  return numberArg({
    ...(lower ? (lower.inclusive ? { min: lower.value } : { gt: lower.value }) : {}),
    ...(upper ? (upper.inclusive ? { max: upper.value } : { lt: upper.value }) : {}),
  });
}

/** How one value (a whole option, or one item of a list) is read; null for a type we cannot read. */
function scalarParser(t: z.ZodTypeAny): { parse: ArgParser<unknown>; placeholder: string; choices?: string[] } | null {
  if (t instanceof z.ZodNumber) return { parse: numberParser(t), placeholder: t.isInt ? 'n' : 'x' };
  if (t instanceof z.ZodString) return { parse: (v) => v, placeholder: 'value' };
  if (t instanceof z.ZodEnum) {
    const choices = t.options as string[];
    return { parse: choiceArg(choices), placeholder: 'name', choices };
  }
  if (t instanceof z.ZodNativeEnum) {
    const values = Object.values(t.enum as Record<string, unknown>);
    if (!values.every((v): v is string => typeof v === 'string')) return null;
    return { parse: choiceArg(values), placeholder: 'name', choices: values };
  }
  return null;
}

interface OptionKind {
  /** undefined for a switch. */
  readonly parse?: ArgParser<unknown>;
  readonly placeholder?: string;
  readonly choices?: string[];
}

function optionKind(key: string, t: z.ZodTypeAny): OptionKind {
  if (t instanceof z.ZodBoolean) return {};
  const scalar = scalarParser(t);
  if (scalar) return scalar;
  if (t instanceof z.ZodTuple && !(t._def as z.ZodTupleDef).rest) {
    const items = t.items as z.ZodTypeAny[];
    const parsers = items.map((s) => {
      const p = scalarParser(unwrapField(s).type);
      if (!p) throw unsupported(key, s);
      return p.parse;
    });
    // "<a,b>": one letter per position reads as "this many values".
    return { parse: tupleArg(parsers), placeholder: items.map((_, i) => String.fromCharCode(97 + i)).join(',') };
  }
  if (t instanceof z.ZodArray) {
    const p = scalarParser(unwrapField(t.element as z.ZodTypeAny).type);
    if (!p) throw unsupported(key, t.element as z.ZodTypeAny);
    return { parse: listArg(p.parse), placeholder: 'list' };
  }
  throw unsupported(key, t);
}

function unsupported(key: string, t: z.ZodTypeAny): Error {
  const kind = (t._def as { typeName?: string }).typeName ?? t.constructor.name;
  return new TypeError(
    `schema key '${key}' has a type (${kind}) with no command-line form; leave it out with omit: ['${key}'] and add its option by hand`,
  );
}

/** The help line's default, as it would be typed: 64, "adamw", 0.6,1. */
function defaultText(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.join(',');
  return undefined; // commander's own JSON display
}

/**
 * An option whose parsed value is stored under the schema key itself (not commander's camelCase
 * of the flag), so a renamed flag ({ lr: '--learning-rate' }) still sets `lr`.
 */
class SchemaOption extends Option {
  constructor(
    flags: string,
    description: string,
    private readonly key: string,
  ) {
    super(flags, description);
  }

  override attributeName(): string {
    return this.key;
  }
}

/** Check on top of the derived parser: every other zod check of the field (string lengths, refinements...). */
function withSchemaCheck(parse: ArgParser<unknown>, field: z.ZodTypeAny): ArgParser<unknown> {
  return (value) => {
    const v = parse(value);
    const r = field.safeParse(v);
    if (!r.success) throw new InvalidArgumentError(r.error.issues[0]?.message ?? 'is invalid');
    // The raw value, not zod's output: the merged config is parsed by the schema again later.
    return v;
  };
}

function checkKeys(what: string, keys: Iterable<string>, shape: z.ZodRawShape): void {
  const unknown = [...keys].filter((k) => !Object.hasOwn(shape, k));
  if (unknown.length > 0) throw new TypeError(`${what}: not keys of the schema: ${unknown.join(', ')}`);
}

/**
 * Add one option per key of `schema` to `cmd` (see the file's header for the mapping). Throws for
 * a key whose type has no command-line form (omit it and add that flag by hand), and for names in
 * `only`/`omit`/`names`/`help` that are not keys of the schema.
 */
export function addSchemaOptions(cmd: Command, schema: ObjectSchema, o: SchemaOptionsConfig = {}): Command {
  const shape = objectShape(schema);
  checkKeys('addSchemaOptions only', o.only ?? [], shape);
  checkKeys('addSchemaOptions omit', o.omit ?? [], shape);
  checkKeys('addSchemaOptions names', Object.keys(o.names ?? {}), shape);
  checkKeys('addSchemaOptions help', Object.keys(o.help ?? {}), shape);
  const only = o.only ? new Set(o.only) : null;
  const omit = new Set(o.omit ?? []);

  for (const [key, fieldSchema] of Object.entries(shape)) {
    if ((only && !only.has(key)) || omit.has(key)) continue;
    const field = unwrapField(fieldSchema);
    const kind = optionKind(key, field.type);
    const help = o.help?.[key] ?? field.description ?? key;
    const named = new Option(o.names?.[key] ?? `--${kebabCase(key)}`);
    const long = named.long?.replace(/^--(no-)?/, '');
    if (long === undefined) throw new TypeError(`addSchemaOptions names.${key}: a long flag is needed, e.g. '--${kebabCase(key)}'`);
    const short = named.short ? `${named.short}, ` : '';

    if (!kind.parse) {
      if (field.hasDefault && field.defaultValue === true) {
        // A switch that is on by default is turned off with --no-x. Declaring the (hidden) --x
        // first stops commander from storing `true` as --no-x's implied default.
        cmd.addOption(new SchemaOption(`--${long}`, help, key).hideHelp());
        cmd.addOption(new SchemaOption(`${short}--no-${long}`, `${help} (default: on)`, key));
      } else {
        cmd.addOption(new SchemaOption(`${short}--${long}`, help, key));
      }
      continue;
    }

    const given = o.names?.[key];
    const flags = given && /[<[]/.test(given) ? given : `${short}--${long} <${kind.placeholder}>`;
    const option = new SchemaOption(flags, help, key);
    if (kind.choices) option.choices(kind.choices);
    option.argParser(withSchemaCheck(kind.parse, fieldSchema));
    cmd.addOption(option);
    if (field.hasDefault && field.defaultValue !== undefined) {
      // Commander stores an option's default when the option is added, and only then; set after,
      // it is shown in help ("(default: 64)") but never becomes a parsed value.
      option.defaultValue = field.defaultValue;
      option.defaultValueDescription = defaultText(field.defaultValue);
    }
  }
  return cmd;
}

/**
 * The schema keys among commander's parsed options, as given on the command line (undefined
 * dropped): the flags' part of a config, to merge over a config file's values.
 */
export function readSchemaOptions<S extends ObjectSchema>(opts: Readonly<Record<string, unknown>>, schema: S): Partial<z.input<S>> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(objectShape(schema))) {
    if (opts[key] !== undefined) out[key] = opts[key];
  }
  return out as Partial<z.input<S>>;
}
