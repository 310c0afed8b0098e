/**
 * The part of autocannon 8 (which ships no types) that bench/api.ts calls: run, with the
 * `tick` (once a second) and `response` events, and the result's totals.
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export type Options = {
    url: string;
    connections?: number;
    duration?: number;
    headers?: Record<string, string>;
  };

  export type Result = {
    duration: number;
    requests: { total: number; average: number };
    latency: { p50: number; p99: number };
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
  };

  export interface Instance extends EventEmitter {
    on(event: 'tick', listener: (sample: { counter: number; bytes: number }) => void): this;
    on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void): this;
    on(event: 'done', listener: (result: Result) => void): this;
    stop(): void;
  }

  function autocannon(options: Options, callback: (error: Error | null, result: Result) => void): Instance;
  export default autocannon;
}
