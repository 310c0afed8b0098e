/** The JobBus adapters: in-process (the embedded default) and NATS JetStream (several processes). */
export { createInProcessJobBus, type InProcessJobBusOptions } from './in-process.ts';
export { connectNatsJobBus, type NatsConnect, type NatsJobBusOptions, natsConnectionOptions, openNatsJobBus } from './nats/index.ts';
