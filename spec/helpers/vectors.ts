import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The official Go SDK's golden vectors, kept in the repository (spec/fixtures/README.md says where they came from). */
export const vectorsPath = fileURLToPath(new URL('../fixtures/go-sdk-vectors.json', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export function loadVectors(): Json {
  return JSON.parse(readFileSync(vectorsPath, 'utf8'));
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
