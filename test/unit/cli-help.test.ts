// The README shows the command line's help word for word: one source (src/node/usage.ts), so the
// two cannot disagree. Each command has its own --help text.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_HELP, USAGE, commandHelp } from '../../src/node/usage.js';

describe('the command line help', () => {
  it('is in the README word for word', async () => {
    const readme = await fs.readFile(path.join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    // To update the README: npm run build:node && node bin/mycel.js --help, pasted in its block.
    expect(readme).toContain('```\n' + USAGE + '\n```\n');
  });

  it('has a text of its own for every command, starting with its usage line', () => {
    for (const command of Object.keys(COMMAND_HELP) as (keyof typeof COMMAND_HELP)[]) {
      expect(commandHelp(command).startsWith(`usage: mycel ${command}`)).toBe(true);
      expect(USAGE).toContain(COMMAND_HELP[command]);
    }
  });
});
