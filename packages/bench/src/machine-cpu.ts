// How busy the whole machine was while a measurement ran: every process (servers, clients, NATS)
// and the kernel's share (loopback TCP is kernel work). Read from Linux's /proc/stat; elsewhere
// nothing is reported. On an otherwise idle machine this is what one contender cost.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

/** A reading of the machine's CPU counters (jiffies, summed over all cores). */
export interface CpuReading {
  busy: number;
  total: number;
}

/** What a window between two readings cost. */
export interface CpuCost {
  /** Cores busy on average (2.00 = both cores of a 2-core machine all the time). */
  cores: number;
  /** CPU time per command, all processes and the kernel, in µs. */
  usPerCommand: number;
}

/** The machine's CPU counters now; undefined where /proc/stat cannot be read. */
export function readCpu(): CpuReading | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    // cpu  user nice system idle iowait irq softirq steal ...
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
    const total = busy + (idle ?? 0) + (iowait ?? 0);
    return line.startsWith("cpu ") && Number.isFinite(total) && total > 0 ? { busy, total } : undefined;
  } catch {
    return undefined;
  }
}

/** The cost of the window from `before` to `after`, in which `commands` ran in `seconds`. */
export function cpuCost(before: CpuReading | undefined, after: CpuReading | undefined, commands: number, seconds: number): CpuCost | undefined {
  if (before === undefined || after === undefined || after.total <= before.total || commands <= 0) return undefined;
  const cores = ((after.busy - before.busy) / (after.total - before.total)) * cpus().length;
  return { cores, usPerCommand: (cores * seconds * 1e6) / commands };
}

/** Runs `measure` and adds what the machine spent on it, when known. */
export async function withCpu<T extends { commands: number; seconds: number }>(measure: () => Promise<T>): Promise<T & { cpu?: CpuCost }> {
  const before = readCpu();
  const result = await measure();
  const cpu = cpuCost(before, readCpu(), result.commands, result.seconds);
  return cpu === undefined ? result : { ...result, cpu };
}
