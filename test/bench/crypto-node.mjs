// WebCrypto against node:crypto in Node for 256 KiB blocks, 4 calls in flight: CPU ms per MB (every
// thread) and MB/s for SHA-256 and for opening AES-256-GCM, alternating, two rounds.
// Usage: node test/bench/crypto-node.mjs   (env N=512 blocks)
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const N = Number(process.env.N ?? 512);
const BLOCK = 256 * 1024;
const blocks = Array.from({ length: N }, () => randomBytes(BLOCK));
const raw = randomBytes(32);
const iv = randomBytes(12);
const key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
const sealed = blocks.map((block) => {
  const cipher = createCipheriv('aes-256-gcm', raw, iv);
  return Buffer.concat([cipher.update(block), cipher.final(), cipher.getAuthTag()]);
});

async function run(name, call) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const inFlight = new Set();
  for (let i = 0; i < N; i++) {
    const p = Promise.resolve(call(i)).then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 4) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const used = process.cpuUsage(cpu);
  const mb = (N * BLOCK) / 1e6;
  const perMB = (used.user + used.system) / 1000 / mb;
  console.log(
    `${name.padEnd(22)} ${perMB.toFixed(2)} ms CPU/MB  ${(mb / ((performance.now() - start) / 1000)).toFixed(0)} MB/s`,
  );
}

function nodeOpen(i) {
  const s = sealed[i];
  const decipher = createDecipheriv('aes-256-gcm', raw, iv);
  decipher.setAuthTag(s.subarray(s.length - 16));
  const out = decipher.update(s.subarray(0, s.length - 16));
  decipher.final();
  return out;
}

for (let round = 0; round < 2; round++) {
  await run('WebCrypto SHA-256', (i) => crypto.subtle.digest('SHA-256', blocks[i]));
  await run('node:crypto SHA-256', (i) => createHash('sha256').update(blocks[i]).digest());
  await run('WebCrypto AES-GCM open', (i) =>
    crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: new Uint8Array(0) }, key, sealed[i]),
  );
  await run('node:crypto AES-GCM open', nodeOpen);
}
