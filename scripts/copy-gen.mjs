// tsc does not copy the generated protobufjs module; place it beside the compiled code.
import { copyFileSync, mkdirSync, chmodSync, existsSync } from 'node:fs';
mkdirSync('dist/protocol/gen', { recursive: true });
for (const f of ['proto.js', 'proto.d.ts']) copyFileSync(`lib/protocol/gen/${f}`, `dist/protocol/gen/${f}`);
if (existsSync('dist/emulator/cli.js')) chmodSync('dist/emulator/cli.js', 0o755);
