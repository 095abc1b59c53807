// Lets `node --import ./scripts/ts-node-register.mjs file.ts` run TypeScript through ts-node's ESM loader.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

register('ts-node/esm', pathToFileURL('./'));
