/**
 * Three real nats-servers with JetStream forming one cluster, for the suites that kill brokers:
 * loopback only (client, route and monitoring listeners), free ports, a config file and a
 * throw-away store directory per node. A node killed and restarted keeps its ports and store, as
 * a crashed server restarted by its supervisor would.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK, acceptsOnLoopback, freePort, killChild, startServiceProcess } from './service-process.ts';

const NODES = 3;
const CLUSTER_NAME = 'faasbox-test';
/** A loaded 2-core machine elects a meta leader in a few seconds; a restarted node catches up in a few more. */
const WHOLE_TIMEOUT_MS = 60_000;

export type NatsCluster = {
  /** The client URLs of the three nodes, in order: FAASBOX_NATS_URL takes them comma-separated. */
  urls: string[];
  /** SIGKILLs node i (0, 1 or 2), as a crash would; its store stays. */
  kill(i: number): Promise<void>;
  /** Starts node i again (killing it first if it runs) on the same ports and store; resolves once it accepts clients. */
  restart(i: number): Promise<void>;
  /**
   * Resolves once every node is up, JetStream has a meta leader that counts all three as
   * current, and each node's /healthz says its streams and consumers have caught up.
   */
  untilWhole(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes the directories. */
  stop(): Promise<void>;
};

type Node = { name: string; clientPort: number; routePort: number; monitorPort: number; configFile: string; child: ChildProcess | null };

export async function startNatsCluster(): Promise<NatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'faasbox-nats-cluster-'));
  const nodes: Node[] = [];
  for (let i = 0; i < NODES; i++) {
    nodes.push({ name: `n${i + 1}`, clientPort: await freePort(), routePort: await freePort(), monitorPort: await freePort(), configFile: '', child: null });
  }
  for (const node of nodes) {
    const nodeDir = join(dir, node.name);
    mkdirSync(nodeDir);
    node.configFile = join(nodeDir, 'nats.conf');
    const routes = nodes.filter((other) => other !== node).map((other) => `nats-route://${LOOPBACK}:${other.routePort}`);
    writeFileSync(
      node.configFile,
      [
        `server_name: ${node.name}`,
        `host: ${LOOPBACK}`,
        `port: ${node.clientPort}`,
        `http: "${LOOPBACK}:${node.monitorPort}"`,
        // As in test/support/nats-server.ts: a status carries up to 2 MiB of output.
        'max_payload: 8MB',
        `jetstream { store_dir: ${JSON.stringify(join(nodeDir, 'store'))} }`,
        // Advertise the loopback addresses the nodes listen on, never the host's others.
        `cluster { name: ${CLUSTER_NAME}, host: ${LOOPBACK}, port: ${node.routePort}, advertise: "${LOOPBACK}:${node.routePort}", routes: [${routes.map((r) => JSON.stringify(r)).join(', ')}] }`,
        `client_advertise: "${LOOPBACK}:${node.clientPort}"`,
        '',
      ].join('\n'),
    );
  }

  const start = async (node: Node) => {
    // -a again on the command line: nothing may listen beyond loopback, whatever the file says.
    node.child = await startServiceProcess('nats-server', ['-c', node.configFile, '-a', LOOPBACK], () => acceptsOnLoopback(node.clientPort));
  };
  const kill = async (node: Node) => {
    const current = node.child;
    node.child = null;
    if (current) await killChild(current);
  };
  const nodeAt = (i: number) => {
    const node = nodes[i];
    if (!node) throw new RangeError(`no node ${i}: the cluster has ${NODES}`);
    return node;
  };

  const untilWhole = async (timeoutMs = WHOLE_TIMEOUT_MS) => {
    const giveUpAt = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      last = await wholeProblem(nodes);
      if (last === '') return;
      if (Date.now() > giveUpAt) throw new Error(`the NATS cluster was not whole within ${timeoutMs} ms: ${last}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  const stop = async () => {
    await Promise.all(nodes.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(nodes.map(start));
    await untilWhole();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    urls: nodes.map((node) => `nats://${LOOPBACK}:${node.clientPort}`),
    kill: (i) => kill(nodeAt(i)),
    restart: async (i) => {
      const node = nodeAt(i);
      await kill(node);
      await start(node);
    },
    untilWhole,
    stop,
  };
}

type Jsz = { meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { name: string; current: boolean }[] } };

/** Empty when the cluster is whole; otherwise what is missing, for the timeout's message. */
async function wholeProblem(nodes: readonly Node[]): Promise<string> {
  for (const node of nodes) {
    if (!node.child) return `${node.name} is not running`;
    // 200 once JetStream on this node is current: a meta leader known, its streams and consumers caught up.
    const health = await fetchText(`http://${LOOPBACK}:${node.monitorPort}/healthz`);
    if (health?.status !== 200) return `${node.name} /healthz: ${health ? `${health.status} ${health.text}` : 'no answer'}`;
  }
  // Only the meta leader lists its followers (and not itself): ask each node, and read the leader's.
  for (const node of nodes) {
    const jsz = await fetchText(`http://${LOOPBACK}:${node.monitorPort}/jsz`);
    const meta = jsz?.status === 200 ? (JSON.parse(jsz.text) as Jsz).meta_cluster : undefined;
    if (meta?.leader !== node.name) continue;
    const current = (meta.replicas ?? []).filter((replica) => replica.current).length;
    if (current < nodes.length - 1) return `meta leader ${meta.leader}, followers ${JSON.stringify(meta.replicas ?? [])}`;
    return '';
  }
  return 'no JetStream meta leader';
}

async function fetchText(url: string): Promise<{ status: number; text: string } | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { status: response.status, text: await response.text() };
  } catch {
    return null;
  }
}
