import type { FinalStatus } from '../stream/done.js';

/** Ids named per kind in the summary (the first that ended so). */
const EXAMPLES = 5;

/** What `produce --wait` saw of the ids it sent: each distinct id once, at its latest end. */
export interface FeedEnds {
  /** Distinct ids sent by this run. */
  ids: number;
  stored: number;
  review: number;
  /** Revoked (`pipeline revoke`) before they were stored. */
  revoked: number;
  /** Dead-lettered ids by reason (max_deliveries, permanent_error, undecodable, no_route, ...). */
  deadLettered: Record<string, number>;
  /** Ids with no end yet. */
  waiting: number;
  /** A few ids of each kind that is not stored. */
  examples: { review: string[]; revoked: string[]; deadLettered: string[]; waiting: string[] };
}

/** An id's state in FeedTally: '' waiting, else `stored`, `review`, `revoked` or `dead_lettered:<reason>`. */
type State = string;

/**
 * The ids of a run and their ends, with counts kept as they change. One Map entry per id for the
 * whole wait (an id sent again after its end waits again, so ended ids are kept too): about 70
 * bytes with a 20-character id, 70 MB for a 1M-record feed.
 */
export class FeedTally {
  private readonly state = new Map<string, State>();
  private readonly counts = new Map<State, number>();
  private readonly examples = { review: [] as string[], revoked: [] as string[], deadLettered: [] as string[] };
  waiting = 0;

  /** An id about to be sent: waiting (again, if it had ended: the pipeline takes the later copy). */
  sent(key: string): void {
    const was = this.state.get(key);
    if (was === '') return;
    if (was !== undefined) this.bump(was, -1);
    this.state.set(key, '');
    this.waiting++;
  }

  /** A waiting id's end; false when the id is not waiting (not this run's, or a completion written twice). */
  ended(key: string, status: FinalStatus, reason: string | undefined): boolean {
    if (this.state.get(key) !== '') return false;
    const s = status === 'dead_lettered' ? `dead_lettered:${reason ?? 'unknown'}` : status;
    this.state.set(key, s);
    this.waiting--;
    this.bump(s, 1);
    const list = status === 'stored' ? undefined : status === 'dead_lettered' ? this.examples.deadLettered : this.examples[status];
    if (list && list.length < EXAMPLES && !list.includes(key)) list.push(key);
    return true;
  }

  /** The ids still waiting (all, or the first `limit`). */
  pending(limit = Infinity): string[] {
    const out: string[] = [];
    for (const [k, s] of this.state) {
      if (out.length >= limit) break;
      if (s === '') out.push(k);
    }
    return out;
  }

  report(withWaitingIds = false): FeedEnds {
    const deadLettered: Record<string, number> = {};
    for (const [s, n] of this.counts) if (s.startsWith('dead_lettered:') && n > 0) deadLettered[s.slice('dead_lettered:'.length)] = n;
    return {
      ids: this.state.size,
      stored: this.counts.get('stored') ?? 0,
      review: this.counts.get('review') ?? 0,
      revoked: this.counts.get('revoked') ?? 0,
      deadLettered,
      waiting: this.waiting,
      examples: { ...this.examples, waiting: withWaitingIds ? this.pending(EXAMPLES) : [] },
    };
  }

  private bump(s: State, by: number): void {
    this.counts.set(s, (this.counts.get(s) ?? 0) + by);
  }
}
