import { connect as connectNats } from '@nats-io/transport-node';
import { openNodeSqlite } from '../adapters/sqlite/node-sqlite-driver.ts';
import { takeOverBody } from './discard-unread-body.ts';
import { runFaasbox } from './start.ts';

/**
 * Deno: Deno.serve and node:sqlite, npm packages from node_modules (deno.json). Type-checked by
 * `deno check` with Deno's own types, not by tsc (tsconfig.json leaves this file out). NATS
 * through @nats-io/transport-node on Deno's Node compatibility: @nats-io/transport-deno is not a
 * dependency, and the contract suite passes on this one under Deno (job-bus-runtimes).
 */
runFaasbox({
  name: 'deno',
  async serve(fetch, { port, hostname, linger }) {
    // onListen: Deno would print "Listening on …" to stdout, which carries JSON lines only.
    const server = Deno.serve({ port, hostname, onListen() {} }, async (request, info) => {
      const body = takeOverBody(request);
      try {
        return await fetch(body.request, info);
      } finally {
        body.discardRest(linger);
      }
    });
    return { port: server.addr.port, close: () => server.shutdown() };
  },
  openSqlite: openNodeSqlite,
  connectNats,
  clientAddressOf: (c) => (c.env as Deno.ServeHandlerInfo<Deno.NetAddr>).remoteAddr.hostname,
});
