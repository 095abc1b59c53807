// Generates lib/protocol/gen/proto.{js,d.ts} from proto/*.proto with the protobufjs CLI.
// Skips the work when the output is newer than every .proto file.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const outDir = join(root, 'lib', 'protocol', 'gen');
const outJs = join(outDir, 'proto.js');
const outDts = join(outDir, 'proto.d.ts');
const protos = readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort().map((f) => join(protoDir, f));

const newest = Math.max(...protos.map((p) => statSync(p).mtimeMs), statSync(fileURLToPath(import.meta.url)).mtimeMs);
if (existsSync(outJs) && existsSync(outDts) && statSync(outJs).mtimeMs >= newest && statSync(outDts).mtimeMs >= newest) {
  process.exit(0);
}
mkdirSync(outDir, { recursive: true });
const bin = (name) => join(root, 'node_modules', 'protobufjs-cli', 'bin', name);
execFileSync(process.execPath, [bin('pbjs'), '-t', 'static-module', '-w', 'es6', '--no-verify', '--no-convert', '--no-delimited', '--no-service', '--force-long', '-o', outJs, ...protos], { stdio: 'inherit' });
execFileSync(process.execPath, [bin('pbts'), '-o', outDts, outJs], { stdio: 'inherit' });
console.log(`generated ${outJs}`);
