/**
 * The latency parts' load generator's connection: XADDs written as RESP bytes, one write per tick,
 * on a socket of its own, replies counted and errors kept. Through ioredis (a Command, its argument
 * conversion and a promise per XADD) the paced part cost the bench process 41 % of a core at
 * 14,000 records/s (process.cpuUsage over it), 23 % this way: a fifth of the 2-core machine the
 * pipeline under test shares with it, which showed in that pipeline's tail as run-queue waits. A
 * load generator should cost the system under test as little as it can; both sides of a run get
 * the same one.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { encodeCommand } from '../lib/redis/resp.js';

const CR = 13;
const DOLLAR = 36;
const MINUS = 45;

export class PacedConnection {
  private pending = Buffer.alloc(0);
  private written = 0;
  private replied = 0;
  private readonly errors: string[] = [];
  private waiters: (() => void)[] = [];

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    // A lost connection fails the run at its next drain instead of leaving it waiting for replies.
    socket.on('error', (err) => this.fail(`connection: ${err.message}`));
    socket.on('close', () => {
      if (this.replied < this.written) this.fail(`connection closed with ${this.written - this.replied} replies outstanding`);
    });
  }

  private fail(why: string): void {
    this.errors.push(why);
    this.replied = this.written;
    this.release();
  }

  private release(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  static async open(host: string, port: number, password?: string): Promise<PacedConnection> {
    const socket = connect({ host, port });
    await once(socket, 'connect');
    const conn = new PacedConnection(socket);
    if (password) {
      conn.write([encodeCommand('AUTH', [password])]);
      await conn.drain();
    }
    return conn;
  }

  /** One write of these commands (each as `encodeCommand` (lib/redis/resp.ts) gives it). */
  write(commands: readonly Buffer[]): void {
    if (commands.length === 0) return;
    this.written += commands.length;
    this.socket.write(commands.length === 1 ? commands[0]! : Buffer.concat(commands));
  }

  /** Resolves when every command written so far has its reply; throws the first error reply. */
  async drain(): Promise<void> {
    if (this.replied < this.written) await new Promise<void>((r) => this.waiters.push(r));
    if (this.errors.length > 0) throw new Error(`paced load: ${this.errors.length} command(s) failed, first: ${this.errors[0]}`);
  }

  close(): void {
    this.socket.destroy();
  }

  // Replies are simple strings, errors or bulk strings (XADD's entry id): counted, errors kept.
  private read(chunk: Buffer): void {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      const eol = buf.indexOf(CR, at);
      if (eol < 0 || eol + 1 >= buf.length) break;
      let next = eol + 2;
      if (buf[at] === DOLLAR) {
        const len = Number(buf.toString('latin1', at + 1, eol));
        if (len >= 0) next += len + 2;
        if (next > buf.length) break;
      } else if (buf[at] === MINUS) this.errors.push(buf.toString('utf8', at + 1, eol));
      at = next;
      this.replied++;
    }
    this.pending = at < buf.length ? Buffer.from(buf.subarray(at)) : Buffer.alloc(0);
    if (this.replied >= this.written) this.release();
  }
}
