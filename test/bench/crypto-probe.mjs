// Loaded with `node --import` into a process under study: counts its WebCrypto calls (digest,
// encrypt, decrypt), a block (> 64 KiB) apart from small inputs, and at exit writes the counts as
// JSON to MYCEL_CRYPTO_OUT. Tells how many times each block is hashed.
import { writeFileSync } from 'node:fs';

const out = process.env.MYCEL_CRYPTO_OUT;
if (out) {
  const counts = {};
  const proto = Object.getPrototypeOf(globalThis.crypto.subtle);
  for (const op of ['digest', 'encrypt', 'decrypt']) {
    const original = proto[op];
    proto[op] = function (algorithm, ...rest) {
      const size = rest[rest.length - 1]?.byteLength ?? 0;
      const key = `${op} (${size > 64 * 1024 ? 'block' : 'small'})`;
      counts[key] = (counts[key] ?? 0) + 1;
      return original.call(this, algorithm, ...rest);
    };
  }
  process.on('exit', () => writeFileSync(out, JSON.stringify(counts)));
}
