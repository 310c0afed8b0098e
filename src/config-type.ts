/**
 * Every setting Faasbox reads, validated once at start by loadConfig (config.ts). Nothing else
 * reads the environment: the entry point passes this object down. Apart from config.ts, so that
 * the core can name it without loading the validation's dependencies.
 */
export type Config = {
  port: number;
  host: string;
  production: boolean;
  dataDir: string;
  /** Set: events live in EventStoreDB at this connection string; unset: the embedded SQLite store in the data dir. */
  eventStoreUrl: string | undefined;
  /** This api's read models and their checkpoints: one database per api process, never shared. */
  projectionsPath: string;
  /**
   * Required by an api in production (resolveJwtSecret); in development the entry point keeps a
   * generated one in the data dir. Workers and the operator command sign nothing and need none.
   */
  jwtSecret: string | undefined;
  /**
   * The operator's master keys, 32 bytes each, which wrap every user's data key (src/auth/envelope.ts).
   * `current` (FAASBOX_MASTER_KEY) wraps new keys; `previous` (FAASBOX_MASTER_KEY_PREVIOUS) still
   * unwrap the keys wrapped before a rotation. `current` is required in production and otherwise
   * generated and kept in the data dir (resolveMasterKeys, src/entry/dev-master-key.ts).
   */
  masterKeys: { current: Uint8Array<ArrayBuffer> | undefined; previous: readonly Uint8Array<ArrayBuffer>[] };
  tokenLifetimeSeconds: number;
  bcryptCost: number;
  bodyLimitBytes: number;
  /**
   * After an answer sent before the request's body was read (a 413), how much more of the body
   * the api reads and discards, and for how long, before it closes the connection: a client still
   * sending must get to read that answer, not a reset (see src/entry/lingering-close.ts).
   */
  linger: { maxBytes: number; maxMs: number };
  functionLimits: {
    defaultTimeoutMs: number;
    maxTimeoutMs: number;
    defaultMemoryMb: number;
    maxMemoryMb: number;
    /** The most pre-started containers an owner may ask each worker to keep for one function. */
    maxMinWarm: number;
    /** Whether a function may ask for `reuse` (FAASBOX_REUSE). */
    reuseAllowed: boolean;
  };
  /** Registries functions may pull from (`host[:port]`, `docker.io` for Docker Hub); empty: any. */
  allowedRegistries: ReadonlySet<string>;
  /**
   * Hosts an asynchronous execution's callback may go to (`host` for the scheme's default port,
   * `host:port`, normalized: src/domain/callbacks.ts); empty: callbacks are refused.
   */
  callbacks: { allowedHosts: ReadonlySet<string> };
  /**
   * Peers whose `X-Forwarded-For` is believed (IPs, CIDR ranges, or `loopback`, `linklocal`,
   * `uniquelocal`); empty: the socket's address is the client's.
   */
  trustedProxies: readonly string[];
  executions: {
    maxActivePerUser: number;
    /** Across all users; null: no global cap. */
    maxActive: number | null;
    /** Added to a function's timeout for queueing, pulling and starting: the execution's deadline. */
    graceMs: number;
  };
  /** Set: jobs and results go over NATS JetStream; unset: the in-process bus (one process). */
  nats: NatsEndpoint | undefined;
  worker: {
    id: string | undefined;
    concurrency: number;
    pullPolicy: 'missing' | 'always';
    outputLimitBytes: number;
    allowRoot: boolean;
    /** RLIMIT_NOFILE of every process in a function's container. */
    nofile: { soft: number; hard: number };
    /** Images never pruned, as written in functions (`registry/name:tag`). */
    keepImages: ReadonlySet<string>;
    /** Percent use of the Docker data file system that starts pruning, and where it stops. */
    diskHighWater: number;
    diskLowWater: number;
    /** How often the worker reaps orphans and checks its disk. */
    housekeepingIntervalMs: number;
    /** On SIGTERM, how long running executions may go on before they are killed. */
    drainTimeoutMs: number;
    /** The agent's binary as the engine's host sees it; undefined: the one `npm ci` built. */
    agentPath: string | undefined;
  };
  /** Containers a worker starts ahead of calls (worker/docker/prestart-pool.ts). */
  prestart: {
    enabled: boolean;
    perFunction: number;
    total: number;
    idleMs: number;
    maxAgeMs: number;
  };
  /**
   * Containers that serve successive executions of a function that asked for it, cleaned in
   * between (worker/docker/prestart-pool.ts). A reused container lives at most prestart.maxAgeMs.
   */
  reuse: {
    /** Off: an api refuses `reuse: true`, and a worker runs such functions in fresh containers. */
    enabled: boolean;
    /** Executions one container serves before it is replaced. */
    maxExecutions: number;
  };
  /**
   * A `worker` process serves GET /metrics on this port (on `host`); undefined: no metrics
   * server. The api and `all` serve /metrics on the HTTP port and ignore it.
   */
  metricsPort: number | undefined;
  /** Where the Docker engine listens (`DOCKER_HOST`); undefined: the default local socket. */
  docker: { socketPath: string } | { host: string; port: number; protocol: 'http' } | undefined;
};

/**
 * FAASBOX_NATS_URL: one or more comma-separated `nats://` or `tls://` URLs. Credentials ride in
 * the first URL's user part, as in most connection strings (`nats://user:password@host:4222`,
 * or a token alone: `nats://token@host:4222`); nats.js ignores them there, so they are taken
 * out and given to it as options.
 */
export type NatsEndpoint = {
  servers: string[];
  auth: { user: string; pass: string } | { token: string } | undefined;
  /**
   * FAASBOX_NATS_REPLICAS: how many servers of a JetStream cluster keep each of Faasbox's streams
   * and its key-value bucket (1 on a single server, 3 on a three-node cluster). More than the
   * cluster has servers, and the first process to start cannot create them (it stops, saying so).
   */
  replicas: number;
};
