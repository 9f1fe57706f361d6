/**
 * Message bodies with every kind of Unicode and SQL-, HTML- and format-string-looking text go
 * through the whole system (SDK -> chat server -> Kafka -> chat server -> SDK, and the writer ->
 * PostgreSQL) byte for byte: the checker's `corrupted` kind compares what was sent with what was
 * shown and with the stored bytes. Bodies are well-formed Unicode: a lone surrogate cannot be
 * UTF-8 encoded and becomes U+FFFD in any protobuf string (documented in docs/reliability.md).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/shared/limits.js';
import { checkHistory, HistoryRecorder } from '../helpers/checker.js';
import { type Cluster, eventually, startCluster } from '../helpers/cluster.js';

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ chatServers: 2, writers: 1 });
}, 90_000);
afterAll(() => cluster?.stop());

const CURATED = [
  "'; DROP TABLE messages; --",
  "Robert'); DROP TABLE students;--",
  '" OR 1=1 --',
  "\\'; SELECT pg_sleep(10); --",
  "$1 $2 $$ $$; COPY messages TO PROGRAM 'id'",
  "E'\\x00' || chr(0)",
  '\u0000 NUL in the middle \u0000',
  '%s%s%s%n%x %d',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the text itself is the attack
  '${jndi:ldap://example.invalid/a}',
  '<script>alert(1)</script><img src=x onerror=alert(1)>',
  '{"__proto__": {"admin": true}}',
  '\r\n\r\nHTTP/1.1 200 OK\r\n',
  '\u202eRTL override\u202c and \u200f marks \u200e',
  '\ufeffBOM at the start',
  'zero\u200bwidth\u200cjoiner\u200d',
  '👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇺🇦',
  'Z̷̡̛̛̗̝̯͉̳̖̜̙̞̣̘̰̒͒̈̓͋̀̐̈́͐̈́͘͝a̸̧̛̰̟͇̜͚̣̓́̃̽̌͠l̵̢̛̳̘̪̱̥̥̦̙̏̏̀̒̎̏g̴̖̮̞̖͎̀̀o̷̧̤̹̘̓̽̓',
  '\uffff\ufffe\ufffd U+FFFF and friends',
  '𝕳𝖊𝖑𝖑𝖔 𐍈 𠜎 (astral planes)',
  'ß ﬁ İ ı ǅ — case and ligature traps',
  // One byte under the limit in UTF-8 bytes, ending in a 3-byte character.
  'a'.repeat(DEFAULT_MAX_BODY_BYTES - 4) + '€',
  '',
  ' ',
  '\t\v\f\b\u0007\u001b[31mANSI\u001b[0m',
];

it('every kind of Unicode and SQL-looking text is stored and delivered byte for byte', async () => {
  const recorder = new HistoryRecorder();
  const alice = cluster.client(cluster.user('uni-alice'));
  const bob = cluster.client(cluster.user('uni-bob'));
  recorder.watch(alice);
  recorder.watch(bob);
  await Promise.all([alice.connect(), bob.connect()]);
  const generated = fc.sample(
    fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 60 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.string({ unit: 'grapheme-composite', maxLength: 40 }),
    ),
    { numRuns: 150, seed: 4242 },
  );
  const bodies = [...CURATED, ...generated];
  for (const [i, body] of bodies.entries()) {
    // Alternate directions so both chat servers encode and decode.
    const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
    const sent = await recorder.send(from, to.userId, body);
    expect(sent.error, `body #${i} ${JSON.stringify(body.slice(0, 40))}`).toBeUndefined();
  }
  const users = recorder.users();
  await eventually(
    async () => recorder.undelivered() === 0 && (await cluster.stored(users)).length === bodies.length,
    30_000,
    () => recorder.undelivered(),
  );
  const report = checkHistory(recorder.history(await cluster.stored(users)), { strictOrder: true });
  expect(report.ok, report.summary()).toBe(true);
  expect(report.counts.stored).toBe(bodies.length);
});

it('a body one byte over the limit is refused with TOO_LARGE and stored nowhere', async () => {
  const alice = cluster.client(cluster.user('big-alice'));
  await alice.connect();
  const bob = cluster.user('big-bob');
  // 3-byte characters: the limit is in UTF-8 bytes, not in JavaScript string length.
  const body = '€'.repeat(Math.floor(DEFAULT_MAX_BODY_BYTES / 3)) + 'ab';
  await expect(alice.send(bob, body)).rejects.toMatchObject({ code: 'TOO_LARGE' });
  await alice.send(bob, 'small one after');
  await eventually(async () => (await cluster.stored([bob])).length === 1, 20_000);
  expect((await cluster.stored([bob])).map((r) => Buffer.from(r.body).toString())).toEqual([
    'small one after',
  ]);
});

it('a body over the frame limit is refused once (TOO_LARGE), without a reconnect loop', async () => {
  const alice = cluster.client(cluster.user('huge-alice'), { sendTimeoutMs: 10_000 });
  await alice.connect();
  let reconnects = 0;
  alice.on('state', (s) => {
    if (s === 'reconnecting') reconnects++;
  });
  // 70,000 bytes: over max_body_bytes AND over max_frame_bytes (the server would close 1009).
  await expect(alice.send(cluster.user('huge-bob'), 'x'.repeat(70_000))).rejects.toMatchObject({
    code: 'TOO_LARGE',
  });
  expect(reconnects).toBeLessThanOrEqual(1);
  await alice.send(cluster.user('huge-bob'), 'the connection still works');
});
