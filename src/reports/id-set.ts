/**
 * Compact ID lists for the period report's per-month entries, and a set that numbers IDs across
 * months without a JavaScript string per ID.
 *
 * IDs are the anonymized 32-hex-digit hashes the store keeps; each is packed into 16 bytes, and a
 * month's list travels (cache, helper thread) inside its binary entry (period-entry.ts). An ID of any other shape (none
 * is expected; the store's schema does not forbid one) is kept as text beside them, so counts stay
 * exact whatever the store holds. A twelve-month period of 50k users, 100k hosts and 175k scripts
 * then folds in a few MB instead of a few hundred thousand strings per month.
 */
export interface IdList {
  /** 16 bytes per 32-hex ID, in list order. */
  hex: Buffer;
  /** Any other ID, after the hex ones in list order. */
  other: string[];
}

const HEX32 = /^[0-9a-f]{32}$/;

export function packIds(ids: readonly string[]): { list: IdList; order: string[] } {
  const hex = ids.filter((id) => HEX32.test(id));
  const other = ids.filter((id) => !HEX32.test(id));
  const buf = Buffer.allocUnsafe(hex.length * 16);
  hex.forEach((id, i) => buf.write(id, i * 16, 'hex'));
  return { list: { hex: buf, other }, order: [...hex, ...other] };
}

/** The list's IDs as text (sketches hash the text form). */
export function* idsOf(l: IdList): Generator<string> {
  const b = l.hex;
  for (let i = 0; i < b.length; i += 16) yield b.toString('hex', i, i + 16);
  yield* l.other;
}

/**
 * IDs numbered 0, 1, 2, … in order of first sight: an open-addressing hash table (linear probing,
 * kept under half full) whose slots hold only the number, 4 bytes each, and the keys stored
 * densely by number, 16 bytes each, plus a Map for IDs of another shape. A slot table of 4-word
 * keys cost 40–80 bytes per ID; this costs 24–40, which for a period's 1M+ distinct hosts and
 * scripts is tens of MB of peak RSS.
 */
export class IdSet {
  /** 4 words per number; the words of a number given to a text ID stay unused. */
  private keys = new Uint32Array(4 * 1024);
  private slots = new Int32Array(2048).fill(-1);
  private hexCount = 0;
  private readonly other = new Map<string, number>();

  get size(): number {
    return this.hexCount + this.other.size;
  }

  /** Adds every ID of the list; returns each one's number, in list order. */
  addAll(l: IdList): Int32Array {
    const b = l.hex;
    const n = b.length / 16;
    const out = new Int32Array(n + l.other.length);
    for (let i = 0; i < n; i++) {
      out[i] = this.addHex(b.readUInt32LE(i * 16), b.readUInt32LE(i * 16 + 4), b.readUInt32LE(i * 16 + 8), b.readUInt32LE(i * 16 + 12));
    }
    l.other.forEach((id, j) => {
      let num = this.other.get(id);
      if (num === undefined) this.other.set(id, (num = this.size));
      out[n + j] = num;
    });
    return out;
  }

  private addHex(a: number, b: number, c: number, d: number): number {
    if (2 * (this.hexCount + 1) > this.slots.length) this.rehash(this.slots.length * 2);
    const mask = this.slots.length - 1;
    const keys = this.keys;
    let slot = hash(a, b, c, d) & mask;
    for (;;) {
      const num = this.slots[slot]!;
      if (num === -1) {
        const mine = this.size;
        if (4 * (mine + 1) > this.keys.length) {
          // Grows by half: doubling would leave up to half of the largest array unused.
          const next = new Uint32Array(4 * Math.ceil((mine + 1) * 1.5));
          next.set(this.keys);
          this.keys = next;
        }
        const k = mine * 4;
        this.keys[k] = a;
        this.keys[k + 1] = b;
        this.keys[k + 2] = c;
        this.keys[k + 3] = d;
        this.slots[slot] = mine;
        this.hexCount++;
        return mine;
      }
      const k = num * 4;
      if (keys[k] === a && keys[k + 1] === b && keys[k + 2] === c && keys[k + 3] === d) return num;
      slot = (slot + 1) & mask;
    }
  }

  private rehash(size: number): void {
    const old = this.slots;
    this.slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    const keys = this.keys;
    for (const num of old) {
      if (num === -1) continue;
      const k = num * 4;
      let slot = hash(keys[k]!, keys[k + 1]!, keys[k + 2]!, keys[k + 3]!) & mask;
      while (this.slots[slot] !== -1) slot = (slot + 1) & mask;
      this.slots[slot] = num;
    }
  }
}

/** Mixes all four words: test and synthetic IDs differ only in a few of them. */
function hash(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ b ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ c ^ (h >>> 13), 0x27d4eb2f);
  h = Math.imul(h ^ d ^ (h >>> 16), 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}
