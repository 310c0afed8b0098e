/** Bare Hono on Node, as src/entry/node.ts serves Faasbox: `node --import tsx bench/bare-hono/node.ts`. */
import { serve } from '@hono/node-server';
import { announce, bareApp } from './app.ts';

serve({ fetch: bareApp.fetch, port: 0, hostname: '127.0.0.1' }, (info) => announce(info.port));
