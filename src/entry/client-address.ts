import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';
import type { OverHttps } from '../http/console/session.ts';
import type { ClientAddressOf } from '../http/env.ts';

/**
 * The caller's address when the api sits behind proxies it trusts (FAASBOX_TRUSTED_PROXIES):
 * `X-Forwarded-For` is read from the right, past each trusted hop, as Express does (proxy-addr);
 * from any other peer the header is ignored, so a client cannot choose its own address and
 * dodge the per-address login limit. With no trusted proxy the socket's address is the caller's.
 */
export function clientAddressBehind(trustedProxies: readonly string[], socketAddressOf: ClientAddressOf): ClientAddressOf {
  if (trustedProxies.length === 0) return socketAddressOf;
  const trust = proxyAddr.compile([...trustedProxies]);
  return (c) => {
    const forwardedFor = c.req.header('x-forwarded-for');
    const socketAddress = socketAddressOf(c);
    if (forwardedFor === undefined) return socketAddress;
    // proxy-addr reads only these two fields of Node's request; every runtime can give them.
    const request = { headers: { 'x-forwarded-for': forwardedFor }, socket: { remoteAddress: socketAddress } };
    return proxyAddr(request as unknown as IncomingMessage, trust);
  };
}

/**
 * Whether the caller's request came over HTTPS: the URL the runtime saw, or, from a proxy it
 * trusts (FAASBOX_TRUSTED_PROXIES), the first `X-Forwarded-Proto`. Anyone else's header is
 * ignored: a client cannot make the console drop its Secure cookie, nor claim one it has not.
 */
export function overHttpsBehind(trustedProxies: readonly string[], socketAddressOf: ClientAddressOf): OverHttps {
  const trust = trustedProxies.length === 0 ? null : proxyAddr.compile([...trustedProxies]);
  return (c) => {
    if (new URL(c.req.url).protocol === 'https:') return true;
    const forwarded = c.req.header('x-forwarded-proto');
    if (trust === null || forwarded === undefined) return false;
    return trust(socketAddressOf(c), 0) && forwarded.split(',')[0]!.trim().toLowerCase() === 'https';
  };
}
