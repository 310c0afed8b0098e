/**
 * Connects to NATS with what the bus needs of a connection, then opens the bus on it. The
 * transport (nats.js v3 has one per runtime) is the caller's `connect`: this folder imports only
 * the protocol core (@nats-io/nats-core) and @nats-io/jetstream, never a transport.
 */
import type { ConnectionOptions, NatsConnection } from '@nats-io/nats-core';
import type { JobBus } from '../../../ports/job-bus.ts';
import { type NatsJobBusTopology, openNatsJobBus } from './bus.ts';

/** A nats.js transport's connect(), such as @nats-io/transport-node's. */
export type NatsConnect = (options: ConnectionOptions) => Promise<NatsConnection>;

export type NatsJobBusOptions = NatsJobBusTopology & {
  connect: NatsConnect;
  servers: string | string[];
  /** The server's user and password, or its token; none when it requires no authentication. */
  auth?: { user: string; pass: string } | { token: string } | undefined;
  /** Shown by the server (connz), to tell api and worker connections apart. */
  name?: string;
};

/** How every Faasbox connection to NATS behaves (the bus's, the key store's). */
export const natsConnectionOptions = ({ servers, auth, name }: Pick<NatsJobBusOptions, 'servers' | 'auth' | 'name'>): ConnectionOptions => ({
  servers,
  ...auth,
  ...(name ? { name } : {}),
  // A broker outage must never end the process: keep trying, and calls fail meanwhile.
  maxReconnectAttempts: -1,
  reconnectTimeWait: 500,
  // Notice a silently dead connection in ~30 s instead of the default minutes.
  pingInterval: 10_000,
  maxPingOut: 3,
});

export async function connectNatsJobBus({ connect, servers, auth, name, ...topology }: NatsJobBusOptions): Promise<JobBus> {
  const nc = await connect(natsConnectionOptions({ servers, auth, name }));
  try {
    return await openNatsJobBus(nc, topology);
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw error;
  }
}
