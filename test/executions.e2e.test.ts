import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Deployment, addExecutionScenarios } from './support/execution-scenarios.ts';
import { startRegistry } from './support/registry.ts';
import { ensureTestImages } from './support/test-images.ts';
import { type ServerProcess, startServer } from './support/server-process.ts';

const LIMIT = 2;
let registry: Awaited<ReturnType<typeof startRegistry>>;
let server: ServerProcess;
let deployment: Deployment;

const executions = suite('executions [one process, in-process bus]');

// Started in a test, not a hook: uvu would swallow a failed start.
executions('the platform starts with a loopback registry holding the test images', async () => {
  registry = await startRegistry();
  const images = await ensureTestImages(registry.address);
  const workerId = `e2e-${process.pid}`;
  server = await startServer({
    env: { FAASBOX_MAX_ACTIVE_PER_USER: String(LIMIT), FAASBOX_EXECUTION_GRACE_MS: '5000', FAASBOX_WORKER_ID: workerId },
  });
  deployment = { url: server.url, image: images.busybox, echoImage: images.echo, workerIds: [workerId] };
  assert.ok(deployment.image.startsWith(registry.address));
});

addExecutionScenarios(executions, () => deployment, LIMIT);

executions('the platform stops cleanly', async () => {
  assert.is(await server.stop(), 0);
  await registry.stop();
});

executions.run();
