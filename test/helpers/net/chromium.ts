// Chromium inside a home namespace, driven by Playwright from outside it. Playwright's
// `executablePath` points at a wrapper that execs `ip netns exec "$MYCEL_NETNS" chromium "$@"`;
// Playwright talks to the browser over --remote-debugging-pipe (fds 3 and 4), which survives the
// exec, so the test runner stays in its own namespace. The namespace comes through the launch
// environment, so one wrapper serves every home.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../chromium.js';
import type { TestNetwork } from './netns.js';

export interface ChromiumInNamespace {
  readonly executablePath: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}

export interface ChromiumOptions {
  /** A HOME for Chromium, e.g. `TestCertificates.chromiumHome` to trust the test CA. */
  readonly home?: string;
  /** Flags beyond test/chromium.ts's standard ones. */
  readonly args?: readonly string[];
}

/**
 * Launch options (spread them into `chromium.launch({...})`) that run Chromium inside `ns`. The
 * browser dies with the namespace at teardown even if the test never closes it.
 */
export async function chromiumInNamespace(
  net: TestNetwork,
  ns: string,
  options: ChromiumOptions = {},
): Promise<ChromiumInNamespace> {
  const executablePath = path.join(net.dir, 'chromium-in-netns.sh');
  await fs.writeFile(
    executablePath,
    ['#!/bin/sh', `exec ip netns exec "$MYCEL_NETNS" ${shellQuote(CHROMIUM_PATH)} "$@"`, ''].join('\n'),
    { mode: 0o755 },
  );
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  env.MYCEL_NETNS = ns;
  if (options.home) env.HOME = options.home;
  return { executablePath, args: [...CHROMIUM_ARGS, ...(options.args ?? [])], env };
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
