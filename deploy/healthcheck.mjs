// The HEALTHCHECK of the Faasbox image (deploy/Dockerfile): exits 0 when healthy, 1 otherwise.
// Plain Node, no dependency: the slim base image has no curl.
//   api, all: GET /healthz on this container's own port answers 200.
//   worker:   it serves no HTTP. Healthy while its Docker engine answers GET /_ping, which also
//             catches a socket the unprivileged user cannot open (a missing group_add).
// The role is read from PID 1's command line (`node --import tsx src/entry/node.ts <role>`).
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

const TIMEOUT_MS = 4_000;

function role() {
  try {
    const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
    const entry = args.findIndex((arg) => arg.endsWith('src/entry/node.ts'));
    return entry === -1 ? 'all' : (args[entry + 1] ?? 'all');
  } catch {
    return 'all';
  }
}

/** Where the worker's Docker engine listens, as the worker reads DOCKER_HOST. */
function dockerTarget() {
  const dockerHost = process.env.DOCKER_HOST ?? '';
  if (dockerHost.startsWith('tcp://')) {
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return { host: url.hostname, port: Number(url.port) };
  }
  return { socketPath: dockerHost.startsWith('unix://') ? dockerHost.slice('unix://'.length) : '/var/run/docker.sock' };
}

function apiTarget() {
  const host = process.env.FAASBOX_HOST ?? '127.0.0.1';
  const anyAddress = host === '0.0.0.0' || host === '::' || host === '';
  return { host: anyAddress ? '127.0.0.1' : host, port: Number(process.env.PORT || 8080) };
}

const [target, path] = role() === 'worker' ? [dockerTarget(), '/_ping'] : [apiTarget(), '/healthz'];

const req = request({ ...target, path, method: 'GET', timeout: TIMEOUT_MS }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
req.on('error', (error) => {
  console.error(`unhealthy: ${path}: ${error.message}`);
  process.exit(1);
});
req.end();
