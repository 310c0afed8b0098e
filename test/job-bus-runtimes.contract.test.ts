/**
 * The JobBus contract (test/job-bus.contract.test.ts, in-process and NATS) run as it is under Bun
 * and under Deno: @nats-io/transport-node on Bun's and Deno's Node compatibility, broker restart
 * and reconnection included. Both run at once, each with nats-servers of its own (Deno may
 * spawn nats-server, and finds free loopback ports by listening on port 0).
 */
import { suite } from 'uvu';
import { passesUnder } from './support/other-runtime.ts';

const FILE = 'test/job-bus.contract.test.ts';
const suites = ['job-bus contract [in-process]', 'job-bus contract [nats]'];
const denoPermissions = ['--allow-net', '--allow-read', '--allow-write', '--allow-env', '--allow-run=nats-server'];
let runs: { bun: Promise<void>; deno: Promise<void> } | undefined;
/** Started by the first test (not on import, beside every other suite), awaited by each. */
function startRuns() {
  if (runs === undefined) {
    runs = { bun: passesUnder('bun', FILE, { suites }), deno: passesUnder('deno', FILE, { suites, denoPermissions }) };
    // Awaited in the tests; until then a failure must not count as unhandled.
    for (const run of Object.values(runs)) run.catch(() => {});
  }
  return runs;
}

const onRuntimes = suite('job-bus contract under bun and deno');

onRuntimes('bun: every job-bus contract test passes', () => startRuns().bun);
onRuntimes('deno: every job-bus contract test passes', () => startRuns().deno);

onRuntimes.run();
