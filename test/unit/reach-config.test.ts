// Pieces of reaching Mycel from other networks that need no network: which path a connection took
// (from getStats() shapes of node-datachannel and browsers), settings from flags, environment and
// a config file, and TURN REST credentials.
import { createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectedPathType } from '../../src/net/peer-link.js';
import { describeSettings, resolveSettings, type SettingSpecs } from '../../src/node/settings.js';
import { UsageError } from '../../src/node/usage-error.js';
import { iceServersFactory, turnCredentials } from '../../signaling/ice.js';

/** A stats report with a selected pair between candidates of these types, node-datachannel style. */
function transportStats(local: string, remote: string) {
  return [
    { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
    { id: 'P', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R' },
    { id: 'L', type: 'local-candidate', candidateType: local },
    { id: 'R', type: 'remote-candidate', candidateType: remote },
  ];
}

describe('the path a connection took', () => {
  it('is relay if either end is a relay, srflx or prflx if either end came from a NAT, else host', () => {
    expect(selectedPathType(transportStats('relay', 'host'))).toBe('relay');
    expect(selectedPathType(transportStats('srflx', 'relay'))).toBe('relay');
    expect(selectedPathType(transportStats('host', 'srflx'))).toBe('srflx');
    expect(selectedPathType(transportStats('prflx', 'host'))).toBe('prflx');
    expect(selectedPathType(transportStats('host', 'host'))).toBe('host');
  });

  it('reads a pair marked selected (Firefox) or nominated and succeeded when no transport names one', () => {
    const [, pair, local, remote] = transportStats('srflx', 'host');
    expect(selectedPathType([{ ...pair!, selected: true }, local!, remote!])).toBe('srflx');
    expect(selectedPathType([{ ...pair!, nominated: true, state: 'succeeded' }, local!, remote!])).toBe('srflx');
    expect(selectedPathType([{ ...pair!, nominated: true, state: 'in-progress' }, local!, remote!])).toBeUndefined();
  });
});

const SPECS = {
  port: { type: 'string', default: '8080' },
  host: { type: 'string', default: '0.0.0.0' },
  stun: { type: 'string', multiple: true },
  'public-url': { type: 'string' },
  'turn-secret': { type: 'string', secret: true },
} as const satisfies SettingSpecs;

async function configFile(content: unknown): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-config-'));
  const file = path.join(dir, 'mycel.json');
  await fs.writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('settings from flags, environment and a config file', () => {
  it('takes flags over the environment, the environment over the file, the file over defaults', async () => {
    const file = await configFile({
      port: 9000,
      host: '10.0.0.1',
      'public-url': 'https://file.example',
      stun: ['stun:a:1'],
    });
    const { values } = resolveSettings(['--config', file, '--port', '7000'], SPECS, {
      MYCEL_PORT: '7500',
      MYCEL_PUBLIC_URL: 'https://env.example',
      MYCEL_STUN: 'stun:b:1, stun:c:1',
    });
    expect(values).toEqual({
      port: '7000',
      host: '10.0.0.1',
      'public-url': 'https://env.example',
      stun: ['stun:b:1', 'stun:c:1'],
    });
    expect(resolveSettings([], SPECS, {}).values).toEqual({ port: '8080', host: '0.0.0.0' });
  });

  it('refuses an unknown key in the file, naming it', async () => {
    const file = await configFile({ port: 1, 'tls-cret': 'x' });
    expect(() => resolveSettings(['--config', file], SPECS, {})).toThrow(/unknown setting "tls-cret"/);
    expect(() => resolveSettings(['--config', file], SPECS, {})).toThrow(UsageError);
  });

  it('refuses a value of the wrong kind and a file that is not a JSON object', async () => {
    expect(() => resolveSettings(['--config', 'x'], SPECS, {})).toThrow(UsageError);
    const list = await configFile({ port: [1, 2] });
    expect(() => resolveSettings(['--config', list], SPECS, {})).toThrow(/"port" must be a string or a number/);
    const array = await configFile('[1]');
    expect(() => resolveSettings(['--config', array], SPECS, {})).toThrow(/one JSON object/);
  });

  it('takes a secret from the file or the environment but never as a flag, and masks it when shown', async () => {
    expect(() => resolveSettings(['--turn-secret', 'hunter2'], SPECS, {})).toThrow(/MYCEL_TURN_SECRET/);
    const file = await configFile({ 'turn-secret': 'from-file' });
    const fromFile = resolveSettings(['--config', file], SPECS, {}).values;
    expect(fromFile['turn-secret']).toBe('from-file');
    const fromEnv = resolveSettings([], SPECS, { MYCEL_TURN_SECRET: 'from-env' }).values;
    expect(fromEnv['turn-secret']).toBe('from-env');
    const shown = describeSettings(fromEnv, SPECS);
    expect(shown).not.toContain('from-env');
    expect(JSON.parse(shown)['turn-secret']).toBe('********');
  });
});

describe('ICE servers a signaling server hands out', () => {
  it("gives TURN credentials in coturn's REST scheme, expiring after the configured time", () => {
    const now = Date.UTC(2026, 0, 1);
    const { username, credential } = turnCredentials('s3cret', 'peer-id', 3_600_000, now);
    expect(username).toBe(`${now / 1000 + 3600}:peer-id`);
    expect(credential).toBe(createHmac('sha1', 's3cret').update(username).digest('base64'));
  });

  it('refuses TURN without a secret, and URLs of the wrong scheme', () => {
    expect(() => iceServersFactory({ turn: ['turn:relay.example:3478'] })).toThrow(/secret/);
    expect(() => iceServersFactory({ stun: ['turn:relay.example:3478'] })).toThrow(/not a STUN URL/);
    expect(() => iceServersFactory({ turn: ['http://relay.example'], turnSecret: 'x' })).toThrow(/not a TURN URL/);
    expect(iceServersFactory({})).toBeUndefined();
  });
});
