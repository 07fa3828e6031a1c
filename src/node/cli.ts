// The `mycel` command: parses flags and runs one subcommand. Usage errors exit 2 with one line;
// failures exit 1 with one line naming what went wrong.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MycelError } from '../errors.js';
import { parseSize } from './sizes.js';
import { startServe } from './serve.js';

const USAGE = `usage: mycel <command> [options]

  serve [--port 8080] [--host 0.0.0.0] [--data ./mycel-data] [--quota 10GiB]
      signaling server, seed and web app in one process`;

class UsageError extends Error {}

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function parse(args: string[], options: ParseArgsConfig['options']): Parsed {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function portOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`bad port: ${text}`);
  return port;
}

function sizeOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const size = parseSize(text);
  if (size === undefined) throw new UsageError(`bad size: ${text} (try 10GiB or 500MB)`);
  return size;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { values } = parse(rest, {
        port: { type: 'string' },
        host: { type: 'string' },
        data: { type: 'string' },
        quota: { type: 'string' },
      });
      const server = await startServe({
        port: portOf(values.port as string | undefined, 8080),
        host: (values.host as string | undefined) ?? '0.0.0.0',
        dataDir: (values.data as string | undefined) ?? './mycel-data',
        quota: sizeOf(values.quota as string | undefined, 10 * 2 ** 30),
      });
      const stop = () => void server.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return new Promise<number>(() => {});
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`mycel: ${error.message}\n${USAGE}\n`);
      process.exit(2);
    }
    const message = error instanceof MycelError ? error.message : (error as Error)?.message ?? String(error);
    process.stderr.write(`mycel: ${message}\n`);
    process.exit(1);
  },
);
