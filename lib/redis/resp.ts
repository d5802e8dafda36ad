import { Command } from 'ioredis';

export type RespArg = string | Buffer | number;

/** Bytes of `n` written in decimal (n >= 0, an integer). */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Write `n` in decimal at `o`; returns the offset after it. */
function writeDecimal(out: Buffer, n: number, o: number): number {
  const end = o + digits(n);
  let i = end;
  do {
    out[--i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  return end;
}

/**
 * A command as RESP bytes (`*N`, then `$len` + bytes per argument), sized first and written in one
 * pass into one buffer. ioredis's own encoder builds a list of pieces per argument and copies them
 * again; for a hand-off of a few hundred arguments that was the client's largest cost per batch.
 */
export function encodeCommand(name: string, args: readonly RespArg[]): Buffer {
  const values: (string | Buffer)[] = new Array(args.length);
  const lengths: number[] = new Array(args.length);
  let size = 1 + digits(args.length + 1) + 2 + 1 + digits(name.length) + 2 + name.length + 2;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const v = typeof a === 'number' ? String(a) : a;
    const n = typeof v === 'string' ? Buffer.byteLength(v) : v.length;
    values[i] = v;
    lengths[i] = n;
    size += 1 + digits(n) + 2 + n + 2;
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  const header = (mark: number, n: number) => {
    out[o] = mark;
    o = writeDecimal(out, n, o + 1);
    out[o++] = 13;
    out[o++] = 10;
  };
  header(42 /* * */, args.length + 1);
  header(36 /* $ */, name.length);
  o += out.write(name, o, 'latin1');
  out[o++] = 13;
  out[o++] = 10;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    header(36, lengths[i]!);
    o += typeof v === 'string' ? out.write(v, o, 'utf8') : v.copy(out, o);
    out[o++] = 13;
    out[o++] = 10;
  }
  return out;
}

/**
 * An ioredis command whose wire form is `encodeCommand`'s, computed once (a reconnect or a cluster
 * redirection sends the same bytes again). ioredis still reads the arguments for routing (the
 * slot of the keys) and handles the reply as for any command, as its own Script class does.
 */
export class EncodedCommand extends Command {
  private encoded?: Buffer;

  constructor(name: string, args: RespArg[], replyEncoding: BufferEncoding | null = 'utf8') {
    super(name, args, { replyEncoding });
  }

  override toWritable(): Buffer {
    this.encoded ??= encodeCommand(this.name, this.args as RespArg[]);
    return this.encoded;
  }
}
