/**
 * One synchronous execution through the whole platform (HTTP, auth, slots, events, bus, worker,
 * Docker, recording) against the same image run directly with dockerode (create → start →
 * wait → remove), alternated in one run so both see the same machine.
 *   npx tsx bench/execution-latency.ts [runs]
 */
import Docker from 'dockerode';
import { startRegistry } from '../test/support/registry.ts';
import { ensureTestImages } from '../test/support/test-images.ts';
import { startServer } from '../test/support/server-process.ts';

const runs = Number(process.argv[2] ?? 20);
const docker = new Docker({ socketPath: '/var/run/docker.sock' });

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.95) - 1]!;

async function bareRun(image: string) {
  const started = performance.now();
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['true'],
    HostConfig: { NetworkMode: 'none', AutoRemove: false },
  });
  await container.start();
  await container.wait();
  await container.remove({ force: true });
  return performance.now() - started;
}

async function main() {
  const registry = await startRegistry();
  const server = await startServer({ env: { FAASBOX_MAX_ACTIVE_PER_USER: '4' } });
  try {
    const { busybox } = await ensureTestImages(registry.address);
    const api = async (method: string, path: string, body?: unknown, token?: string) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return (await response.json()) as Record<string, any>;
    };
    const credentials = { email: `bench-${Date.now()}@example.com`, password: 'bench password' };
    await api('POST', '/v1/users', credentials);
    const { token } = await api('POST', '/v1/tokens', credentials);
    const fn = await api('POST', '/v1/functions', { name: 'noop', image: busybox, command: ['true'] }, token);
    const platformRun = async () => {
      const started = performance.now();
      const result = await api('POST', `/v1/functions/${fn.id}/executions`, undefined, token);
      if (result.status !== 'succeeded') throw new Error(`execution ${result.status}: ${result.reason}`);
      return performance.now() - started;
    };

    await platformRun(); // pulls the image and warms both paths
    await bareRun(busybox);
    const platform: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < runs; i++) {
      platform.push(await platformRun());
      bare.push(await bareRun(busybox));
    }
    const ratio = median(platform) / median(bare);
    console.log(`runs: ${runs}`);
    console.log(`faasbox sync execution: median ${median(platform).toFixed(0)} ms, p95 ${p95(platform).toFixed(0)} ms`);
    console.log(`bare dockerode run:     median ${median(bare).toFixed(0)} ms, p95 ${p95(bare).toFixed(0)} ms`);
    console.log(`ratio (medians): ${ratio.toFixed(2)}; platform overhead ${(median(platform) - median(bare)).toFixed(0)} ms`);
  } finally {
    await server.stop();
    await registry.stop();
  }
}

await main();
