// The logging the network layer needs, as an interface: Node passes its JSON-lines logger, the
// browser passes one that writes to the console (or nothing).

export interface NetLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export const quietLog: NetLog = { debug() {}, info() {}, warn() {} };

/** Logs to the console (for a browser's developer tools). */
export const consoleLog: NetLog = {
  debug: (msg, fields) => console.debug(`[mycel] ${msg}`, fields ?? ''),
  info: (msg, fields) => console.info(`[mycel] ${msg}`, fields ?? ''),
  warn: (msg, fields) => console.warn(`[mycel] ${msg}`, fields ?? ''),
};
