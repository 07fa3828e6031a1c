// Throw-away TLS for tests on the test network: a CA and a server certificate made with openssl,
// trusted by Chromium through an NSS database in a temporary HOME (Debian's libnss3-tools
// `certutil`) and by Node through NODE_EXTRA_CA_CERTS — so https tests never ignore certificate
// errors (a service worker does not register on a page with one). Also a TLS terminator to put
// in front of a plain-http server until the product serves TLS itself.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { MycelProcess } from '../processes.js';
import { run, type TestNetwork } from './netns.js';

/** Certificates live two days: long enough for any run, short enough to be useless later. */
const CERT_DAYS = 2;
const NSS_NICKNAME = 'mycel-test-ca';
const PROXY_SCRIPT = path.join(import.meta.dirname, 'tls-proxy.ts');

export interface TestCertificates {
  /** PEM files. */
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
  /** A HOME whose NSS db (~/.pki/nssdb) trusts the CA: launch Chromium with it. */
  readonly chromiumHome: string;
  /** Environment for Node clients that must trust the CA. */
  readonly nodeEnv: { NODE_EXTRA_CA_CERTS: string };
}

export interface CertificateNames {
  /** IP addresses the server certificate is valid for (subjectAltName IP). */
  readonly ips?: readonly string[];
  /** Host names it is valid for (subjectAltName DNS). */
  readonly hostnames?: readonly string[];
}

/** Makes a CA, a server certificate for `names` signed by it, and an NSS HOME trusting the CA, in `dir`. */
export async function makeTestCertificates(dir: string, names: CertificateNames): Promise<TestCertificates> {
  const ips = names.ips ?? [];
  const hostnames = names.hostnames ?? [];
  if (ips.length + hostnames.length === 0) throw new Error('a certificate needs at least one IP or host name');
  const tls = path.join(dir, 'tls');
  await fs.mkdir(tls, { recursive: true });
  const file = (name: string) => path.join(tls, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    String(CERT_DAYS),
    '-subj',
    `/CN=Mycel test CA ${path.basename(dir)}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    `/CN=${hostnames[0] ?? ips[0]}`,
  ]);
  const subjectAltName = [...ips.map((ip) => `IP:${ip}`), ...hostnames.map((name) => `DNS:${name}`)].join(',');
  await fs.writeFile(
    file('server.ext'),
    [
      `subjectAltName=${subjectAltName}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('server.pem'),
    '-days',
    String(CERT_DAYS),
    '-extfile',
    file('server.ext'),
  ]);
  const chromiumHome = path.join(tls, 'home');
  const nssdb = `sql:${path.join(chromiumHome, '.pki', 'nssdb')}`;
  await fs.mkdir(path.join(chromiumHome, '.pki', 'nssdb'), { recursive: true });
  await run('certutil', ['-d', nssdb, '-N', '--empty-password']);
  // "C,," : a trusted CA for TLS servers, nothing else.
  await run('certutil', ['-d', nssdb, '-A', '-t', 'C,,', '-n', NSS_NICKNAME, '-i', file('ca.pem')]);
  return {
    caCert: file('ca.pem'),
    cert: file('server.pem'),
    key: file('server.key'),
    chromiumHome,
    nodeEnv: { NODE_EXTRA_CA_CERTS: file('ca.pem') },
  };
}

export interface TlsProxy {
  readonly proc: MycelProcess;
  /** https://<host>:<port> */
  readonly url: string;
}

/**
 * Terminates TLS on `listen` inside `ns` and passes the plain bytes on to `target` (a plain-http
 * server in the same namespace, e.g. `mycel signal` on 127.0.0.1): https and wss to a server that
 * speaks neither. Stopped at the network's teardown.
 */
export async function startTlsProxy(
  net: TestNetwork,
  ns: string,
  options: {
    listen: { host: string; port: number };
    target: { host: string; port: number };
    certs: Pick<TestCertificates, 'cert' | 'key'>;
  },
): Promise<TlsProxy> {
  const { listen, target, certs } = options;
  const proc = net.startScript(ns, PROXY_SCRIPT, [
    `${listen.host}:${listen.port}`,
    `${target.host}:${target.port}`,
    certs.cert,
    certs.key,
  ]);
  await proc.waitForLine((line) => line.includes('"listening"'));
  return { proc, url: `https://${listen.host}:${listen.port}` };
}
