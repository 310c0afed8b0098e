import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSqliteEventStore } from '../src/adapters/event-store/index.ts';
import { createInProcessJobBus } from '../src/adapters/job-bus/index.ts';
import { openBetterSqlite3 } from '../src/adapters/sqlite/better-sqlite3-driver.ts';
import { loadConfig } from '../src/config.ts';
import { startApi } from '../src/api.ts';
import { tempDir } from './support/server-process.ts';
import { installedDocs } from '../src/adapters/package-files/index.ts';
import { createEphemeralKeyStore } from '../src/adapters/key-store/index.ts';
import { createScriptedImages } from './support/scripted-images.ts';

const allowlist = suite('registry allowlist');

allowlist('functions may only name images from the registries the operator allows; the api asks no other registry either', async () => {
  const config = loadConfig({ FAASBOX_ALLOWED_REGISTRIES: '127.0.0.1:5000, docker.io' });
  // The registries themselves are not under test (this machine reaches neither): their answers are scripted.
  const images = createScriptedImages();
  const store = createSqliteEventStore(openBetterSqlite3(join(tempDir(), 'events.sqlite')));
  const readModels = openBetterSqlite3(':memory:');
  const api = await startApi(
    { ...config, jwtSecret: 'x'.repeat(32) },
    { store, bus: createInProcessJobBus(), keys: await createEphemeralKeyStore(), readModels },
    () => {},
    { docs: installedDocs(), clientAddressOf: () => '127.0.0.1' },
    { images },
  );
  const { app } = api;
  const json = (method: string, path: string, body: unknown, token?: string) =>
    app.request(path, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  try {
    const credentials = { email: 'fence@example.com', password: 'correct horse battery' };
    assert.is((await json('POST', '/v1/users', credentials)).status, 201);
    const { token } = (await (await json('POST', '/v1/tokens', credentials)).json()) as { token: string };

    const allowed = ['127.0.0.1:5000/team/app:1', 'busybox', 'library/busybox:1.36', 'docker.io/library/busybox'];
    for (const image of allowed) {
      const reply = await json('POST', '/v1/functions', { name: 'ok', image }, token);
      assert.is(reply.status, 201, image);
    }
    for (const image of ['10.0.0.5:5000/app', 'evil.example.com/app:1', 'localhost/app', '127.0.0.1:5001/app']) {
      const reply = await json('POST', '/v1/functions', { name: 'no', image }, token);
      assert.is(reply.status, 400, image);
      const problem = (await reply.json()) as { errors: { field: string; message: string }[] };
      assert.equal(problem.errors.map((error) => error.field), ['image']);
      assert.match(problem.errors[0]!.message, /allowed registry: 127\.0\.0\.1:5000, docker\.io/);
    }
    // A digest is resolved in the allowed registries only: a refused image is never asked about.
    assert.equal(images.asked, allowed);
  } finally {
    await api.stop();
    await store.close();
    readModels.close();
  }
});

allowlist.run();
