/** What the ACL tests (test/ops/acl.test.ts, test/ops/acl-e2e.test.ts) check commands with: a command's error, and the ACL refusal. */

/** The command's error message ('' if it succeeded). */
export const error = (p: Promise<unknown>) =>
  p.then(
    () => '',
    (e: Error) => e.message,
  );
/** Refused by ACL: NOPERM for a command, "The user executing the script can't ..." inside a script. */
export const NOPERM = /NOPERM|no permissions|user executing the script can't/i;
