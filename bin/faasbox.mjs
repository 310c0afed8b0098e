#!/usr/bin/env node
// The `faasbox` command. Faasbox ships TypeScript sources, so tsx loads them, as for the server.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
