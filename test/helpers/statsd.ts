/** A StatsD listener for tests: what the processes under test sent, parsed. */
import { createSocket, type Socket } from 'node:dgram';
import * as assert from 'uvu/assert';
import type { MetricType } from '../../lib/observe/metrics.js';

/** One StatsD line as sent by hot-shots: `prefix.name:value|type|#k:v,k:v`. */
export interface Line {
  name: string;
  value: number;
  type: string;
  tags: Record<string, string>;
}

export const TYPE: Record<string, MetricType> = { c: 'counter', ms: 'timer', h: 'histogram', g: 'gauge' };

export function parse(datagram: string, prefix: string): Line[] {
  return datagram
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^([^:]+):([^|]+)\|([a-z]+)(?:\|#(.*))?$/.exec(l);
      if (!m) throw new Error(`not a StatsD line: ${l}`);
      const tags: Record<string, string> = {};
      for (const t of (m[4] ?? '').split(',').filter(Boolean)) tags[t.slice(0, t.indexOf(':'))] = t.slice(t.indexOf(':') + 1);
      assert.ok(m[1]!.startsWith(prefix), `metric ${m[1]} lacks the prefix ${prefix}`);
      return { name: m[1]!.slice(prefix.length), value: Number(m[2]), type: m[3]!, tags };
    });
}

/** A UDP StatsD listener on a random loopback port. */
export async function listener(): Promise<{ socket: Socket; port: number; lines: Line[] }> {
  const socket = createSocket('udp4');
  const lines: Line[] = [];
  socket.on('message', (msg) => lines.push(...parse(msg.toString(), 'pipeline.')));
  await new Promise<void>((res) => socket.bind(0, '127.0.0.1', () => res()));
  return { socket, port: socket.address().port, lines };
}
