/**
 * Workers as operators see them, end to end: an api and a worker as separate processes over a
 * nats-server, the worker on the real Docker engine. Its reports reach the api through the
 * FAAS_WORKERS bucket: a function's minWarm containers show once they are ready, the engine as
 * reachable, the disk's marks as configured; and when the worker stops, its last report says so,
 * with its pools gone.
 */
import Docker from 'dockerode';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { WorkerReport } from '../src/ports/worker-report.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type SignedUp, createFunction, signUp } from './support/api.ts';
import { eventually } from './support/eventually.ts';
import { runFaasboxCli } from './support/faasbox-cli.ts';
import { call } from './support/http-client.ts';
import { type NatsServer, startNatsServer } from './support/nats-server.ts';
import { grantOperator } from './support/operator-command.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { type ServerProcess, startServer, tempDir } from './support/server-process.ts';
import { ensureTestImages } from './support/test-images.ts';

type WorkerView = WorkerReport & { stale: boolean };

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const workerId = `workers-e2e-${process.pid}`;
let registry: Registry | undefined;
let nats: NatsServer | undefined;
let api: ServerProcess | undefined;
let worker: ServerProcess | undefined;
let operatorToken: string;
let operatorAccount: SignedUp;
let functionId: string;

const workers = suite('workers: reports of a worker on the real engine, over NATS');

const reportOf = async (): Promise<WorkerView | undefined> => {
  const reply = await call(api!.url, 'GET', '/v1/admin/workers', { token: operatorToken });
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return (reply.body.workers as WorkerView[]).find((each) => each.workerId === workerId);
};

workers('a minWarm function shows its ready containers in the report of the worker holding them', async () => {
  registry = await startRegistry();
  const images = await ensureTestImages(registry.address);
  nats = await startNatsServer();
  const dataDir = tempDir();
  const env = { FAASBOX_NATS_URL: nats.url, FAASBOX_JWT_SECRET: 'workers-e2e-secret-of-at-least-32-bytes!' };
  [api, worker] = await Promise.all([
    startServer({ role: 'api', dataDir, env }),
    startServer({
      role: 'worker',
      dataDir,
      env: { ...env, FAASBOX_WORKER_ID: workerId, FAASBOX_WORKER_CONCURRENCY: '3', FAASBOX_DISK_HIGH_WATER: '90', FAASBOX_DISK_LOW_WATER: '60' },
    }),
  ]);
  const operator = await signUp(api.url, { tag: 'workers-operator' });
  grantOperator(dataDir, operator.email);
  operatorToken = operator.token;
  operatorAccount = operator;
  const owner = await signUp(api.url, { tag: 'workers-owner' });
  functionId = (await createFunction(api.url, owner.token, { image: images.echo, minWarm: 2 })).id;

  // Ready is counted when the agent said so; a report follows within its interval (5 s).
  const report = await eventually('the report shows two ready', 30_000, async () => {
    const seen = await reportOf();
    return seen?.prestarted[functionId]?.ready === 2 ? seen : undefined;
  }, 250);
  assert.equal(report.prestarted[functionId], { ready: 2, starting: 0, minWarm: 2 });
  assert.equal(
    { state: report.state, stale: report.stale, concurrency: report.concurrency, inFlight: report.inFlight, engineReachable: report.engineReachable },
    { state: 'running', stale: false, concurrency: 3, inFlight: 0, engineReachable: true },
  );
  assert.equal({ highWater: report.disk?.highWater, lowWater: report.disk?.lowWater }, { highWater: 90, lowWater: 60 });
  // Measured where the worker sees the engine's data root (a local engine, readable by this user).
  if (report.disk?.measuredAt != null) {
    const { usedPercent, usedBytes, totalBytes } = report.disk;
    assert.ok(usedPercent !== null && usedPercent >= 0 && usedPercent <= 100, JSON.stringify(report.disk));
    assert.ok(usedBytes !== null && totalBytes !== null && usedBytes <= totalBytes && totalBytes > 0, JSON.stringify(report.disk));
  }
  assert.equal(report.reused, {});
  assert.equal(report.lastPrunes, [], 'nothing was pruned');
  assert.ok(Date.parse(report.startedAt) <= Date.parse(report.reportedAt), JSON.stringify(report));
});

workers('faasbox workers prints the same as a table, or as JSON', async () => {
  const home = tempDir();
  mkdirSync(join(home, 'xdg'));
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'xdg'), FAASBOX_URL: api!.url };
  const login = await runFaasboxCli(['login', '--email', operatorAccount.email], { env, input: `${operatorAccount.password}\n` });
  assert.is(login.status, 0, login.stderr);
  const table = await runFaasboxCli(['workers'], { env });
  assert.is(table.status, 0, table.stderr);
  const [header, ...rows] = table.stdout.trim().split('\n');
  assert.match(header!, /^WORKER\s+STATE\s+IN-FLIGHT\s+PRESTARTED\s+REUSED\s+ENGINE\s+DISK\s+LAST PRUNE\s+REPORTED$/);
  const row = rows.find((line) => line.startsWith(`${workerId} `));
  assert.ok(row, table.stdout);
  assert.match(row, /\brunning\s+0\/3\s+2 \(1 fn\)\s+0 idle, 0 busy\s+up\b/);
  const json = await runFaasboxCli(['workers', '--json'], { env });
  assert.is(json.status, 0, json.stderr);
  const listed = (JSON.parse(json.stdout) as { workers: WorkerView[] }).workers.find((each) => each.workerId === workerId);
  assert.equal(listed?.prestarted[functionId], { ready: 2, starting: 0, minWarm: 2 });
  // Anyone else is refused, as on the route.
  const owner = await signUp(api!.url, { tag: 'workers-nobody' });
  const otherEnv = { ...env, XDG_CONFIG_HOME: join(home, 'other') };
  mkdirSync(otherEnv.XDG_CONFIG_HOME);
  assert.is((await runFaasboxCli(['login', '--email', owner.email], { env: otherEnv, input: `${owner.password}\n` })).status, 0);
  const refused = await runFaasboxCli(['workers'], { env: otherEnv });
  assert.is(refused.status, 1, refused.stdout);
  assert.match(refused.stderr, /operator/);
});

workers('a worker that stops says so last, with its pools gone', async () => {
  assert.ok(worker, 'the worker started');
  assert.is(await worker.stop(), 0);
  const last = await reportOf();
  assert.ok(last, 'the stopped worker is still listed until its report expires');
  assert.equal({ state: last.state, inFlight: last.inFlight, prestarted: last.prestarted }, { state: 'stopped', inFlight: 0, prestarted: {} });
});

workers('teardown: no container of the worker is left', async () => {
  try {
    assert.ok(api, 'the api started');
    assert.is(await api.stop(), 0);
    const left = await docker.listContainers({ all: true, filters: { label: [`faasbox.worker=${workerId}`] } });
    await Promise.all(left.map((container) => docker.getContainer(container.Id).remove({ force: true, v: true }).catch(() => {})));
    assert.equal(left.map((container) => container.Names[0]), [], 'the worker removed its pre-started containers when it stopped');
  } finally {
    await worker?.kill().catch(() => {});
    await nats?.stop();
    await registry?.stop();
  }
});

workers.run();
