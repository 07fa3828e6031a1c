// The in-memory signaling state against the shared contract: several nodes on one hub stand for
// processes (a server uses one), so the cross-process promises are checked on the same tables.
import { describe, expect, it } from 'vitest';
import { MemoryStateHub, MemorySignalingState } from '../../signaling/memory-state.js';
import { CONTRACT_LIMITS, TestNode, peerId, signalingStateContract } from '../contracts/signaling-state.js';

signalingStateContract('in-memory', async (limits) => {
  const hub = new MemoryStateHub();
  const states: MemorySignalingState[] = [];
  return {
    node: async () => {
      const state = new MemorySignalingState(limits, hub);
      states.push(state);
      return state;
    },
    close: async () => {
      for (const state of states) await state.close();
      // Nothing outlives the sockets: the tables are empty again.
      expect(
        hub.peers.size + hub.topics.size + hub.perAddress.size + hub.topicsPerAddress.size + hub.ordinaryEntries,
      ).toBe(0);
    },
  };
});

describe('in-memory signaling state', () => {
  it('keeps a topic with one holder as a bare peer id, and a set only from the second', async () => {
    const hub = new MemoryStateHub();
    const node = new TestNode(new MemorySignalingState(CONTRACT_LIMITS, hub));
    const one = await node.socket('a', peerId(1));
    await one.announce(['t'], 10, false);
    expect(hub.topics.get('t')).toBe(peerId(1));
    const two = await node.socket('b', peerId(2));
    await two.announce(['t'], 10, false);
    expect(hub.topics.get('t')).toEqual(new Set([peerId(1), peerId(2)]));
    await one.close();
    expect(hub.topics.get('t')).toBe(peerId(2));
  });
});
