/**
 * Another process on the same store, for the change-feed tests (run with `node --import tsx`,
 * or as its bundle: test/support/keyplane-bundle.ts):
 *   publish URL KIND ID CLIENT  — what the CLI does after a write: publish once, close, exit
 *   listen URL                  — what a server does: print each event as a JSON line until killed
 */
import { createChangeFeed } from '../../src/infra/change-feed.ts';
import { createLogger } from '../../src/infra/logger.ts';
import { createStore } from '../../src/store/create-db.ts';

const [mode, url, kind, id, clientId] = process.argv.slice(2);
const store = createStore(url!);
const logger = createLogger({ level: 'warn' });
const feed = createChangeFeed({ store, redis: null, logger });

if (mode === 'publish') {
  await feed.publish({ kind: kind as 'key' | 'client', id: id!, clientId: clientId! });
  process.stdout.write(`published\n`);
  await feed.close();
  await store.close();
} else {
  feed.subscribe((e) => process.stdout.write(JSON.stringify(e) + '\n'));
  feed.onResync(() => process.stdout.write('"resync"\n'));
  // Keeps the process alive (the poller's timer is unref'd); says when it listens.
  const alive = setInterval(() => {
    if (feed.isLive() && !announced) process.stdout.write('listening\n');
    announced ||= feed.isLive();
  }, 20);
  let announced = false;
  process.once('SIGTERM', () => {
    clearInterval(alive);
    void feed.close().then(() => store.close());
  });
}
