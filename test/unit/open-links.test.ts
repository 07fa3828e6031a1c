// Links opened for any tab's collection view (web/lib/open-links.ts): one open per root shared by
// every call that needs it; a collection stays open a while after its last user, then is closed;
// a link that is a single file is closed as soon as its caller is done; a failed open is not kept.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatLink } from '../../src/content/share-link.js';
import { NoHolderError } from '../../src/errors.js';
import type { OpenedLink } from '../../web/lib/collection-peer.js';
import { OpenLinks } from '../../web/lib/open-links.js';

const ROOT = 'ab'.repeat(32);
const LINK = formatLink('http://mycel.test', ROOT, new Uint8Array(32).fill(7));
const IDLE_MS = 1_000;

/** Opens every link as `kind`, counting opens and closes. */
function opener(kind: 'file' | 'collection') {
  const counts = { opened: 0, closed: 0 };
  const open = async () => {
    counts.opened++;
    return { kind, remote: { close: () => counts.closed++ }, entries: [] } as unknown as OpenedLink;
  };
  return { counts, links: new OpenLinks(open, IDLE_MS) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('links opened for any tab', () => {
  it('opens a collection once for calls that overlap or follow soon after', async () => {
    const { counts, links } = opener('collection');
    await Promise.all([links.use(LINK, async () => 1), links.use(LINK, async () => 2)]);
    await links.use(LINK, async () => 3);
    expect(counts).toEqual({ opened: 1, closed: 0 });
    links.closeAll();
  });

  it('closes a collection once nobody used it for a while', async () => {
    vi.useFakeTimers();
    const { counts, links } = opener('collection');
    await links.use(LINK, async () => undefined);
    await vi.advanceTimersByTimeAsync(IDLE_MS - 1);
    expect(counts.closed).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(counts.closed).toBe(1);
    expect(links.size).toBe(0);
  });

  it('does not close a collection while a call still uses it', async () => {
    vi.useFakeTimers();
    const { counts, links } = opener('collection');
    let finish: () => void = () => undefined;
    const long = links.use(LINK, () => new Promise<void>((resolve) => (finish = resolve)));
    await links.use(LINK, async () => undefined);
    await vi.advanceTimersByTimeAsync(IDLE_MS * 3);
    expect(counts.closed).toBe(0);
    finish();
    await long;
    await vi.advanceTimersByTimeAsync(IDLE_MS);
    expect(counts.closed).toBe(1);
  });

  it('closes a link that is a single file as soon as its caller is done', async () => {
    const { counts, links } = opener('file');
    await links.use(LINK, async () => undefined);
    await expect.poll(() => counts.closed).toBe(1);
    expect(links.size).toBe(0);
  });

  it('keeps no failed open: the next call opens again', async () => {
    let opens = 0;
    const links = new OpenLinks(async () => {
      opens++;
      throw new NoHolderError(ROOT, 1000);
    }, IDLE_MS);
    await expect(links.use(LINK, async () => undefined)).rejects.toThrow(NoHolderError);
    await expect(links.use(LINK, async () => undefined)).rejects.toThrow(NoHolderError);
    expect(opens).toBe(2);
  });
});
