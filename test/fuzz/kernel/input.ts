// The bytes a kernel fuzz case is made of. Every target draws its whole case (ring contents,
// indices, frames, grant-copy results) from one byte string, so a case is replayable from those
// bytes alone, and a coverage-guided engine that mutates bytes (libFuzzer) and the seeded random
// runner drive the same targets. Reads past the end give zeros: a short input is a valid case.

export class FuzzInput {
  private at = 0;
  /** Bytes [0, ready) hold the case; a lazy source makes more on demand, up to `length`. */
  private ready: number;
  constructor(readonly bytes: Uint8Array, private readonly length = bytes.length, private readonly source?: CaseBytes) {
    this.ready = source === undefined ? length : 0;
  }

  get remaining(): number {
    return Math.max(0, this.length - this.at);
  }

  /** How many bytes the case read: the prefix that replays it. */
  get used(): number {
    return Math.min(this.at, this.length);
  }

  private more(upTo: number): void {
    this.ready = this.source!.extend(Math.min(this.length, upTo));
  }

  u8(): number {
    if (this.at >= this.ready) {
      if (this.at >= this.length) return (this.at++, 0);
      this.more(this.at + 256);
    }
    return this.bytes[this.at++]!;
  }

  u16(): number {
    return this.u8() | (this.u8() << 8);
  }

  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    if (n <= 256) return this.u8() % n;
    if (n <= 65536) return this.u16() % n;
    return this.u32() % n;
  }

  /** True with probability about `weight`/256. */
  chance(weight: number): boolean {
    return this.u8() < weight;
  }

  pick<T>(choices: readonly T[]): T {
    return choices[this.below(choices.length)]!;
  }

  /** Copies up to `n` input bytes into `to` at `offset` (zeros past the end); returns n. */
  fill(to: Uint8Array, offset: number, n: number): number {
    if (this.at + n > this.ready && this.ready < this.length) this.more(this.at + n);
    const take = Math.min(n, this.remaining);
    to.set(this.bytes.subarray(this.at, this.at + take), offset);
    if (take < n) to.fill(0, offset + take, offset + n);
    this.at += n;
    return n;
  }
}

/**
 * xorshift seeded per case: the random runner's byte source. Bytes are made as the case reads
 * them (most cases read a few hundred of their up to 4 KiB), so (seed, index) gives the same
 * bytes however far a case reads.
 */
export class CaseBytes {
  readonly buffer: Uint8Array;
  private readonly words: Uint32Array;
  private s0 = 1;
  private s1 = 2;
  private made = 0;
  constructor(readonly size: number) {
    this.buffer = new Uint8Array((size + 3) & ~3);
    this.words = new Uint32Array(this.buffer.buffer);
  }

  /** Starts case (seed, index): its bytes are made lazily through the returned input. */
  input(seed: number, index: number): FuzzInput {
    this.s0 = (Math.imul(seed ^ 0x9E3779B9, 0x85EBCA6B) ^ index) | 1;
    this.s1 = Math.imul(index ^ 0xC2B2AE35, 0x27D4EB2F) ^ seed ^ 0x165667B1;
    this.made = 0;
    return new FuzzInput(this.buffer, this.size, this);
  }

  /** Makes bytes up to at least `upTo` (word-aligned); returns how many are ready. */
  extend(upTo: number): number {
    const words = Math.min(this.words.length, (upTo + 3) >> 2);
    let s0 = this.s0, s1 = this.s1;
    for (let i = this.made; i < words; i++) {
      let x = s0;
      const y = s1;
      s0 = y;
      x ^= x << 23;
      x ^= x >>> 17;
      x ^= y ^ (y >>> 26);
      s1 = x;
      this.words[i] = (x + y) | 0;
    }
    this.s0 = s0;
    this.s1 = s1;
    if (words > this.made) this.made = words;
    return Math.min(this.size, this.made * 4);
  }

  /** The whole case's bytes, for a counterexample or a corpus entry. */
  all(seed: number, index: number, length = this.size): Uint8Array {
    this.input(seed, index);
    this.extend(this.size);
    return this.buffer.slice(0, length);
  }
}
