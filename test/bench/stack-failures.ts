// How often node-datachannel fails a connect in our own stack ("Got a remote candidate without ICE
// transport" when the answer is set): the figures behind STACK_FAILURE_RETRIES in
// src/net/limits.ts. Two simple-peer ends in this process, on node-datachannel (src/node/wrtc.ts),
// signals handed over in order after `DELAY` ms; one connect after another, each closed once open.
//
//   npx tsx test/bench/stack-failures.ts [busy processes] [connects]
//
// Busy processes spin on the CPU meanwhile, to play a loaded machine (the failure is rare on an
// idle one). Prints the failures by side and message.
import { spawn } from 'node:child_process';
import SimplePeer from 'simple-peer';
import { normalizeSignal } from '../../src/net/peer-link.js';
import { CONNECT_TIMEOUT_MS } from '../../src/net/limits.js';
import { nodeWrtc } from '../../src/node/wrtc.js';

const [hogsArg = '2', connectsArg = '300'] = process.argv.slice(2);
const delayMs = Number(process.env.DELAY ?? 1);
const hogs = Array.from({ length: Number(hogsArg) }, () =>
  spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }),
);

/** One connect: undefined once both ends are open, else why it failed. */
function connectOnce(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const make = (initiator: boolean) =>
      new SimplePeer({ initiator, trickle: true, wrtc: nodeWrtc, config: { iceServers: [] } });
    const offerer = make(true);
    const answerer = make(false);
    let ended = false;
    const end = (why: string | undefined) => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      offerer.destroy();
      answerer.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => end('no connect within the timeout'), CONNECT_TIMEOUT_MS);
    const relay = (from: SimplePeer.Instance, to: SimplePeer.Instance) =>
      from.on('signal', (sig: object) =>
        setTimeout(() => {
          if (!to.destroyed)
            to.signal(normalizeSignal(sig as Record<string, unknown>) as unknown as SimplePeer.SignalData);
        }, delayMs),
      );
    relay(offerer, answerer);
    relay(answerer, offerer);
    offerer.on('error', (error: Error) => end(`offerer: ${error.message}`));
    answerer.on('error', (error: Error) => end(`answerer: ${error.message}`));
    let open = 0;
    const opened = () => {
      if (++open === 2) end(undefined);
    };
    offerer.on('connect', opened);
    answerer.on('connect', opened);
  });
}

try {
  const failures = new Map<string, number>();
  const connects = Number(connectsArg);
  for (let i = 0; i < connects; i++) {
    const why = await connectOnce();
    if (why) failures.set(why, (failures.get(why) ?? 0) + 1);
  }
  const failed = [...failures.values()].reduce((a, b) => a + b, 0);
  console.log(`${failed} of ${connects} connects failed (${hogs.length} busy processes, signals after ${delayMs} ms)`);
  for (const [why, count] of failures) console.log(`  ${count}  ${why}`);
} finally {
  for (const hog of hogs) hog.kill();
}
