// `mycel <command> --help` prints that command's help and exits 0, for every command, whatever
// else is on the line (it once failed with "Unknown option" for serve).
import { describe, expect, it } from 'vitest';
import { COMMAND_HELP, commandHelp } from '../../src/node/usage.js';
import { runMycel } from '../helpers/processes.js';

describe('mycel <command> --help', () => {
  for (const command of Object.keys(COMMAND_HELP) as (keyof typeof COMMAND_HELP)[]) {
    it(`works for ${command}`, async () => {
      const result = await runMycel([command, '--port', '1', '--help']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim()).toBe(commandHelp(command));
    });
  }
});
