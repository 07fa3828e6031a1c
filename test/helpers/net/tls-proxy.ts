// A TLS terminator the harness runs inside a namespace (through tsx): accepts TLS on one address
// and pipes the decrypted bytes to a plain TCP server, so a plain-http server answers https and
// wss. Prints {"event":"listening"} once it accepts connections.
//
// usage: tls-proxy.ts <listen host:port> <target host:port> <cert.pem> <key.pem>

import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createServer } from 'node:tls';

function hostPort(text: string | undefined): { host: string; port: number } {
  const at = text?.lastIndexOf(':') ?? -1;
  if (!text || at < 1) throw new Error(`not host:port: ${text}`);
  return { host: text.slice(0, at), port: Number(text.slice(at + 1)) };
}

const [listenAt, targetAt, certFile, keyFile] = process.argv.slice(2);
const listen = hostPort(listenAt);
const target = hostPort(targetAt);

const server = createServer({ cert: readFileSync(certFile!), key: readFileSync(keyFile!) }, (secure) => {
  const plain = connect(target);
  secure.pipe(plain).pipe(secure);
  // Either side closing or failing ends both.
  const end = () => {
    secure.destroy();
    plain.destroy();
  };
  secure.on('error', end);
  plain.on('error', end);
  secure.on('close', end);
  plain.on('close', end);
});
// A client that fails the handshake (e.g. it does not trust the CA) is that client's problem.
server.on('tlsClientError', () => {
  // (see above)
});
server.listen(listen.port, listen.host, () => process.stdout.write(`${JSON.stringify({ event: 'listening' })}\n`));
