// The live per-vif counters `sim` shows while it runs. On a terminal the block is redrawn in place
// (cursor up by the lines drawn last time, erase below, draw): that only works while every line
// fits the terminal's width (a wrapped line takes two rows, the cursor-up falls short and the
// screen scrolls) and the block fits its height (rows scrolled off cannot be reached again). So
// rows are laid out to fit 80 columns, cut to the width when narrower, and when the vifs outnumber
// the rows the last row sums up those left out. Not a terminal: timestamped lines, appended.
// Rates are one number format everywhere sim prints them: formatMbps.

import type { VifSnapshot } from '../viz/snapshot.js';

/** Mbit/s of `bytes` over `seconds`, rounded to the one decimal sim prints (0 for no time). */
export function mbps(bytes: number, seconds: number): number {
  return seconds > 0 ? Math.round((bytes * 8) / seconds / 1e5) / 10 : 0;
}

/** A rate as sim prints it, in text and live: one decimal, always. */
export function formatMbps(rate: number): string {
  return rate.toFixed(1);
}

/** Bytes in decimal units, one decimal above B (`261.8 KB`). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** A count in at most 6 characters (`999999`, `1.23M`, `123.4M`), for a 7-column cell. */
function formatCount(count: number): string {
  if (count < 1e6) return String(count);
  for (const [scale, suffix] of [[1e6, 'M'], [1e9, 'G'], [1e12, 'T']] as const) {
    const value = count / scale;
    if (value < 1000) return `${value.toFixed(value < 10 ? 2 : 1)}${suffix}`;
  }
  return count.toExponential(1);
}

export interface LiveRow {
  name: string;
  state: string;
  queues: number;
  txPackets: number;
  txBytes: number;
  txMbps: number;
  rxPackets: number;
  rxBytes: number;
  rxMbps: number;
  drops: number;
}

/** The counters a vif's drops are the sum of. */
export const DROP_COUNTER = /drop|expired/i;

/** One vif's row: its counters now and the rates since the `before` snapshot `seconds` ago. */
export function liveRow(vif: VifSnapshot, before: VifSnapshot | undefined, seconds: number): LiveRow {
  const c = vif.counters;
  const p = before?.counters ?? {};
  const rate = (key: string) => mbps((c[key] ?? 0) - (p[key] ?? 0), seconds);
  let drops = 0;
  for (const [name, value] of Object.entries(c)) if (DROP_COUNTER.test(name)) drops += value;
  return {
    name: vif.name, state: vif.disabled !== null ? 'DISABLED' : vif.state, queues: vif.queues.length,
    txPackets: c.tx_ring_packets ?? 0, txBytes: c.tx_ring_bytes ?? 0, txMbps: rate('tx_ring_bytes'),
    rxPackets: c.rx_ring_packets ?? 0, rxBytes: c.rx_ring_bytes ?? 0, rxMbps: rate('rx_ring_bytes'), drops,
  };
}

// name, state, queues | tx packets, bytes, Mbit/s | rx packets, bytes, Mbit/s | drops: 79 columns
const cells = (c: string[]) => `${c[0]!.padEnd(8)}${c[1]!.padEnd(12)}${c[2]!.padStart(2)}`
  + ` ${c[3]!.padStart(7)} ${c[4]!.padStart(8)} ${c[5]!.padStart(7)}`
  + ` ${c[6]!.padStart(7)} ${c[7]!.padStart(8)} ${c[8]!.padStart(7)} ${c[9]!.padStart(6)}`;
const HEADER = cells(['VIF', 'STATE', 'Q', 'TX pkts', 'bytes', 'Mbit/s', 'RX pkts', 'bytes', 'Mbit/s', 'drops']);

function formatRow(row: LiveRow): string {
  return cells([row.name, row.state, String(row.queues), formatCount(row.txPackets), formatBytes(row.txBytes), formatMbps(row.txMbps),
    formatCount(row.rxPackets), formatBytes(row.rxBytes), formatMbps(row.rxMbps), String(row.drops)]);
}

/** A row with its labels, for output that is not a terminal (a log, a pipe). */
function formatLogLine(row: LiveRow): string {
  return `${row.name} ${row.state} q${row.queues} tx ${row.txPackets} pkts ${formatBytes(row.txBytes)} ${formatMbps(row.txMbps)} Mbit/s`
    + ` rx ${row.rxPackets} pkts ${formatBytes(row.rxBytes)} ${formatMbps(row.rxMbps)} Mbit/s drops ${row.drops}`;
}

/** The rows left out, summed: how many, their rates and drops. */
function formatRest(rest: LiveRow[]): string {
  const sum = (key: 'txMbps' | 'rxMbps' | 'drops') => rest.reduce((total, row) => total + row[key], 0);
  return `… ${rest.length} more vif${rest.length === 1 ? '' : 's'}: tx ${formatMbps(sum('txMbps'))} Mbit/s, rx ${formatMbps(sum('rxMbps'))} Mbit/s, drops ${sum('drops')}`;
}

/**
 * The block for a terminal of `columns` x `rows`: a title line, the column header, the vifs, and
 * at most rows - 1 lines in all (the cursor rests on the row below the block), none wider than
 * columns - 1 (a line of exactly the width leaves some terminals' cursor pending a wrap).
 */
export function frame(title: string, rows: LiveRow[], size: { columns: number; rows: number }): string[] {
  const height = Math.max(1, size.rows - 1);
  const lines = [title, HEADER];
  const room = height - lines.length;
  if (rows.length <= room) lines.push(...rows.map(formatRow));
  else if (room >= 1) {
    const shown = room - 1;
    lines.push(...rows.slice(0, shown).map(formatRow), formatRest(rows.slice(shown)));
  }
  const width = Math.max(1, size.columns - 1);
  return lines.slice(0, height).map((line) => (line.length > width ? line.slice(0, width) : line));
}

export interface LiveOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

/** Redraws the block in place on a terminal; prints plain timestamped lines otherwise. */
export class LiveDisplay {
  private drawn = 0;
  readonly tty: boolean;
  constructor(private readonly out: LiveOutput, enabled: boolean) {
    this.tty = enabled && out.isTTY === true;
  }

  show(title: string, rows: LiveRow[], time: string): void {
    if (!this.tty) {
      this.out.write(rows.map((row) => `[${time}] ${formatLogLine(row)}\n`).join(''));
      return;
    }
    // read each time: the terminal may have been resized since
    const lines = frame(`[${time}] ${title}`, rows, { columns: this.out.columns ?? 80, rows: this.out.rows ?? 24 });
    // back to the block's first row, erase it and everything below, draw
    const up = this.drawn > 0 ? `\r\x1b[${this.drawn}A\x1b[J` : '';
    this.out.write(`${up}${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  /** The block stays on screen; whatever is printed next goes below it. */
  done(): void {
    this.drawn = 0;
  }
}
