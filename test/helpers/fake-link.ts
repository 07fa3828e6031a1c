// A fake data channel for session unit tests: it records every frame the session writes, and the
// test plays the other end, proving its id the way a real peer does.
import { channelAuthMessage } from '../../src/net/channel-auth.js';
import { ephemeralIdentity, type PeerIdentity } from '../../src/net/identity.js';
import type { PeerLink } from '../../src/net/peer-link.js';
import { PeerSession, type SessionHost } from '../../src/net/session.js';
import { FrameType, decodeFrame, encodeFrame, type Frame } from '../../src/net/wire.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';

const FINGERPRINTS = { local: 'sha-256 aa', remote: 'sha-256 bb' };

/** The parts of a PeerLink a session uses; `sent` is every frame the session wrote. */
export class FakeLink {
  readonly sent: Frame[] = [];
  closed = false;
  private handler: ((frame: Uint8Array) => void) | undefined;
  constructor(readonly remote: string) {}
  on(): () => void {
    return () => undefined;
  }
  fingerprints() {
    return FINGERPRINTS;
  }
  receive(handler: (frame: Uint8Array) => void): void {
    this.handler = handler;
  }
  send(frame: Uint8Array | readonly Uint8Array[]): Promise<void> {
    this.sent.push(decodeFrame(frame instanceof Uint8Array ? frame : joined(frame)));
    return Promise.resolve();
  }
  close(): void {
    this.closed = true;
  }
  /** The other end sends `frame`. */
  deliver(frame: Frame): void {
    this.handler?.(encodeFrame(frame));
  }
}

/** A frame sent as parts (wire.ts encodeFrameParts), whole again. */
function joined(parts: readonly Uint8Array[]): Uint8Array {
  const whole = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.length;
  }
  return whole;
}

/** A session whose peer proved its id, as a real peer's auth frame would. */
export async function openSession(
  host: Partial<SessionHost> = {},
): Promise<{ session: PeerSession; link: FakeLink; peer: PeerIdentity }> {
  const peer: PeerIdentity = ephemeralIdentity();
  const link = new FakeLink(peer.id);
  const session = new PeerSession(
    link as unknown as PeerLink,
    { store: createMemoryBlockStore(), ...host },
    ephemeralIdentity(),
  );
  // The peer signs the fingerprints as it sees them: ours are its remote ones.
  const signature = await peer.sign(channelAuthMessage(FINGERPRINTS.remote, FINGERPRINTS.local));
  link.deliver({ type: FrameType.Auth, id: 0, signature });
  await session.authenticated;
  return { session, link, peer };
}
