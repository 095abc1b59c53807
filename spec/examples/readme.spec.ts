/** The README's quick start, run as written (with the package imports pointed at lib/). */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));

it('the quick start runs and exits 0', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
  const runnable = code
    .replace("from 'mimc-node/emulator'", `from '${pathToFileURL(join(root, 'lib/emulator/index.js')).href}'`)
    .replace("from 'mimc-node'", `from '${pathToFileURL(join(root, 'lib/index.js')).href}'`);
  expect(runnable).not.toContain("'mimc-node");
  const dir = await mkdtemp(join(tmpdir(), 'mimc-readme-'));
  try {
    const file = join(dir, 'quickstart.mts');
    await writeFile(file, runnable);
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', './scripts/ts-node-register.mjs', file], {
      cwd: root,
      timeout: 20_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(stdout).toContain('online: true');
    expect(stdout).toMatch(/ack mimc_node_\S+ \d+/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
