/** What the operators' audit masks (projections/audit.ts): secrets and payloads, never the shape of the history. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MASK, maskSecrets } from '../projections/audit.ts';

const mask = suite('audit masking');

mask("an asynchronous execution's kept stdin and its callback URL's path and query are masked; its origin and the rest stay", () => {
  const queued = { executionId: 'e1', stdinBytes: 6, stdin: 'c2VjcmV0', async: true, callbackUrl: 'https://hooks.example.com:8443/in?token=s3cret' };
  const masked = maskSecrets('ExecutionQueued', queued);
  assert.equal(masked, { ...queued, stdin: MASK, callbackUrl: `https://hooks.example.com:8443/${MASK}` });
  assert.not.match(JSON.stringify(masked), /s3cret|c2VjcmV0/);
  assert.equal(maskSecrets('ExecutionQueued', { executionId: 'e2', stdinBytes: 0 }), { executionId: 'e2', stdinBytes: 0 });
  assert.equal(maskSecrets('ExecutionSucceeded', { stdout: 'kept' }), { stdout: 'kept' });
});

mask("every version of a function has its environment's values masked, its names kept", () => {
  for (const type of ['FunctionCreated', 'FunctionUpdated', 'FunctionRolledBack']) {
    assert.equal(maskSecrets(type, { version: 2, env: { API_KEY: 'sk-live' } }), { version: 2, env: { API_KEY: MASK } }, type);
  }
});

mask.run();
