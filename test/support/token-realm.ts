/**
 * The token service of Docker's token authentication (distribution's docs, "Token Authentication
 * Specification"), as small as a test needs: the registry itself is the real one
 * (test/support/registry.ts with `registryTokenAuth`), configured to trust this realm's
 * certificate. It gives every client a pull token for the scope it asks (or refuses all, to play
 * a private registry), RS256-signed with the certificate in the header (`x5c`), which is how
 * distribution checks a token without a key id.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK } from './service-process.ts';

const SERVICE = 'faasbox-test-registry';
const ISSUER = 'faasbox-test-realm';

export type TokenRealm = {
  url: string;
  /** The query of every token request so far. */
  readonly requests: URLSearchParams[];
  /** false: every request is refused (401), as a realm does for an anonymous client of a private repository. */
  grants: boolean;
  /** The registry's `auth:` configuration that trusts this realm. */
  registryConfig: string[];
  stop(): Promise<void>;
};

export async function startTokenRealm(): Promise<TokenRealm> {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-realm-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${ISSUER}`], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(keyFile));
  const certificate = new X509Certificate(readFileSync(certFile));
  const requests: URLSearchParams[] = [];

  const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');
  const tokenFor = (scope: string | null) => {
    const now = Math.floor(Date.now() / 1000);
    // scope: `repository:<name>:<actions>`; the name may hold no colon, the actions are last.
    const access = scope ? [{ type: 'repository', name: scope.split(':')[1]!, actions: scope.split(':')[2]!.split(',') }] : [];
    const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [certificate.raw.toString('base64')] }));
    const claims = base64url(JSON.stringify({ iss: ISSUER, sub: '', aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    return `${header}.${claims}.${base64url(sign('sha256', Buffer.from(`${header}.${claims}`), key))}`;
  };

  const realm: TokenRealm = {
    url: '',
    requests,
    grants: true,
    registryConfig: [],
    async stop() {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const server: Server = createServer((request, response) => {
    const query = new URL(request.url ?? '/', 'http://realm').searchParams;
    requests.push(query);
    if (!realm.grants) {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: tokenFor(query.get('scope')) }));
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as { port: number };
  realm.url = `http://${LOOPBACK}:${port}/token`;
  realm.registryConfig = ['auth:', '  token:', `    realm: ${realm.url}`, `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootcertbundle: ${certFile}`];
  return realm;
}
