import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startNatsServer, type NatsServer } from './support/nats-server.ts';
import { startServer } from './support/server-process.ts';

const PASSWORD = 'n4ts-p@ss/word';
let nats: NatsServer;

const auth = suite('NATS authentication [real nats-server requiring a user and password]', {});

auth.before(async () => {
  nats = await startNatsServer({ auth: { user: 'faasbox', pass: PASSWORD } });
});
auth.after(async () => {
  await nats?.stop();
});

const urlWith = (userInfo: string) => nats.url.replace('nats://', `nats://${userInfo}@`);

auth('a worker given the credentials in FAASBOX_NATS_URL connects and sets up its streams', async () => {
  const worker = await startServer({ role: 'worker', env: { FAASBOX_NATS_URL: urlWith(`faasbox:${encodeURIComponent(PASSWORD)}`) } });
  try {
    assert.ok(worker.output.some((line) => line.includes('"worker started"')));
    assert.not.ok(worker.output.join('\n').includes(PASSWORD), 'the password is never logged');
  } finally {
    await worker.stop();
  }
});

auth('with a wrong password it refuses to start, says why, and does not log the password', async () => {
  for (const userInfo of ['faasbox:wrong-password', '']) {
    const url = userInfo === '' ? nats.url : urlWith(userInfo);
    const error = await startServer({ role: 'worker', env: { FAASBOX_NATS_URL: url } }).then(
      async (worker) => {
        await worker.stop();
        return null;
      },
      (e: Error) => e,
    );
    assert.ok(error, `started with ${userInfo || 'no credentials'}`);
    assert.match(error.message, /Authorization Violation/i);
    assert.not.ok(error.message.includes('wrong-password'));
  }
});

auth.run();
