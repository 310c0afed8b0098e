import { Hono } from 'hono';

/**
 * The baseline of `api-functions-*`: Hono with one route and nothing else (no middleware, no
 * auth, no store), served the way each Faasbox entry serves its app. What Faasbox answers more
 * slowly than this is the cost of its own layers.
 */
export const bareApp = new Hono().get('/', (c) => c.text('Hello Hono!'));

/** The one line a bare server prints once it listens, for the benchmark to read its address. */
export const announce = (port: number) => console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` }));
