// Where tests and benchmarks find Chromium, and the flags it needs on a closed, shared machine.
import { existsSync } from 'node:fs';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM_PATH);
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Lets WebRTC pair over loopback too, should a test machine have no other interface.
  '--allow-loopback-in-peer-connection',
];
