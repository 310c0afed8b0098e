/**
 * The JobBus over NATS JetStream (nats.js v3), for api and worker processes on several hosts.
 * nats.js changed its API between v2 and v3: nothing outside this folder depends on it, but
 * for the transport each entry chooses for its runtime.
 */
export { openNatsJobBus, type NatsJobBusTopology } from './bus.ts';
export { connectNatsJobBus, type NatsConnect, type NatsJobBusOptions, natsConnectionOptions } from './connect.ts';
