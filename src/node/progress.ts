// A one-line progress bar on stderr, redrawn at most 10 times a second, only when stderr is a
// terminal (in a pipe or a log, nothing is drawn).

import { formatSize } from '../sizes.js';

export interface ProgressBar {
  update(done: number, total: number, note?: string): void;
  finish(): void;
}

const WIDTH = 28;

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update() {}, finish() {} };
  const started = Date.now();
  let last = 0;
  let drawn = false;
  const draw = (done: number, total: number, note = '') => {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(fraction * WIDTH);
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = `${formatSize(done / seconds)}/s`;
    const line = `${label} [${'#'.repeat(filled)}${' '.repeat(WIDTH - filled)}] ${Math.floor(fraction * 100)
      .toString()
      .padStart(3)}% ${formatSize(done)}/${formatSize(total)} ${rate}${note ? ' ' + note : ''}`;
    stream.write('\r\x1b[2K' + line.slice(0, (stream.columns || 100) - 1));
    drawn = true;
  };
  return {
    update(done, total, note) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      draw(done, total, note);
    },
    finish() {
      if (drawn) stream.write('\n');
    },
  };
}
