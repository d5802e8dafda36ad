/**
 * Key names. Every key of a pipeline shares one hash tag (`{products}`), so a Lua script may
 * touch several streams and the store's keys, also on Redis Cluster.
 */
export class Keys {
  readonly tag: string;
  constructor(readonly pipeline: string) {
    this.tag = `{${pipeline}}`;
  }
  /** A stream by its config name (`classify` → `{products}:classify`). */
  stream(name: string): string {
    return `${this.tag}:${name}`;
  }
  get dlq(): string {
    return `${this.tag}:dlq`;
  }
  /** Hash holding one stored product. */
  product(key: string): string {
    return `${this.tag}:product:${key}`;
  }
  /** Set of every stored product key. */
  get products(): string {
    return `${this.tag}:products`;
  }
  /** Set of stored product keys in one category. */
  category(name: string): string {
    return `${this.tag}:category:${name}`;
  }
  /** Prefix for any other key a stage keeps (e.g. match vectors). */
  extra(name: string): string {
    return `${this.tag}:${name}`;
  }
}

/** Consumer name unique per process and reader: host-pid-n. */
export function consumerName(host: string, pid: number, n: number): string {
  return `${host}-${pid}-${n}`;
}
