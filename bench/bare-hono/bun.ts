/** Bare Hono on Bun, as src/entry/bun.ts serves Faasbox: `bun bench/bare-hono/bun.ts`. */
import { announce, bareApp } from './app.ts';

// tsc runs with Node's types; this is the one Bun API used here.
declare const Bun: {
  serve(options: { port: number; hostname: string; fetch(request: Request): Response | Promise<Response> }): { port: number };
};

const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: bareApp.fetch });
announce(server.port);
