/**
 * IP address text ↔ the raw bytes of a Go net.IP (4 bytes, or 16 — possibly IPv4-mapped).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Parses a textual IPv4 (→ 4 bytes) or IPv6 (→ 16 bytes) address; undefined if invalid. */
export function ipToBytes(ip: string): Uint8Array | undefined {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) return undefined;
  let text = ip;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const words: number[] = [];
  const parseSide = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    for (const part of s.split(':')) {
      if (part.includes('.')) {
        const v4 = part.split('.').map(Number);
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else out.push(parseInt(part, 16));
    }
    return out;
  };
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    const left = parseSide(text.slice(0, dbl));
    const right = parseSide(text.slice(dbl + 2));
    words.push(...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right);
  } else words.push(...parseSide(text));
  if (words.length !== 8) return undefined;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = (w >>> 8) & 0xff;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}

/** Formats Go net.IP bytes as text; IPv4-mapped 16-byte forms become dotted IPv4. */
export function bytesToIp(b: Uint8Array): string | undefined {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) return undefined;
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
  if (mapped) return Array.from(b.subarray(12)).join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  // Compress the longest run of zero words (RFC 5952), enough for readable logs and dgram.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return words.join(':');
  return `${words.slice(0, bestStart).join(':')}::${words.slice(bestStart + bestLen).join(':')}`;
}

/**
 * Parses a join target: "ip", "ip:port", "[v6]:port", optionally prefixed "name/" as Go allows.
 * A missing port means `defaultPort`.
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
  if (!Number.isInteger(port) || port < 1 || port > 65535 || ipToBytes(addr) === undefined) return undefined;
  return name === undefined ? { addr, port } : { name, addr, port };
}
