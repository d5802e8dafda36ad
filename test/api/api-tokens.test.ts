/**
 * `API_TOKENS` (lib/api/auth.ts parseTokens): roles, and a name per token so that operators are
 * told apart in the console (who is signed in, who replayed, who decided a review item) by name,
 * not by their token's place in the list.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTokens } from '../../lib/api/auth.js';
import { buildServer } from '../../lib/api/server.js';
import { consolePlugin } from '../../lib/console/plugin.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, startRedis } from '../helpers/redis.js';

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789ab';

test('role@name:token names the token (two admins had been admin-1 and admin-2, by their place in the list); without a name, <role>-<n> as before', () => {
  const tokens = parseTokens(`read:viewer-token-012345678,admin@alice:${ALICE},admin+submit@bob.smith:${BOB}`);
  assert.equal(
    tokens.map((t) => [t.name, t.roles]),
    [
      ['read-0', ['read']],
      ['alice', ['admin']],
      ['bob.smith', ['admin', 'submit']],
    ],
  );
  assert.is(tokens[1]!.token, ALICE);
  assert.throws(() => parseTokens(`admin@:${ALICE}`), /API_TOKENS\[0\]: name "": 1 to 64 letters/);
  assert.throws(() => parseTokens(`admin@al ice:${ALICE}`), /name "al ice"/);
  assert.throws(() => parseTokens(`boss@alice:${ALICE}`), /unknown role "boss"/);
});

test('an entry written token first (token:role) is refused without the token in the message, which is logged', () => {
  for (const spec of [`${ALICE}:admin`, `${ALICE}:admin@alice`, `read:viewer-token-012345678,${BOB}+read:x`]) {
    let message = '';
    try {
      parseTokens(spec);
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /unknown role \(not shown: as long as a token\); an entry is role\[\+role\]\[@name\]:token/, spec);
    for (const secret of [ALICE, BOB]) assert.not.ok(message.includes(secret), `${spec}: ${message}`);
  }
});

test("the console says who is signed in by the token's name", async () => {
  const server = await startRedis();
  const config = rulesOnlyConfig(server.url, randomPipeline('tok'));
  const app = await buildServer({
    config,
    tokens: parseTokens(`admin@alice:${ALICE},admin@bob:${BOB}`),
    logger: silentLogger,
    plugins: [{ plugin: consolePlugin, opts: { sampleIntervalMs: 1000 } }],
  }).catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  try {
    for (const [token, name] of [
      [ALICE, 'alice'],
      [BOB, 'bob'],
    ] as const) {
      const me = await app.inject({ url: '/console/api/me', headers: { authorization: `Bearer ${token}` } });
      assert.equal(me.json(), { name, roles: ['submit', 'read', 'admin'], canAct: true });
    }
  } finally {
    await app.close();
    await server.stop();
  }
});

test.run();
