// sim's live display as a user sees it: `sim` runs in a real pseudo-terminal (util-linux
// `script`, its size set by stty) of 80x24, and what it writes is played into a small terminal
// model (below) that wraps at the width, scrolls at the bottom and moves the cursor as the
// escape sequences say. Every line must fit 80 columns and every redraw must land where the first
// frame was, without scrolling, also with more vifs than rows. The layout itself (frame()) is
// checked for narrower and shorter terminals.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatMbps, frame, mbps, type LiveRow } from '../../src/cli/live-display.js';

const run = promisify(execFile);
const bin = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

/**
 * A terminal of columns x rows that understands what the display sends (printable characters,
 * CR, LF, CSI n A, CSI J, CSI K) with xterm's deferred wrap: a character written in the last
 * column leaves the cursor there, and the next printable one goes to the next row first.
 */
class TerminalModel {
  readonly screen: string[][];
  row = 0;
  col = 0;
  scrolls = 0;
  private pendingWrap = false;
  /** Screen row and scroll count when each line starting with `[<time> s]` began. */
  readonly frames: { row: number; scrolls: number }[] = [];

  constructor(readonly columns: number, readonly rows: number) {
    this.screen = Array.from({ length: rows }, () => Array<string>(columns).fill(' '));
  }

  play(text: string): void {
    const chars = Array.from(text);
    for (let i = 0; i < chars.length; i++) {
      const ch = chars[i]!;
      if (ch === '\x1b' && chars[i + 1] === '[') {
        let j = i + 2;
        let params = '';
        while (j < chars.length && /[0-9;?]/.test(chars[j]!)) params += chars[j++];
        this.csi(params, chars[j]!);
        i = j;
      } else if (ch === '\r') {
        this.col = 0;
        this.pendingWrap = false;
      } else if (ch === '\n') {
        this.lineFeed();
        this.pendingWrap = false;
      } else if (ch >= ' ') {
        if (ch === '[' && this.col === 0 && /^\[\d+\.\d s\]/.test(chars.slice(i, i + 12).join(''))) {
          this.frames.push({ row: this.row, scrolls: this.scrolls });
        }
        if (this.pendingWrap) {
          this.col = 0;
          this.lineFeed();
          this.pendingWrap = false;
        }
        this.screen[this.row]![this.col] = ch;
        if (this.col === this.columns - 1) this.pendingWrap = true;
        else this.col++;
      }
    }
  }

  private lineFeed(): void {
    if (this.row === this.rows - 1) {
      this.screen.shift();
      this.screen.push(Array<string>(this.columns).fill(' '));
      this.scrolls++;
    } else this.row++;
  }

  private csi(params: string, final: string): void {
    const n = Number(params === '' ? 1 : params);
    this.pendingWrap = false;
    if (final === 'A') this.row = Math.max(0, this.row - n);
    else if (final === 'J') {
      for (let c = this.col; c < this.columns; c++) this.screen[this.row]![c] = ' ';
      for (let r = this.row + 1; r < this.rows; r++) this.screen[r]!.fill(' ');
    } else if (final === 'K') this.screen[this.row]!.fill(' ');
  }

  text(): string[] {
    return this.screen.map((line) => line.join('').trimEnd());
  }
}

/** `sim` in a pseudo-terminal of columns x rows: what it wrote, as the terminal got it. */
async function simInPty(columns: number, rows: number, args: string[]): Promise<string> {
  const command = `stty cols ${columns} rows ${rows}; exec ${process.execPath} ${bin} sim ${args.join(' ')}`;
  // what is drawn is the point here, not whether the run was ok (exit 70 on a starved machine)
  const { stdout } = await run('script', ['-q', '-e', '-c', command, '/dev/null'], { timeout: 90_000, maxBuffer: 16 << 20 })
    .catch((error: { code: number; stdout: string }) => {
      if (error.code !== 70) throw error;
      return error;
    });
  return stdout;
}

/** The printed lines with the escape sequences taken out, as columns (one per code point). */
function printedLines(output: string): string[] {
  // eslint-disable-next-line no-control-regex
  return output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split('\n').map((line) => line.replace(/\r/g, ''));
}

function playIn(columns: number, rows: number, output: string): TerminalModel {
  const terminal = new TerminalModel(columns, rows);
  terminal.play(output);
  return terminal;
}

/**
 * Every redraw starts where the first frame did: the same line of the output (screen row plus
 * the rows scrolled off so far), and nothing scrolls from the second frame on. (Drawing the first
 * frame may scroll the lines printed before it away when the block takes the whole screen.)
 */
function expectFramesInPlace(terminal: TerminalModel): void {
  const [first, ...redraws] = terminal.frames;
  expect(redraws.map((f) => f.row + f.scrolls)).toEqual(redraws.map(() => first!.row + first!.scrolls));
  expect(new Set(redraws.map((f) => f.scrolls)).size).toBe(1);
}

describe('sim live display in a pseudo-terminal', () => {
  it('liveDisplay_80x24_lines_fit_and_the_frame_stays_in_place', async () => {
    // with the visualizer's line (its URL with the token) among what is printed before the block
    const output = await simInPty(80, 24, ['--seconds', '5', '--viz', '0']);
    expect(output).toMatch(/^visualizer: http:\/\/127\.0\.0\.1:\d+\/\S+\/\r?$/m);
    const wide = printedLines(output).filter((line) => Array.from(line).length > 80);
    expect(wide).toEqual([]);
    const terminal = playIn(80, 24, output);
    expect(terminal.frames.length).toBeGreaterThanOrEqual(3);
    expectFramesInPlace(terminal);
    // the last frame is whole on the screen: its title, header and both vifs, the summary below it
    const screen = terminal.text().join('\n');
    expect(screen).toMatch(/\[\d+\.\d s\] 2 vifs\nVIF +STATE +Q +TX pkts.*\nvif1\.0 +Connected .*\nvif2\.0 +Connected .*\nsummary after/);
  }, 120_000);

  it('liveDisplay_80x24_more_vifs_than_rows_ends_with_a_summary_line', async () => {
    const output = await simInPty(80, 24, ['--seconds', '8', '--guests', '30']);
    expect(printedLines(output).filter((line) => Array.from(line).length > 80)).toEqual([]);
    const terminal = playIn(80, 24, output);
    expect(terminal.frames.length).toBeGreaterThanOrEqual(2);
    expectFramesInPlace(terminal);
    // the block is 23 rows (title, header, 20 vifs, the rest summed); the cursor rests on row 24
    const frames = output.split(/(?=\[\d+\.\d s\] 30 vifs)/).slice(1);
    const last = printedLines(frames[frames.length - 1]!.split('summary after')[0]!).filter((l) => l !== '');
    expect(last).toHaveLength(23);
    expect(last[2]).toMatch(/^vif1\.0 /);
    expect(last[21]).toMatch(/^vif20\.0 /);
    expect(last[22]).toMatch(/^… 10 more vifs: tx \d+\.\d Mbit\/s, rx \d+\.\d Mbit\/s, drops \d+$/);
  }, 120_000);
});

const row = (i: number): LiveRow => ({
  name: `vif${i}.0`, state: 'Connected', queues: 1, txPackets: 123_456_789, txBytes: 987_654_321_000, txMbps: 9876.5,
  rxPackets: 5, rxBytes: 500, rxMbps: 0, drops: 0,
});

describe('live display layout', () => {
  it('frame_fits_80_columns_with_large_figures', () => {
    const lines = frame('[12.5 s] 2 vifs', [row(1), row(64)], { columns: 80, rows: 24 });
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(79);
    expect(lines[2]).toMatch(/^vif1\.0 +Connected +1 +123\.5M +987\.7 GB +9876\.5 +5 +500 B +0\.0 +0$/);
  });

  it('frame_cut_to_a_narrow_terminal', () => {
    const lines = frame('[1.0 s] 2 vifs', [row(1), row(2)], { columns: 40, rows: 24 });
    expect(lines.map((l) => l.length <= 39)).toEqual([true, true, true, true]);
    expect(lines[2]).toMatch(/^vif1\.0 /);
  });

  it('frame_rows_run_out_summary_line', () => {
    const rows = Array.from({ length: 12 }, (_, i) => ({ ...row(i + 1), txMbps: 1.25, rxMbps: 0.5, drops: 1 }));
    const lines = frame('t', rows, { columns: 80, rows: 10 });
    expect(lines).toHaveLength(9);
    expect(lines.slice(2, 8).map((l) => l.split(' ')[0])).toEqual(['vif1.0', 'vif2.0', 'vif3.0', 'vif4.0', 'vif5.0', 'vif6.0']);
    // the 6 left out: 6 x 1.25 and 6 x 0.5 Mbit/s, 6 drops
    expect(lines[8]).toBe('… 6 more vifs: tx 7.5 Mbit/s, rx 3.0 Mbit/s, drops 6');
    // a terminal of three rows: the title and the header only
    expect(frame('t', rows, { columns: 80, rows: 3 })).toHaveLength(2);
  });

  it('mbps_one_decimal_rule', () => {
    expect(mbps(123_558_750, 1)).toBe(988.5);
    expect(formatMbps(mbps(123_525_000, 1))).toBe('988.2');
    expect(formatMbps(mbps(125_000_000, 1))).toBe('1000.0');
    expect(formatMbps(mbps(0, 0))).toBe('0.0');
  });
});
