import { SpillFile } from './spill-file.js';

/** Rows per page of a list (53 KB at 96 dimensions): a scan reads a list a page at a time. */
const PAGE_SHIFT = 9;
export const PAGE_ROWS = 1 << PAGE_SHIFT;

/** Rows gathered while in bulk before they are written, a run of consecutive rows per call. */
const BULK_ROWS = 1024;

/** A buffer of its own (so 4-aligned) with int8, float32 and int32 views on it. */
export interface RowBuffer {
  buf: Buffer;
  i8: Int8Array;
  f32: Float32Array;
  i32: Int32Array;
}

export function rowBuffer(bytes: number): RowBuffer {
  const buf = Buffer.allocUnsafeSlow(bytes);
  return {
    buf,
    i8: new Int8Array(buf.buffer, buf.byteOffset, bytes),
    f32: new Float32Array(buf.buffer, buf.byteOffset, bytes >> 2),
    i32: new Int32Array(buf.buffer, buf.byteOffset, bytes >> 2),
  };
}

/**
 * Fixed-size rows filed under `lists` lists, in a spill file (spill-file.ts): each list's rows
 * together in pages of PAGE_ROWS, so a list is read back a page per call. A row is named by where
 * it is (`page × PAGE_ROWS + row in page`; its byte offset is that times the row size). Rows are
 * only added or rewritten in place; what a row means (and whether it is still current) is the
 * caller's. In bulk (`bulk`), added rows are gathered and written a run of consecutive rows per
 * call, always before anything is read.
 */
export class RowPages {
  private readonly file: SpillFile;
  /** Each list's pages, in order. */
  private readonly pages: number[][];
  /** Rows in each list. */
  private readonly sizes: number[];
  /** Each page's list. */
  private readonly pageList: number[] = [];
  /** The page being read, shared by every scan of this store. */
  readonly page: RowBuffer;
  private gathered?: { rows: Buffer; at: number[] };

  constructor(
    readonly rowBytes: number,
    readonly lists: number,
    dir?: string,
  ) {
    this.file = new SpillFile(dir);
    this.pages = Array.from({ length: lists }, () => []);
    this.sizes = new Array<number>(lists).fill(0);
    this.page = rowBuffer(rowBytes * PAGE_ROWS);
  }

  /** The list row `at` is filed under. */
  listOf(at: number): number {
    return this.pageList[at >> PAGE_SHIFT]!;
  }

  /** Writes `row` as list `l`'s next row (a new page when its last is full); returns where. */
  append(l: number, row: Buffer): number {
    const n = this.sizes[l]!;
    const pages = this.pages[l]!;
    // A page is added once per PAGE_ROWS rows, also when a write into it failed before.
    if (pages.length * PAGE_ROWS <= n) {
      pages.push(this.pageList.length);
      this.pageList.push(l);
    }
    const at = pages[n >> PAGE_SHIFT]! * PAGE_ROWS + (n & (PAGE_ROWS - 1));
    this.put(at, row);
    this.sizes[l] = n + 1;
    return at;
  }

  /** Writes `row` at row `at` (or gathers it in bulk). */
  put(at: number, row: Buffer): void {
    const g = this.gathered;
    if (!g) return this.file.write(row, this.rowBytes, at * this.rowBytes);
    if (g.at.length === BULK_ROWS) this.flush();
    row.copy(g.rows, g.at.length * this.rowBytes, 0, this.rowBytes);
    g.at.push(at);
  }

  /** Runs `fill` with the rows it adds gathered and written in runs; they are all written when it returns or throws. */
  bulk(fill: () => void): void {
    this.gathered = { rows: Buffer.allocUnsafe(BULK_ROWS * this.rowBytes), at: [] };
    try {
      fill();
    } finally {
      this.flush();
      this.gathered = undefined;
    }
  }

  /**
   * Calls `each(at, base)` for every row of `lists` (list numbers; negative ones skipped), with the
   * row's page in `page` at byte `base`.
   */
  scan(lists: ArrayLike<number>, each: (at: number, base: number) => void): void {
    this.flush();
    const { rowBytes } = this;
    for (let li = 0; li < lists.length; li++) {
      const l = lists[li]!;
      if (l < 0) continue;
      const pages = this.pages[l]!;
      const size = this.sizes[l]!;
      for (let p = 0; p < pages.length; p++) {
        const rows = Math.min(PAGE_ROWS, size - p * PAGE_ROWS);
        if (rows <= 0) break;
        const first = pages[p]! * PAGE_ROWS;
        this.file.read(this.page.buf, rows * rowBytes, first * rowBytes);
        for (let r = 0; r < rows; r++) each(first + r, r * rowBytes);
      }
    }
  }

  close(): void {
    this.file.close();
  }

  /** Writes the gathered rows: sorted by place, one call per run of consecutive rows (the last write of a row wins). */
  private flush(): void {
    const g = this.gathered;
    if (!g || g.at.length === 0) return;
    const { rowBytes } = this;
    const order = g.at.map((_, i) => i).sort((a, b) => g.at[a]! - g.at[b]! || a - b);
    const run = Buffer.allocUnsafe(g.at.length * rowBytes);
    let first = -1;
    let rows = 0;
    const write = () => {
      if (rows > 0) this.file.write(run, rows * rowBytes, first * rowBytes);
    };
    for (const i of order) {
      const at = g.at[i]!;
      if (rows > 0 && at === first + rows - 1) {
        rows--; // the same row again: this later copy replaces it
      } else if (rows === 0 || at !== first + rows) {
        write();
        [first, rows] = [at, 0];
      }
      g.rows.copy(run, rows * rowBytes, i * rowBytes, (i + 1) * rowBytes);
      rows++;
    }
    write();
    g.at.length = 0;
  }
}
