/**
 * The raw bytes of a Go net.IP (4 bytes, or 16, possibly IPv4-mapped) as text, and join
 * targets. Parsing and the canonical forms live in @ironlb/core's address module; this file
 * keeps only what is Go's own: how net.IP.String prints a 16-byte IPv4-mapped address.
 */
import { type IPText, formatIPv4At, formatIPv6At, isIPv4MappedAt, parseIPBytes, viewOf } from '@ironlb/core';

/**
 * Formats Go net.IP bytes as net.IP.String does: 4 bytes, and 16 bytes of an IPv4-mapped address
 * (Go's net.ParseIP("10.0.0.1") is one), as dotted IPv4; other 16 bytes as RFC 5952 text;
 * undefined for any other length. Dotted, because a peer gossiping ::ffff:10.0.0.1 is reached
 * over IPv4 at 10.0.0.1 and Kubernetes lists its Node address as 10.0.0.1. Core's formatters
 * print the same bytes as ::ffff:10.0.0.1 (RFC 5952 §5), keeping the family of the bytes.
 */
export function formatGoIP(b: Uint8Array): IPText | undefined {
  if (b.length === 4) return formatIPv4At(viewOf(b), 0);
  if (b.length !== 16) return undefined;
  const v = viewOf(b);
  return isIPv4MappedAt(v, 0) ? formatIPv4At(v, 12) : formatIPv6At(v, 0);
}

/**
 * Parses a join target: "ip", "ip:port", "[v6]:port", optionally prefixed "name/" as Go allows.
 * A missing port means `defaultPort`. The address is returned as written (no zone, no host name).
 */
export function parseJoinAddress(s: string, defaultPort: number): { name?: string; addr: string; port: number } | undefined {
  let rest = s.trim();
  let name: string | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    name = rest.slice(0, slash);
    rest = rest.slice(slash + 1);
  }
  let addr = rest;
  let port = defaultPort;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) return undefined;
    addr = rest.slice(1, end);
    const tail = rest.slice(end + 1);
    if (tail.startsWith(':')) port = Number(tail.slice(1));
    else if (tail !== '') return undefined;
  } else if (rest.split(':').length === 2) {
    const i = rest.indexOf(':');
    addr = rest.slice(0, i);
    port = Number(rest.slice(i + 1));
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535 || parseIPBytes(addr) === null) return undefined;
  return name === undefined ? { addr, port } : { name, addr, port };
}
