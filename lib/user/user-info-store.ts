import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What an MCUser keeps across restarts. */
export interface UserInfo {
  /** The resource, so a restarted process is the same client instance to the server. */
  resource: string;
  /** The raw token JSON; only saved when the user was created with `cacheToken: true`. Secret. */
  tokenJson?: string;
}

/** Where user info lives between runs. Implement it over your own storage if you like. */
export interface UserInfoStore {
  load(key: string): Promise<UserInfo | undefined> | UserInfo | undefined;
  save(key: string, info: UserInfo): Promise<void> | void;
}

/** Keeps user info for the life of the process (a store shared by the users that are given it). */
export class MemoryUserInfoStore implements UserInfoStore {
  /** Created at the first save. */
  private entries: Map<string, UserInfo> | null = null;

  load(key: string): UserInfo | undefined {
    const info = this.entries?.get(key);
    return info && { ...info };
  }

  save(key: string, info: UserInfo): void {
    (this.entries ??= new Map()).set(key, { ...info });
  }
}

/** The default directory of FileUserInfoStore: `$XDG_STATE_HOME/mimc-node` or `~/.local/state/mimc-node`. */
export function defaultUserInfoDirectory(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'mimc-node');
}

/**
 * One JSON file per user in a private directory (0700, files 0600) — never beside the
 * executable, never world-readable, since it may hold a token. Writes are atomic (rename).
 */
export class FileUserInfoStore implements UserInfoStore {
  readonly directory: string;

  constructor(options: { directory?: string } = {}) {
    this.directory = options.directory ?? defaultUserInfoDirectory();
  }

  async load(key: string): Promise<UserInfo | undefined> {
    let text: string;
    try {
      text = await readFile(this.fileOf(key), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const data = JSON.parse(text) as Partial<UserInfo>;
      if (typeof data.resource !== 'string' || data.resource.length === 0) return undefined;
      return { resource: data.resource, ...(typeof data.tokenJson === 'string' ? { tokenJson: data.tokenJson } : {}) };
    } catch {
      return undefined; // a damaged file is ignored and rewritten, never fatal
    }
  }

  async save(key: string, info: UserInfo): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    await chmod(this.directory, 0o700);
    const file = this.fileOf(key);
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(info), { mode: 0o600 });
    await rename(temp, file);
  }

  private fileOf(key: string): string {
    return join(this.directory, `${encodeURIComponent(key)}.json`);
  }
}
