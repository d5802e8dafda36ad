import { pipelineStatus, type PipelineStatus } from '../../lib/inspect.js';
import { cliRedis, loadConfig, type GlobalOptions } from '../common.js';

export function formatStatus(s: PipelineStatus): string {
  const rows = [['stream', 'stage', 'length', 'added', 'lag', 'pending', 'consumers']];
  for (const st of s.streams) {
    const g = st.group;
    rows.push([st.stream, st.stage ?? '-', String(st.length), String(st.added), g ? String(g.lag ?? '?') : '-', g ? String(g.pending) : '-', g ? String(g.consumers) : '-']);
  }
  rows.push(['dlq', '-', String(s.dlq), '-', '-', '-', '-']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  return `pipeline ${s.pipeline}  stored ${s.stored}\n${lines.join('\n')}\n`;
}

/** `pipeline status`: per stream length, group lag, pending, consumers; DLQ length; stored count. */
export async function statusCommand(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const config = loadConfig(opts);
  const redis = cliRedis(config.redis.url);
  try {
    const status = await pipelineStatus(redis, config);
    process.stdout.write(opts.json ? JSON.stringify(status) + '\n' : formatStatus(status));
  } finally {
    redis.disconnect();
  }
}
