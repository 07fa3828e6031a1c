// A very small schema language for untrusted JSON: each schema validates a value with bounds and
// gives its TypeScript type (`Infer<typeof schema>`), so a message's type is derived from the one
// place that checks it. Validation fails with the path of the first bad field.

import { ProtocolError } from '../errors.js';

/** A message that fits no schema: whoever sent it broke the signaling protocol. */
export class SchemaError extends ProtocolError {
  constructor(message: string) {
    super('bad-message', message);
  }
}

export interface Schema<T> {
  parse(value: unknown, path?: string): T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

const fail = (path: string, what: string): never => {
  throw new SchemaError(`${path || 'message'}: ${what}`);
};

export function string(options: { min?: number; max: number; pattern?: RegExp }): Schema<string> {
  return {
    parse(value, path = '') {
      if (typeof value !== 'string') return fail(path, 'must be a string');
      if (value.length < (options.min ?? 0) || value.length > options.max) {
        return fail(path, `length must be ${options.min ?? 0}..${options.max}`);
      }
      if (options.pattern && !options.pattern.test(value)) return fail(path, 'has an invalid format');
      return value;
    },
  };
}

export function literal<const T extends string | number>(expected: T): Schema<T> {
  return {
    parse(value, path = '') {
      if (value !== expected) return fail(path, `must be ${JSON.stringify(expected)}`);
      return expected;
    },
  };
}

export function integer(min: number, max: number): Schema<number> {
  return {
    parse(value, path = '') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        return fail(path, `must be an integer in ${min}..${max}`);
      }
      return value;
    },
  };
}

export const boolean: Schema<boolean> = {
  parse(value, path = '') {
    if (typeof value !== 'boolean') return fail(path, 'must be true or false');
    return value;
  },
};

/** One of a fixed list of strings. */
export function oneOf<const T extends string>(values: readonly T[]): Schema<T> {
  return {
    parse(value, path = '') {
      if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
        return fail(path, `must be one of ${values.join(', ')}`);
      }
      return value as T;
    },
  };
}

export function array<T>(item: Schema<T>, options: { min?: number; max: number }): Schema<T[]> {
  return {
    parse(value, path = '') {
      if (!Array.isArray(value)) return fail(path, 'must be an array');
      if (value.length < (options.min ?? 0) || value.length > options.max) {
        return fail(path, `must have ${options.min ?? 0}..${options.max} items`);
      }
      return value.map((v, i) => item.parse(v, `${path}[${i}]`));
    },
  };
}

export function optional<T>(inner: Schema<T>): Schema<T | undefined> & { optional: true } {
  return {
    optional: true,
    parse(value, path = '') {
      return value === undefined ? undefined : inner.parse(value, path);
    },
  };
}

/** Any JSON object (checked elsewhere for size): opaque payloads such as WebRTC signals. */
export const opaqueObject: Schema<Record<string, unknown>> = {
  parse(value, path = '') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(path, 'must be an object');
    return value as Record<string, unknown>;
  },
};

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ObjectOf<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

/** An object with exactly these fields (unknown fields are refused). */
export function object<S extends Shape>(shape: S): Schema<ObjectOf<S>> {
  return {
    parse(value, path = '') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(path, 'must be an object');
      const input = value as Record<string, unknown>;
      for (const key of Object.keys(input)) if (!(key in shape)) fail(path, `unknown field "${key}"`);
      const out: Record<string, unknown> = {};
      for (const [key, schema] of Object.entries(shape)) {
        const v = schema.parse(input[key], path ? `${path}.${key}` : key);
        if (v !== undefined) out[key] = v;
      }
      return out as ObjectOf<S>;
    },
  };
}

/** One of several object schemas, chosen by the string field `t`. */
export function tagged<M extends Record<string, Schema<{ t: string }>>>(variants: M): Schema<Infer<M[keyof M]>> {
  return {
    parse(value, path = '') {
      const tag = (value as { t?: unknown } | null)?.t;
      if (typeof tag !== 'string' || !Object.hasOwn(variants, tag)) return fail(path, 'unknown message type');
      return variants[tag]!.parse(value, path) as Infer<M[keyof M]>;
    },
  };
}
