// The logging the network layer needs, as an interface: Node passes its JSON-lines logger, the
// browser passes one that writes to the console (or nothing).

export interface NetLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export const quietLog: NetLog = { debug() {}, info() {}, warn() {} };
