/**
 * What a container's name and labels say about the execution and the attempt it ran: the reaper
 * reports a lost container's attempt from them (an earlier attempt's report would be dropped).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type LockDown, attemptOfContainer, containerConfig, executionContainerName, executionOfContainerName } from '../worker/docker/container-config.ts';
import { orphansAmong } from '../worker/docker/reaper.ts';
import type Docker from 'dockerode';

const names = suite('execution container names and attempts');
const ID = '0b9b8f3e-6c1a-4d2e-9f00-1234567890ab';

names('the first attempt keeps the name it always had; a later one says its attempt', () => {
  assert.is(executionContainerName(ID, 1), `faasbox-${ID}`);
  assert.is(executionContainerName(ID, 3), `faasbox-${ID}-attempt-3`);
  for (const attempt of [1, 3]) {
    const name = `/${executionContainerName(ID, attempt)}`;
    assert.is(executionOfContainerName(name), ID);
    assert.is(attemptOfContainer({ Labels: {}, Names: [name] }), attempt);
  }
  assert.is(executionOfContainerName(`/faasbox-${ID}-attempt-x`), null);
  assert.is(executionOfContainerName('/faasbox-prestarted-7'), null);
  assert.is(attemptOfContainer({ Labels: { 'faasbox.attempt': 'nonsense' }, Names: [] }), 1);
});

names('a container created for a later attempt carries it as a label and in its name', () => {
  const settings: LockDown = { workerId: 'w1', allowRoot: false, tmpfsSizeMb: 16, agentPath: '/agent', pidsLimit: 64, nofile: { soft: 64, hard: 64 }, nanoCpus: 1e9 };
  const template = { image: 'img', argv: ['cat'], env: {}, memoryMb: 32, reuse: false };
  const config = containerConfig(template, { role: 'execution', executionId: ID, attempt: 2, correlationId: 'c' }, settings);
  assert.is(config.name, `faasbox-${ID}-attempt-2`);
  assert.is(config.Labels!['faasbox.attempt'], '2');
  assert.is(config.Labels!['faasbox.execution'], ID);
  const first = containerConfig(template, { role: 'execution', executionId: ID, attempt: 1, correlationId: 'c' }, settings);
  assert.is(first.Labels!['faasbox.attempt'], undefined);
});

names("the reaper's orphans say their attempt, from the label or from a taken pre-started container's name", () => {
  const container = (labels: Record<string, string>, name: string) =>
    ({ Id: name, Names: [`/${name}`], Labels: labels, State: 'running', Created: 0 }) as unknown as Docker.ContainerInfo;
  const orphans = orphansAmong(
    [
      container({ 'faasbox.execution': ID, 'faasbox.attempt': '2', 'faasbox.worker': 'w1' }, executionContainerName(ID, 2)),
      container({ 'faasbox.prestarted': 'f', 'faasbox.worker': 'w1', 'faasbox.slot': 's' }, executionContainerName(ID, 4)),
    ],
    { workerId: 'w1', isInFlight: () => false, isOwned: () => false, overdueAfterMs: 1000, prestartedMaxAgeMs: 1000, now: new Date() },
  );
  assert.equal(orphans.map(({ executionId, attempt }) => [executionId, attempt]), [[ID, 2], [ID, 4]]);
});

names.run();
