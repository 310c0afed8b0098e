import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** RFC 9457 problem details: the one shape of every error Faasbox answers with. */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extension: string]: unknown;
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  431: 'Request Header Fields Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function problemResponse(
  c: Context,
  status: ContentfulStatusCode,
  slug: string,
  detail: string,
  extensions: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  // Lets a user quote one id that finds the request in the logs.
  const correlationId: unknown = c.get('requestId');
  const body = problemJson(status, slug, detail, typeof correlationId === 'string' ? { ...extensions, correlationId } : extensions);
  return c.body(body, status, { ...headers, 'content-type': PROBLEM_CONTENT_TYPE });
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The JSON text of a problem; for answers made before a request reaches the app (see entry/node.ts). */
export function problemJson(status: number, slug: string, detail: string, extensions: Record<string, unknown> = {}): string {
  const body: Problem = { type: `urn:faasbox:problem:${slug}`, title: TITLES[status] ?? 'Error', status, detail, ...extensions };
  return JSON.stringify(body);
}
