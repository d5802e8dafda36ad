import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RefusalHold } from '../../lib/worker/refusal-hold.js';

const reply = (msg: string) => Object.assign(new Error(msg), { name: 'ReplyError' });
const MISCONF = reply("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.");

test('the reclaimer holds from a MISCONF refusal until holdMs after a write went through again; other errors start no hold', () => {
  let now = 1_000;
  const hold = new RefusalHold(500, () => now);
  assert.is(hold.holding(), false);
  assert.is(hold.refused(reply('LOADING Redis is loading the dataset in memory')), false);
  assert.is(hold.refused(reply("OOM command not allowed when used memory > 'maxmemory'.")), false, 'XCLAIM and the beat run at maxmemory');
  assert.is(hold.holding(), false);
  assert.is(hold.refused(MISCONF), true);
  now += 60_000;
  assert.is(hold.holding(), true, 'however long the outage lasts');
  hold.wrote();
  now += 499;
  assert.is(hold.holding(), true, 'owners get holdMs of writes to keep their entries');
  hold.refused(MISCONF);
  now += 1_000;
  hold.wrote();
  now += 499;
  assert.is(hold.holding(), true, 'a refusal again starts over from the next write');
  now += 1;
  assert.is(hold.holding(), false);
  hold.wrote();
  assert.is(hold.holding(), false, 'a write with no refusal before starts no hold');
});

test.run();
