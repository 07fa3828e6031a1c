// The Node programs' Logger (the interface is src/log.ts): one JSON object per line on stderr, with
// a level, a time, a message and fields. Levels below the configured one are dropped.
// MYCEL_LOG=debug|info|warn|error|silent sets it.

import type { Logger } from '../log.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function createLogger(
  options: { level?: Level | 'silent'; fields?: Record<string, unknown>; write?: (line: string) => void } = {},
): Logger {
  const envLevel = process.env.MYCEL_LOG as Level | 'silent' | undefined;
  const level = options.level ?? (envLevel && envLevel in ORDER ? envLevel : 'info');
  const min = ORDER[level];
  const base = options.fields ?? {};
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (lvl: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    const record: Record<string, unknown> = { level: lvl, time: new Date().toISOString(), msg, ...base, ...fields };
    for (const [k, v] of Object.entries(record))
      if (v instanceof Error) record[k] = { name: v.name, message: v.message, code: (v as { code?: unknown }).code };
    write(JSON.stringify(record));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level, fields: { ...base, ...fields }, write }),
  };
}
