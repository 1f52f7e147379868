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

/** Size of the compressor's open-addressing hash table (≥ 4× the 4096 codes). */
const HASH_SIZE = 1 << 14;
const HASH_MASK = HASH_SIZE - 1;
// One table shared by every call (compression is synchronous). An entry is live only if its
// generation stamp is the current one, so a new call or a reset clears it in O(1).
const hashKeys = new Int32Array(HASH_SIZE);
const hashVals = new Uint16Array(HASH_SIZE);
const hashGen = new Uint32Array(HASH_SIZE);
let generation = 0;

function nextGeneration(): number {
  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    hashGen.fill(0);
    generation = 1;
  }
  return generation;
}

/**
 * Compresses bytes exactly as Go's lzw.NewWriter(w, lzw.LSB, 8). The dictionary maps
 * (prefix code, next byte) to a code through a typed-array hash table: no Map, no per-byte
 * allocation (the simulator compresses millions of packets).
 */
export function lzwCompress(input: Uint8Array): Uint8Array {
  let out = new Uint8Array(Math.ceil(input.length * 1.5) + 64);
  let o = 0;
  let bits = 0;
  let nBits = 0;
  let width = 9;
  let hi = EOF;
  let overflow = 512;
  const keys = hashKeys;
  const vals = hashVals;
  const gens = hashGen;
  let gen = nextGeneration();
  const write = (code: number): void => {
    bits |= code << nBits;
    nBits += width;
    while (nBits >= 8) {
      if (o >= out.length) {
        const next = new Uint8Array(out.length * 2);
        next.set(out);
        out = next;
      }
      out[o++] = bits & 0xff;
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
      gen = nextGeneration();
      return true;
    }
    return false;
  };
  write(CLEAR);
  if (input.length > 0) {
    let code = input[0] ?? 0;
    outer: for (let i = 1; i < input.length; i++) {
      const lit = input[i] ?? 0;
      const key = (code << 8) | lit;
      let h = ((key >>> 12) ^ key) & HASH_MASK;
      while (gens[h] === gen) {
        if (keys[h] === key) {
          code = vals[h] ?? 0;
          continue outer;
        }
        h = (h + 1) & HASH_MASK;
      }
      write(code);
      code = lit;
      if (incHi()) continue;
      keys[h] = key;
      vals[h] = hi;
      gens[h] = gen;
    }
    write(code);
    incHi();
  }
  write(EOF);
  if (nBits > 0) {
    if (o >= out.length) {
      const next = new Uint8Array(out.length + 1);
      next.set(out);
      out = next;
    }
    out[o++] = bits & 0xff;
  }
  return out.slice(0, o);
}

/** Thrown by lzwDecompress on invalid or truncated input, or output over the limit. */
export class LzwError extends Error {
  /** Creates an LZW error; `limit` marks "output over the limit" (a bomb) rather than bad data. */
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message);
    this.name = 'LzwError';
  }
}

// Decoder tables shared by every call (decompression is synchronous); every entry is written
// before it is read within one stream, so they need no clearing.
const decPrefix = new Uint16Array(1 << MAX_WIDTH);
const decSuffix = new Uint8Array(1 << MAX_WIDTH);
const decStack = new Uint8Array(1 << MAX_WIDTH);

/**
 * Decompresses Go LSB/8 LZW. Requires the EOF code (Go reports ErrUnexpectedEOF otherwise);
 * stops with an error once the output would exceed `maxOut` bytes (decompression-bomb guard).
 */
export function lzwDecompress(input: Uint8Array, maxOut: number): Uint8Array {
  const prefix = decPrefix;
  const suffix = decSuffix;
  let out = new Uint8Array(Math.min(Math.max(input.length * 4, 64), maxOut));
  let o = 0;
  // Makes room for n more bytes, or fails once the output would pass maxOut (a bomb).
  const ensure = (n: number): void => {
    if (o + n <= out.length) return;
    if (o + n > maxOut) throw new LzwError(`lzw: output exceeds ${maxOut} bytes`, true);
    const next = new Uint8Array(Math.min(Math.max(out.length * 2, o + n), maxOut));
    next.set(out.subarray(0, o));
    out = next;
  };
  const stack = decStack;
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
      ensure(1);
      out[o++] = code;
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
      ensure(sp);
      while (sp > 0) out[o++] = stack[--sp] ?? 0;
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
