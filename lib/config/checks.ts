import { ConfigError } from '../core/errors.js';
import type { StageOptions } from './types.js';

/**
 * Settings that are valid alone but wrong together, checked at start (docs/configuration.md
 * "Cross-checks"). Each error names both settings, their values and what goes wrong.
 * `where` is the stage's path in the config (`stages[2]`).
 */
export function crossCheckStage(where: string, s: StageOptions): void {
  const both = (a: keyof StageOptions, b: keyof StageOptions, why: string) =>
    new ConfigError(`${where}.${a}`, `${a} (${s[a]}) must not exceed ${b} (${s[b]}): ${why}`);
  // The idle-time reset of a running batch must come before the reclaimer may take it.
  if (s.keepClaimedMs > s.claimMinIdleMs) {
    throw both(
      'keepClaimedMs',
      'claimMinIdleMs',
      'a running batch would go idle long enough for another consumer to reclaim it and run it again (keep keepClaimedMs a third of claimMinIdleMs or less)',
    );
  }
  // A queued retry waits in this process up to retryMaxMs; between batches nothing resets its idle time.
  if (s.retryMaxMs > s.claimMinIdleMs) {
    throw both(
      'retryMaxMs',
      'claimMinIdleMs',
      'a message waiting for its retry would be reclaimed by another consumer meanwhile, and run twice with its delivery counted twice',
    );
  }
  // The alive key must outlive the gap between two beats, with one late beat to spare.
  if (s.aliveTtlMs < 2 * s.watchdogIntervalMs) {
    throw new ConfigError(
      `${where}.aliveTtlMs`,
      `aliveTtlMs (${s.aliveTtlMs}) must be at least twice watchdogIntervalMs (${s.watchdogIntervalMs}): a live process's alive key would lapse between two beats and a sibling would take its entries`,
    );
  }
  // stageTimeoutMs needs no check against claimMinIdleMs: the running batch's idle time is reset
  // every keepClaimedMs until the call returns or is abandoned at the deadline, so a deadline longer
  // than claimMinIdleMs does not let another consumer reclaim the batch (docs/configuration.md).
}

/** What a worker gets beyond its `drainTimeoutMs` after SIGTERM before it is SIGKILLed: the deploy files' grace period and `pipeline up`'s kill deadline. */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The orchestrator's grace period (k8s `terminationGracePeriodSeconds`, compose
 * `stop_grace_period`) must outlast the drain: SIGTERM → finish the batch in flight within
 * `drainTimeoutMs` → QUIT. A shorter one SIGKILLs workers mid-drain on every deploy.
 */
export function checkGracePeriod(where: string, stage: Pick<StageOptions, 'drainTimeoutMs'>, graceSeconds: number, setting: string): void {
  if (graceSeconds * 1000 <= stage.drainTimeoutMs) {
    throw new ConfigError(
      `${where}.drainTimeoutMs`,
      `drainTimeoutMs (${stage.drainTimeoutMs}) must be below ${setting} (${graceSeconds} s): the orchestrator would SIGKILL the worker before its batch in flight is handed off`,
    );
  }
}
