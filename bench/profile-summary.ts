/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by file,
 * largest first, as JSON. Self time is what a function spent in its own code, not in callees.
 *
 *   node --import ./scripts/ts-node-register.mjs bench/profile-summary.ts FILE.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isMain, round, runMain } from './common.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  selfPercent: number;
}

export interface ProfileSummary {
  totalMs: number;
  byFunction: ProfileEntry[];
  byFile: ProfileEntry[];
}

/** Shortens a script URL to a path relative to the repository (or the package inside node_modules). */
function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const repo = url.match(/\/(lib|bench|spec|scripts)\/.*/);
  return repo ? repo[0].slice(1) : url.replace(/^file:\/\//, '');
}

export function summariseProfile(profile: CpuProfile, top = 30): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to the function sampled at i
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
  }
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const file = shortUrl(frame.url);
    const fn = `${frame.functionName || '(anonymous)'} ${file}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
    total += us;
  }
  const list = (m: Map<string, number>): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: round(us / 1000, 1), selfPercent: round((100 * us) / total, 1) }));
  return { totalMs: round(total / 1000, 1), byFunction: list(fns), byFile: list(files) };
}

if (isMain(import.meta.url)) {
  runMain(async () => {
    const { values, positionals } = parseArgs({ args: process.argv.slice(2), options: { top: { type: 'string' } }, allowPositionals: true });
    if (positionals.length !== 1) throw new Error('usage: profile-summary.ts FILE.cpuprofile [--top N]');
    const profile = JSON.parse(readFileSync(positionals[0]!, 'utf8')) as CpuProfile;
    return summariseProfile(profile, values.top === undefined ? 30 : Number(values.top));
  });
}
