// Where a long-running command's settings come from: flags, MYCEL_* environment variables and a
// JSON config file (`--config`, or MYCEL_CONFIG), flags winning over the environment and the
// environment over the file; what none sets keeps the command's default. The file's keys are the
// flag names ("tls-cert", "stun": [...]); an unknown key is an error naming it, a value of the
// wrong kind too. Environment variables are the flag names upper-cased with '_' for '-'
// (MYCEL_TLS_CERT, MYCEL_PUBLIC_URL); a repeatable one takes a comma list. Secrets (the TURN
// secret) may come from the file or the environment but never from a flag, which would show in
// the process list; `--print-config` shows the effective settings with secrets masked.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { UsageError } from './usage-error.js';

export interface SettingSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** Never a flag; masked by --print-config. */
  readonly secret?: boolean;
  /** What applies when nothing sets it (shown by --print-config). */
  readonly default?: SettingValue;
}

export type SettingSpecs = Readonly<Record<string, SettingSpec>>;
export type SettingValue = string | boolean | string[];
export type Settings = Record<string, SettingValue | undefined>;

/** The largest config file read: settings, not data. */
const MAX_CONFIG_BYTES = 256 * 1024;
const MASK = '********';

export function envName(key: string): string {
  return `MYCEL_${key.toUpperCase().replace(/-/g, '_')}`;
}

function fromText(key: string, spec: SettingSpec, text: string, where: string): SettingValue {
  if (spec.type === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off|)$/i.test(text)) return false;
    throw new UsageError(`${where}: ${key} must be true or false, not ${JSON.stringify(text)}`);
  }
  if (spec.multiple)
    return text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return text;
}

function fromJson(key: string, spec: SettingSpec, value: unknown, file: string): SettingValue {
  const where = `config file ${file}`;
  if (spec.type === 'boolean') {
    if (typeof value !== 'boolean') throw new UsageError(`${where}: "${key}" must be true or false`);
    return value;
  }
  const scalar = (v: unknown): string => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    throw new UsageError(`${where}: "${key}" must be ${spec.multiple ? 'a list of strings' : 'a string or a number'}`);
  };
  if (spec.multiple) return (Array.isArray(value) ? value : [value]).map(scalar);
  return scalar(value);
}

function readConfigFile(file: string, specs: SettingSpecs): Settings {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? ''}`);
  }
  if (text.length > MAX_CONFIG_BYTES) throw new UsageError(`config file ${file} is over ${MAX_CONFIG_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config file ${file} is not JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new UsageError(`config file ${file} must hold one JSON object`);
  const out: Settings = {};
  for (const [key, value] of Object.entries(json)) {
    const spec = Object.hasOwn(specs, key) ? specs[key] : undefined;
    if (!spec) throw new UsageError(`config file ${file}: unknown setting "${key}"`);
    if (value !== null) out[key] = fromJson(key, spec, value, file);
  }
  return out;
}

export interface Resolved {
  readonly values: Settings;
  readonly positionals: string[];
  /** --print-config was given: show `describe(values)` and stop. */
  readonly printConfig: boolean;
}

/**
 * Parses `args` for a command taking `specs`, then fills what the flags leave unset from the
 * environment, the config file and the defaults, in that order.
 */
export function resolveSettings(args: string[], specs: SettingSpecs, env: NodeJS.ProcessEnv = process.env): Resolved {
  const flags: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    config: { type: 'string' },
    'print-config': { type: 'boolean' },
  };
  for (const [key, spec] of Object.entries(specs)) {
    if (spec.secret) continue;
    flags[key] = { type: spec.type };
    if (spec.multiple) flags[key].multiple = true;
    if (spec.short) flags[key].short = spec.short;
  }
  for (const [key, spec] of Object.entries(specs)) {
    if (spec.secret && args.some((arg) => arg === `--${key}` || arg.startsWith(`--${key}=`)))
      throw new UsageError(
        `--${key} is not a flag: a secret on the command line shows in the process list; set ${envName(key)} or use a file`,
      );
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: flags, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const configFile = (parsed.values.config as string | undefined) ?? env.MYCEL_CONFIG;
  const file = configFile ? readConfigFile(configFile, specs) : {};
  const values: Settings = {};
  for (const [key, spec] of Object.entries(specs)) {
    const flag = parsed.values[key] as SettingValue | undefined;
    const fromEnv = env[envName(key)];
    if (flag !== undefined) values[key] = flag;
    else if (fromEnv !== undefined) values[key] = fromText(key, spec, fromEnv, envName(key));
    else if (file[key] !== undefined) values[key] = file[key];
    else if (spec.default !== undefined) values[key] = spec.default;
  }
  return { values, positionals: parsed.positionals, printConfig: parsed.values['print-config'] === true };
}

/** The effective settings as JSON, secrets masked, unset ones left out. */
export function describeSettings(values: Settings, specs: SettingSpecs): string {
  const shown: Record<string, SettingValue> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    shown[key] = specs[key]?.secret ? MASK : value;
  }
  return JSON.stringify(shown, null, 2);
}
