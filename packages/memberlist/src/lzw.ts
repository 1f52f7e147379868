/**
 * LZW as Go's compress/lzw does it with LSB bit order and literal width 8 (the GIF flavour),
 * which is what memberlist's compress message (Algo 0) carries:
 * codes 0..255 literals, 256 clear, 257 EOF; widths 9..12 bits packed least-significant first;
 * the width grows when the next code to assign reaches 1<<width (no TIFF early change).
 * The writer starts with a clear code (Go ≥ 1.17; older Go did not — the reader accepts both),
 * emits clear and resets when the next code would be 4095, and ends with EOF.
 */

const CLEAR = 256;
const EOF = 257;
const MAX_WIDTH = 12;
const MAX_CODE = (1 << MAX_WIDTH) - 1; // 4095

/** Compresses bytes exactly as Go's lzw.NewWriter(w, lzw.LSB, 8). */
export function lzwCompress(input: Uint8Array): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let nBits = 0;
  let width = 9;
  let hi = EOF;
  let overflow = 512;
  let table = new Map<number, number>();
  const write = (code: number): void => {
    bits |= code << nBits;
    nBits += width;
    while (nBits >= 8) {
      out.push(bits & 0xff);
      bits >>>= 8;
      nBits -= 8;
    }
  };
  // Returns true when the table was reset (Go's errOutOfCodes).
  const incHi = (): boolean => {
    hi++;
    if (hi === overflow) {
      width++;
      overflow <<= 1;
    }
    if (hi === MAX_CODE) {
      write(CLEAR);
      width = 9;
      hi = EOF;
      overflow = 512;
      table = new Map();
      return true;
    }
    return false;
  };
  write(CLEAR);
  if (input.length > 0) {
    let code = input[0] ?? 0;
    for (let i = 1; i < input.length; i++) {
      const lit = input[i] ?? 0;
      const key = (code << 8) | lit;
      const hit = table.get(key);
      if (hit !== undefined) {
        code = hit;
        continue;
      }
      write(code);
      code = lit;
      if (incHi()) continue;
      table.set(key, hi);
    }
    write(code);
    incHi();
  }
  write(EOF);
  if (nBits > 0) out.push(bits & 0xff);
  return Uint8Array.from(out);
}

/** Thrown by lzwDecompress on invalid or truncated input, or output over the limit. */
export class LzwError extends Error {
  /** Creates an LZW error. */
  constructor(message: string) {
    super(message);
    this.name = 'LzwError';
  }
}

/**
 * Decompresses Go LSB/8 LZW. Requires the EOF code (Go reports ErrUnexpectedEOF otherwise);
 * stops with an error once the output would exceed `maxOut` bytes (decompression-bomb guard).
 */
export function lzwDecompress(input: Uint8Array, maxOut: number): Uint8Array {
  const prefix = new Uint16Array(1 << MAX_WIDTH);
  const suffix = new Uint8Array(1 << MAX_WIDTH);
  let out = new Uint8Array(Math.min(Math.max(input.length * 4, 64), maxOut + 1));
  let o = 0;
  const push = (b: number): void => {
    if (o >= out.length) {
      if (o >= maxOut) throw new LzwError(`lzw: output exceeds ${maxOut} bytes`);
      const next = new Uint8Array(Math.min(out.length * 2, maxOut + 1));
      next.set(out);
      out = next;
    }
    out[o++] = b;
  };
  const stack = new Uint8Array(1 << MAX_WIDTH);
  let bits = 0;
  let nBits = 0;
  let pos = 0;
  let width = 9;
  let hi = EOF;
  let overflow = 512;
  let last = -1;
  for (;;) {
    while (nBits < width) {
      if (pos >= input.length) throw new LzwError('lzw: unexpected EOF');
      bits |= (input[pos++] ?? 0) << nBits;
      nBits += 8;
    }
    const code = bits & ((1 << width) - 1);
    bits >>>= width;
    nBits -= width;
    if (code < CLEAR) {
      push(code);
      if (last !== -1) {
        suffix[hi] = code;
        prefix[hi] = last;
      }
    } else if (code === CLEAR) {
      width = 9;
      hi = EOF;
      overflow = 512;
      last = -1;
      continue;
    } else if (code === EOF) {
      return out.slice(0, o);
    } else if (code <= hi && !(code === hi && last === -1)) {
      // Expand `code` into the stack (reverse order), handling the KwKwK case code === hi.
      let sp = 0;
      let c = code;
      if (code === hi) {
        c = last;
        while (c >= CLEAR) c = prefix[c] ?? 0;
        stack[sp++] = c;
        c = last;
      }
      while (c >= CLEAR) {
        stack[sp++] = suffix[c] ?? 0;
        c = prefix[c] ?? 0;
      }
      stack[sp++] = c;
      const head = c;
      while (sp > 0) push(stack[--sp] ?? 0);
      if (last !== -1) {
        suffix[hi] = head;
        prefix[hi] = last;
      }
    } else {
      throw new LzwError('lzw: invalid code');
    }
    last = code;
    hi++;
    if (hi >= overflow) {
      if (width === MAX_WIDTH) {
        last = -1;
        hi--;
      } else {
        width++;
        overflow = 1 << width;
      }
    }
  }
}
