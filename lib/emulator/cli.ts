#!/usr/bin/env node
/**
 * mimc-emulator: runs the local MIMC emulator until SIGINT/SIGTERM. Prints one JSON line with
 * the URLs and the (development) app credentials on stdout; logs go to stderr.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startEmulator, type EmulatorOptions } from './index.js';

const USAGE = `Usage: mimc-emulator [options]
  --host <addr>          listen address (default 127.0.0.1)
  --port <n>             frontend TCP port (default 0 = any free port)
  --http-port <n>        token/resolver/admin HTTP port (default 0 = any free port)
  --ws-port <n>          WebSocket (ws://) frontend port (default 0 = any free port)
  --ws-tls-cert <file>, --ws-tls-key <file>
                         PEM certificate and key (both or neither): the WebSocket
                         frontend serves wss:// instead of ws://
  --no-websocket         no WebSocket frontend (websocketUrl is then null)
  --app-id <id>          application id (decimal)
  --app-key <key>        application key
  --app-secret <secret>  application secret
  --token-ttl-ms <ms>    token lifetime (default 24 h)
  --callback-url <url>   instant message callback URL (NORMAL_MSG, NORMAL_TOPIC_MSG)
  --offline-callback-url <url>
                         offline message callback URL (default: --callback-url)
  --callback-retry-delays-ms <a,b,c>
                         delays before each callback retry (default 5000,30000,300000)
  --max-frame-body <bytes>, --max-pre-bind-frame-body <bytes>, --max-accounts <n>,
  --max-unlimited-groups <n>, --callback-max-in-flight <n>, --callback-max-queued <n>
                         the bounds of lib/emulator/README.md (defaults there)
  --verbose              debug logging on stderr
  --help                 this text`;

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value)) throw new Error(`--${name} must be a non-negative integer`);
  return Number(value);
}

/** The wss:// key pair from --ws-tls-cert and --ws-tls-key: both files or neither (one alone is a mistake, not ws://). */
function tlsFiles(certFile: string | undefined, keyFile: string | undefined): { cert: Buffer; key: Buffer } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new Error('--ws-tls-cert and --ws-tls-key go together');
  const read = (flag: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`--${flag}: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  return { cert: read('ws-tls-cert', certFile), key: read('ws-tls-key', keyFile) };
}

/** Numeric bounds settable from the command line: flag → option. */
const BOUND_FLAGS = {
  'max-frame-body': 'maxFrameBody',
  'max-pre-bind-frame-body': 'maxPreBindFrameBody',
  'max-accounts': 'maxAccounts',
  'max-unlimited-groups': 'maxUnlimitedGroups',
  'callback-max-in-flight': 'callbackMaxInFlight',
  'callback-max-queued': 'callbackMaxQueued',
} as const satisfies Record<string, keyof EmulatorOptions>;

function print(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'http-port': { type: 'string' },
      'ws-port': { type: 'string' },
      'ws-tls-cert': { type: 'string' },
      'ws-tls-key': { type: 'string' },
      'no-websocket': { type: 'boolean', default: false },
      'app-id': { type: 'string' },
      'app-key': { type: 'string' },
      'app-secret': { type: 'string' },
      'token-ttl-ms': { type: 'string' },
      'callback-url': { type: 'string' },
      'offline-callback-url': { type: 'string' },
      'callback-retry-delays-ms': { type: 'string' },
      ...Object.fromEntries(Object.keys(BOUND_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const options: EmulatorOptions = {
    logger: pino({ level: values.verbose ? 'debug' : 'warn' }, pino.destination(2)),
  };
  if (values.host !== undefined) options.host = values.host;
  const port = integer('port', values.port);
  if (port !== undefined) options.port = port;
  const httpPort = integer('http-port', values['http-port']);
  if (httpPort !== undefined) options.httpPort = httpPort;
  const wsPort = integer('ws-port', values['ws-port']);
  const tls = tlsFiles(values['ws-tls-cert'], values['ws-tls-key']);
  if (values['no-websocket']) {
    if (wsPort !== undefined) throw new Error('--ws-port and --no-websocket exclude each other');
    if (tls !== undefined) throw new Error('--ws-tls-cert/--ws-tls-key and --no-websocket exclude each other');
    options.websocket = false;
  } else if (wsPort !== undefined || tls !== undefined) {
    options.websocket = { ...(wsPort !== undefined ? { port: wsPort } : {}), ...(tls !== undefined ? { tls } : {}) };
  }
  if (values['app-id'] !== undefined) options.appId = values['app-id'];
  if (values['app-key'] !== undefined) options.appKey = values['app-key'];
  if (values['app-secret'] !== undefined) options.appSecret = values['app-secret'];
  const ttl = integer('token-ttl-ms', values['token-ttl-ms']);
  if (ttl !== undefined) options.tokenTtlMs = ttl;
  if (values['callback-url'] !== undefined) options.callbackUrl = values['callback-url'];
  if (values['offline-callback-url'] !== undefined) options.offlineCallbackUrl = values['offline-callback-url'];
  const delays = values['callback-retry-delays-ms'];
  if (delays !== undefined) {
    options.callbackRetryDelaysMs = delays === '' ? [] : delays.split(',').map((d) => integer('callback-retry-delays-ms', d.trim())!);
  }

  for (const [flag, option] of Object.entries(BOUND_FLAGS)) {
    const raw: unknown = (values as Record<string, unknown>)[flag];
    const value = integer(flag, typeof raw === 'string' ? raw : undefined);
    if (value !== undefined) options[option] = value;
  }

  const emulator = await startEmulator(options);
  const { app } = emulator;
  print({
    event: 'listening',
    tokenUrl: emulator.tokenUrl,
    resolverUrl: emulator.resolverUrl,
    adminUrl: emulator.adminUrl,
    restUrl: emulator.restUrl,
    frontend: `${emulator.frontend.host}:${emulator.frontend.port}`,
    // null rather than absent, so that a reader can tell "turned off" from an older CLI
    websocketUrl: emulator.websocketUrl ?? null,
  });
  // Development credentials of this emulator only, for the app server that fetches tokens.
  print({ event: 'app', appId: app.appId.toString(), appKey: app.appKey, appSecret: app.appSecret, appPackage: app.appPackage, feDomainName: app.feDomainName });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    emulator.close().then(
      () => print({ event: 'closed', signal }),
      (err: unknown) => {
        process.stderr.write(`mimc-emulator: close failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`mimc-emulator: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
  process.exitCode = 1;
});
