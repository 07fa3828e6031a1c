// The one logging interface: the core, the signaling server and the seed log through it, and each
// program injects an implementation (Node: JSON lines on stderr, src/node/log.ts; the page: the
// console when asked, or nothing).

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): Logger;
}

export const quietLog: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => quietLog,
};

/** Logs to the console (for a browser's developer tools). */
export const consoleLog: Logger = {
  debug: (msg, fields) => console.debug(`[mycel] ${msg}`, fields ?? ''),
  info: (msg, fields) => console.info(`[mycel] ${msg}`, fields ?? ''),
  warn: (msg, fields) => console.warn(`[mycel] ${msg}`, fields ?? ''),
  error: (msg, fields) => console.error(`[mycel] ${msg}`, fields ?? ''),
  child: () => consoleLog,
};
