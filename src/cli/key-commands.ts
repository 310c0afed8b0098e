import { connect as connectNats } from '@nats-io/transport-node';
import type { Command } from 'commander';
import { openBetterSqlite3 } from '../adapters/sqlite/better-sqlite3-driver.ts';
import { UnknownMasterKeyError } from '../auth/envelope.ts';
import { loadConfig } from '../config.ts';
import { openKeyStore } from '../entry/open-key-store.ts';
import { UsageError } from './usage-error.ts';

/**
 * Master-key rotation: with FAASBOX_MASTER_KEY the new key and FAASBOX_MASTER_KEY_PREVIOUS the
 * old, every data key is wrapped again under the new one. Events are not touched (the data keys
 * do not change), so this takes a moment whatever the size of the log, and the apis may run
 * meanwhile: they unwrap with either key until it is done (deploy/README.md, "Rotating the master key").
 */
export function addKeyCommands(program: Command) {
  const keys = program.command('keys').description("the users' data keys, kept wrapped by the operator's master key");
  keys
    .command('rotate')
    .description('wrap every data key again under FAASBOX_MASTER_KEY (those wrapped under FAASBOX_MASTER_KEY_PREVIOUS)')
    .option('--json', 'print the count as JSON')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig(process.env);
      if (config.masterKeys.current === undefined) throw new UsageError('set FAASBOX_MASTER_KEY to the new master key, and FAASBOX_MASTER_KEY_PREVIOUS to the old one');
      const store = await openKeyStore(config, openBetterSqlite3, connectNats);
      try {
        const rewrapped = await store.rewrapAll();
        if (options.json) return console.log(JSON.stringify({ rewrapped }));
        console.log(`re-wrapped ${rewrapped} data key(s) under FAASBOX_MASTER_KEY; FAASBOX_MASTER_KEY_PREVIOUS can go once every api runs with the new key`);
      } catch (error) {
        if (error instanceof UnknownMasterKeyError) throw new UsageError(error.message);
        throw error;
      } finally {
        await store.close();
      }
    });
}
