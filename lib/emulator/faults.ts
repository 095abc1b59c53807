/** Fault injection: the switches connections consult, and the public EmulatorFaults API. */
import { MIMCError, ErrorCode } from '../errors.js';
import type { EmulatorFaults } from './types.js';

/** Flags read by every connection on its hot paths. */
export class FaultState {
  stallAll = false;
  readonly stalledAccounts = new Set<string>();
  dropAcks = false;
  delayMs = 0;
  /** Pending "corrupt the next frame" requests not tied to an account. */
  corruptAny = 0;
  /** Pending "corrupt the next frame" requests per account. */
  readonly corruptAccounts = new Map<string, number>();

  isStalled(appAccount: string | undefined): boolean {
    return this.stallAll || (appAccount !== undefined && this.stalledAccounts.has(appAccount));
  }

  /** Consumes one pending corruption request matching a frame written to `appAccount`. */
  takeCorruption(appAccount: string | undefined): boolean {
    if (appAccount !== undefined) {
      const n = this.corruptAccounts.get(appAccount);
      if (n !== undefined) {
        if (n <= 1) this.corruptAccounts.delete(appAccount);
        else this.corruptAccounts.set(appAccount, n - 1);
        return true;
      }
    }
    if (this.corruptAny > 0) {
      this.corruptAny--;
      return true;
    }
    return false;
  }

  /** Reports the switches, for the admin API. */
  snapshot(): Record<string, unknown> {
    return {
      stallAll: this.stallAll,
      stalledAccounts: [...this.stalledAccounts],
      dropAcks: this.dropAcks,
      delayMs: this.delayMs,
      corruptAny: this.corruptAny,
      corruptAccounts: Object.fromEntries(this.corruptAccounts),
    };
  }

  reset(): void {
    this.stallAll = false;
    this.stalledAccounts.clear();
    this.dropAcks = false;
    this.delayMs = 0;
    this.corruptAny = 0;
    this.corruptAccounts.clear();
  }
}

/** The actions a fault needs from the emulator core. */
export interface FaultTarget {
  readonly faultState: FaultState;
  dropConnections(appAccount?: string): void;
  expireTokens(appAccount?: string): void;
  kick(appAccount: string, resource?: string): void;
  sendOversizedFrame(appAccount?: string): void;
  /** Called when a stall or a delay ends, so held deliveries go out. */
  resumeDelivery(): void;
}

function checkAccount(appAccount: string | undefined): void {
  if (appAccount !== undefined && (typeof appAccount !== 'string' || appAccount.length === 0)) {
    throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'appAccount must be a non-empty string');
  }
}

export class Faults implements EmulatorFaults {
  constructor(private readonly target: FaultTarget) {}

  private get state(): FaultState {
    return this.target.faultState;
  }

  dropConnections(appAccount?: string): void {
    checkAccount(appAccount);
    this.target.dropConnections(appAccount);
  }

  stall(enabled: boolean, appAccount?: string): void {
    checkAccount(appAccount);
    if (appAccount === undefined) this.state.stallAll = enabled;
    else if (enabled) this.state.stalledAccounts.add(appAccount);
    else this.state.stalledAccounts.delete(appAccount);
    if (!enabled) this.target.resumeDelivery();
  }

  dropAcks(enabled: boolean): void {
    this.state.dropAcks = enabled;
  }

  delayDelivery(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0 || ms > 0x7fffffff) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'delay must be an integer number of ms >= 0');
    this.state.delayMs = ms;
  }

  corruptNextFrame(appAccount?: string): void {
    checkAccount(appAccount);
    if (appAccount === undefined) this.state.corruptAny++;
    else this.state.corruptAccounts.set(appAccount, (this.state.corruptAccounts.get(appAccount) ?? 0) + 1);
  }

  sendOversizedFrame(appAccount?: string): void {
    checkAccount(appAccount);
    this.target.sendOversizedFrame(appAccount);
  }

  expireTokens(appAccount?: string): void {
    checkAccount(appAccount);
    this.target.expireTokens(appAccount);
  }

  kick(appAccount: string, resource?: string): void {
    checkAccount(appAccount);
    if (appAccount === undefined) throw new MIMCError(ErrorCode.INVALID_ARGUMENT, 'kick needs an appAccount');
    this.target.kick(appAccount, resource);
  }

  reset(): void {
    this.state.reset();
    this.target.resumeDelivery();
  }
}
