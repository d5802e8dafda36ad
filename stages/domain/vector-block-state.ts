import type { VectorBlock } from './vector-index.js';

/** What a match worker's local copy of one category holds (VectorStore): its index and how far it has read each shard's log. */
export interface Block {
  index?: VectorBlock;
  /** How far into the category's key log this copy has read, per shard. */
  loaded: number[];
  /** The log entry this copy read last (at `loaded` - 1), per shard: another one there means the log was deleted and started again. */
  last: (string | undefined)[];
  /** A shard's log was found deleted and started again: the copy is dropped at the end of the sync. */
  reset: boolean;
  /**
   * Log entries this worker wrote itself and has not read past yet, per shard: key → count.
   * Their vectors are in the local copy already, so a sync skips them instead of reading them
   * back (the match stage's largest Redis read when one worker adds most of the vectors).
   */
  own: Map<string, number>[];
  /** The id of the category's shared centroids once the block's IVF uses them (lists stored with that id are valid for it, and its writes carry theirs), else null. */
  shared: number | null;
  /** Whether the shared centroids have been looked for since the block was created. */
  looked: boolean;
  /** Sharing is off for this block (the centroids key is refused or holds another dimension): no more tries. */
  unshareable: boolean;
}

/** A category's copy before its first sync, over `shards` shards. */
export function newBlockState(shards: number): Block {
  return {
    loaded: Array.from({ length: shards }, () => 0),
    last: Array.from({ length: shards }, () => undefined),
    reset: false,
    own: Array.from({ length: shards }, () => new Map<string, number>()),
    shared: null,
    looked: false,
    unshareable: false,
  };
}
