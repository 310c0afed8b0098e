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
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
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
  const body: Problem = {
    type: `urn:faasbox:problem:${slug}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    ...extensions,
  };
  // Lets a user quote one id that finds the request in the logs.
  const correlationId: unknown = c.get('correlationId');
  if (typeof correlationId === 'string') body.correlationId = correlationId;
  return c.body(JSON.stringify(body), status, { ...headers, 'content-type': 'application/problem+json' });
}

