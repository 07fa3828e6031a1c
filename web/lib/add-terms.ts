// The choices a person makes at Add (copies, expiry) and the commit terms they become.

import type { CommitTerms } from '../../src/net/wire.js';
import { DEFAULT_TARGET_COPIES, MAX_TARGET_COPIES } from '../../src/replication/policy.js';

export type Expiry = 'never' | 'day' | 'week' | 'month';

export interface AddChoices {
  readonly copies: number;
  readonly expiry: Expiry;
}

export const MAX_COPIES_CHOICE = MAX_TARGET_COPIES;
export const DEFAULT_ADD_CHOICES: AddChoices = { copies: DEFAULT_TARGET_COPIES, expiry: 'never' };

const DAY_MS = 24 * 60 * 60 * 1000;
const EXPIRY_MS: Record<Exclude<Expiry, 'never'>, number> = { day: DAY_MS, week: 7 * DAY_MS, month: 30 * DAY_MS };

export const EXPIRY_CHOICES: readonly { value: Expiry; label: string }[] = [
  { value: 'never', label: 'until removed' },
  { value: 'day', label: 'a day' },
  { value: 'week', label: 'a week' },
  { value: 'month', label: 'a month' },
];

/** The commit terms for `choices` made at `now` (the expiry in whole seconds, as the wire carries it). */
export function termsOf(choices: AddChoices, now = Date.now()): CommitTerms {
  const copies = Math.min(MAX_TARGET_COPIES, Math.max(1, Math.floor(choices.copies)));
  if (choices.expiry === 'never') return { copies };
  const expiresAt = Math.floor((now + EXPIRY_MS[choices.expiry]) / 1000) * 1000;
  return { copies, expiresAt };
}
