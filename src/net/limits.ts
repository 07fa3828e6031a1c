// Every tuning knob and bound of the network layer (src/net) and of a seed's service to others, in
// one place; the figures behind them were measured with `npm run bench` (test/bench/). Not here: the
// wire's and signaling's format constants (wire.ts, signal-messages.ts), which are protocol, not
// tuning; a server's per-deployment settings (signaling/server.ts DEFAULT_LIMITS,
// src/node/http-guard.ts), which its command line overrides; the page's own (web/lib/browser-peer.ts).

/**
 * Largest data-channel message we send: about 64 KiB was fastest, and every implementation takes
 * up to 256 KiB (Chromium's and libdatachannel's max-message-size). The 256 bytes over 64 KiB let a
 * block of a default 256 KiB chunk (its 16-byte tag and the frame's header on top) go in four
 * messages rather than four and a 40-byte fifth, which cost a message's whole overhead.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 + 256;
/** Pause sending above this many bytes buffered in the channel; resume on bufferedamountlow. */
export const SEND_HIGH_WATER = 512 * 1024;
/** The bufferedamountlow threshold: simple-peer's own, which the link relies on (bench channels set it). */
export const SEND_LOW_WATER = 64 * 1024;
/** A sender waiting for the buffer to drain also checks it this often (a stack may miss the event). */
export const SEND_DRAIN_POLL_MS = 100;

/** Requests (wants, stores) one peer may have outstanding from us, and we from it. */
export const MAX_INFLIGHT_PER_PEER = 8;
/** Requests from one peer we queue before calling it a flood. */
export const MAX_QUEUED_REQUESTS = 64;
/** Time one request may take before another holder is asked. */
export const REQUEST_TIMEOUT_MS = 15_000;
/** Requests from one peer answered at once; the rest wait in its queue. */
export const SERVE_CONCURRENCY = 4;

/** Heartbeat: a ping this often, and the link is dead after this long without hearing anything. */
export const HEARTBEAT_INTERVAL_MS = 2_000;
export const HEARTBEAT_TIMEOUT_MS = 8_000;

/** A WebRTC connect (signaling + ICE + DTLS + channel open) must finish within this. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** After the channel opens, each side must prove its peer id (an auth frame) within this. */
export const AUTH_TIMEOUT_MS = 10_000;
/** Frames a link keeps that arrive before its session takes them (an auth frame, an error). */
export const MAX_EARLY_FRAMES = 2;
/** Fresh attempts after a failed connect (about 5% fail on node-datachannel under load). */
export const CONNECT_ATTEMPTS = 3;
/**
 * Attempts our own WebRTC stack failed while taking the other side's description or a candidate,
 * beyond CONNECT_ATTEMPTS: they fail within milliseconds of the answer, so another costs little.
 * node-datachannel (libdatachannel 0.24.5) sometimes loses an offer's ICE transport before a quick
 * answer is set ("Got a remote candidate without ICE transport"): 16 of about 130 connects to a
 * busy seed on loopback (test/integration/peer-bounds.test.ts, the have flood), and a retry right
 * after one failed again 5 times in 16, so three attempts in all were not always enough. Bounded:
 * a peer whose descriptions our stack refuses costs this many connections more, no more.
 */
export const STACK_FAILURE_RETRIES = 4;
/** A peer that sent bad frames or bad blocks is not asked again for this long. */
export const BAN_MS = 60_000;

/** Most peers one node keeps links to. */
export const MAX_PEERS = 32;
/** Holders of one file a fetch connects to. */
export const MAX_SOURCES = 8;

/** Fetch: blocks requested at once over all holders, and how far past the reader it may run. */
export const FETCH_WINDOW = 32;
/** How often a fetch with no holder asks the signaling server again. */
export const LOOKUP_RETRY_MS = 1_000;
/** How long a fetch waits with no holder at all before giving up. */
export const NO_HOLDER_TIMEOUT_MS = 30_000;
/** Re-ask the signaling server this often for more holders while a fetch has fewer than MAX_SOURCES. */
export const MORE_SOURCES_EVERY_MS = 5_000;
/**
 * Blocks fetched ahead of a reader and kept in memory for it (8 MiB at 256 KiB chunks), released
 * as it reads them: a reader right behind the fetch takes the bytes the session verified and never
 * reads them back from the store (a disk read and, for a store that checks reads, a hash).
 */
export const HANDOFF_BLOCKS = 32;

/** Blocks pushed and not yet acknowledged, per upload (each seed also bounds its own in-flight). */
export const UPLOAD_WINDOW = 16;
/** How far ahead of the reader a download fetches, in blocks (64 MiB at 256 KiB chunks). */
export const DOWNLOAD_AHEAD = 256;
/**
 * The read-ahead of a get that keeps the blocks it fetched in memory until it wrote them (a file
 * resumed from its partial copy, not a block cache): what is fetched and not yet written stays
 * under this many blocks (16 MiB at 256 KiB chunks), so memory stays flat however large the file.
 */
export const MEMORY_DOWNLOAD_AHEAD = 64;
/**
 * Blocks such a get may hold in memory at once: the read-ahead, the requests the reader waits for
 * past it, index blocks (one per 2 GiB of file). Past it, blocks go to the disk cache instead.
 */
export const MEMORY_DOWNLOAD_BLOCKS = 4 * MEMORY_DOWNLOAD_AHEAD;

/**
 * Blocks just past a reader's position moved to the front of the fetch queue each time it enters
 * a new span of this many: a seek fetches what it plays first, not the file's beginning.
 */
export const READ_PRIORITY_BLOCKS = 16;
/**
 * Blocks read back from each seed after its commit, besides the root: 2 MiB at 256 KiB chunks. A
 * seed that kept nothing is always caught; one that dropped a quarter of the blocks, 9 times in 10.
 */
export const READBACK_BLOCKS = 8;
/** Seeds one put or renewal connects to, and how long it looks for them by default. */
export const MAX_SEEDS_USED = 4;
export const SEED_SEARCH_TIMEOUT_MS = 15_000;
/** While no seed is reachable, ask the signaling server for seeds again this often. */
export const SEED_SEARCH_RETRY_MS = 500;

/** Signaling reconnect backoff. */
export const RECONNECT_MIN_MS = 250;
export const RECONNECT_MAX_MS = 5_000;
/** Signaling messages kept while disconnected (oldest dropped): signals older than a reconnect are stale anyway. */
export const MAX_QUEUED_SIGNALS = 256;
/**
 * Largest signaling message we parse from the server (characters of JSON); longer ones are
 * ignored unread. The largest the protocol makes is a welcome with MAX_ICE_SERVERS servers of
 * MAX_ICE_SERVERS URLs each, about 40 KiB; a relayed signal is capped by the server at 8 KiB.
 * Unknown fields a newer server adds are ignored, but only inside this bound.
 */
export const MAX_SERVER_MESSAGE_CHARS = 64 * 1024;
/** A lookup, or waiting for the signaling server's welcome, fails after this long. */
export const LOOKUP_TIMEOUT_MS = 10_000;

/** An upload's blocks stay pinned on a seed this long without activity before a commit. */
export const UPLOAD_IDLE_TTL_MS = 60 * 60 * 1000;

// ---- Bounded state from every peer (issue 7): what one peer, or one address, can make us hold. ----

/**
 * `have` topics a session takes from its peer: a token bucket, one token per topic (an empty
 * frame costs one). Honest peers send `have` only to tell a peer that asked them for a file's root
 * that they now hold it (wire.ts), so a whole frame's worth (MAX_HAVE_TOPICS) as the burst never
 * cuts off an honest sender, and the rate is far above what misses can produce; a peer past it is
 * flooding (ProtocolError 'flood', then banned). Nothing the peer names is stored.
 */
export const HAVE_TOPIC_BURST = 256;
export const HAVE_TOPICS_PER_SECOND = 32;
/**
 * Roots a peer may name in lost reports (one token per root): a wiped browser reports its holdings
 * once, in a few frames; a peer past this is flooding and is dropped.
 */
export const LOST_ROOT_BURST = 512;
export const LOST_ROOTS_PER_SECOND = 16;
/**
 * Suspect reports a peer may send (one token each): a page auditing its files sends one per failed
 * audit, a few an hour; a burst covers a page that comes online and finds several copies bad at
 * once. A peer past this is flooding and is dropped.
 */
export const SUSPECT_REPORT_BURST = 32;
export const SUSPECT_REPORTS_PER_SECOND = 1;
/**
 * Wants for ids we did not hold that a session remembers (oldest dropped first), so that when we
 * come to hold one of those files we can tell that peer with a `have`. 32 ids ≈ 3 KB per session.
 */
export const MAX_MISSES_REMEMBERED = 32;

/**
 * Distinct holders one fetch connects to, over its whole life. Holders that answer not-found are
 * dropped and replaced from fresh lookups; this bounds what a crowd of ids announcing a file they
 * do not hold can make a fetch spend. Two full lookups' worth (2 × MAX_HOLDERS): more liars than
 * the sockets one address may open on the signaling server (64).
 */
export const MAX_HOLDERS_TRIED = 128;
/**
 * How often a fetch that just lost a source to not-found may look up again: lookups return a
 * random sample, so repeating at once finds others, but not faster than the signaling rate limit
 * would like (50 messages per second per socket).
 */
export const REPLACE_LOOKUP_MS = 250;

/**
 * Until ICE connects, an attempt may take this long (CONNECT_TIMEOUT_MS still bounds the whole
 * connect): an offer whose sender never completes ICE costs us an RTCPeerConnection for half of
 * what it did. Honest connects to a `mycel serve` seed on loopback, the 2-core machine loaded (other
 * work plus two busy processes) with 8–16 connects at once, reached ICE connected within 0.7 s on
 * the offering side and 0.16 s on the seed's, and were proven within 1.2 s
 * (test/bench/connect-times.ts); a real network adds round trips and a TURN allocation (~1–2 s),
 * hence 5 s.
 */
export const ICE_TIMEOUT_MS = 5_000;
/**
 * Our offer must be answered (any signal back for the attempt) within this, else the attempt is
 * abandoned (a connect has usually raced another beside it by then, RACE_AFTER_MS) and the next
 * one starts at once if none is left: an offer that was lost, or ignored by a peer that
 * offered at the same moment, would otherwise be waited out for all of ICE_TIMEOUT_MS, and three
 * such attempts were the 15 s stalls. The answer is one signaling round trip plus an
 * RTCPeerConnection's setup on the other side: under 0.3 s on loopback with the machine loaded,
 * well under a second across the test NATs; 3 s leaves room for a busy browser tab or CI machine.
 */
export const ANSWER_TIMEOUT_MS = 3_000;
/**
 * From ICE connected to the data channel open (DTLS and SCTP handshakes: a few round trips, under
 * a second through a relay; an attempt raced beside it after RACE_AFTER_MS may have won already):
 * past this the attempt is stuck and the next one starts, rather than
 * waiting out the rest of CONNECT_TIMEOUT_MS.
 */
export const CHANNEL_OPEN_TIMEOUT_MS = 4_000;
/**
 * A connect whose latest attempt has not made a session this long after it began starts another
 * beside it (issue 9, "no stalls"): a lost offer or a stuck channel then costs this, not
 * ANSWER_TIMEOUT_MS or CHANNEL_OPEN_TIMEOUT_MS. Measured here (test/bench/connect-times.ts, and the
 * gets across NATs in the issue 9 notes): a connect to a seed on loopback is proven in about 0.1 s idle
 * and within 1.2 s with the 2-core machine loaded and 8-16 connects at once; across the test NATs a
 * whole get took 0.8-1.9 s, through coturn up to 2.9 s. Racing costs a second RTCPeerConnection
 * and, with TURN, a second relay allocation, so it should start only once the first attempt is
 * late for most honest connects, not merely slow: 1.5 s, past the loaded loopback connects and
 * most direct ones across NATs, well under the 3-5 s deadlines it replaces.
 */
export const RACE_AFTER_MS = 1_500;
/**
 * Attempts with one peer in progress at once: ours (a connect racing) and, apart, those offered to
 * us by one peer id (a newer offer past this replaces that peer's oldest). Two is enough to race a
 * lost or stuck attempt; a peer cannot grow our tables with fresh attempt ids.
 */
export const MAX_ATTEMPTS_PER_PEER = 2;
/**
 * Connects offered to us and still in progress (before the peer proved its id), counted apart
 * from sessions (MAX_PEERS): a full table makes room by dropping the oldest attempt whose channel
 * has not opened, from the origin holding the most attempts (admission.ts). Each costs an
 * RTCPeerConnection (~150 KiB, ~1.7 ms of CPU to build on node-datachannel); 64 is twice a
 * browser's MAX_PEERS, and held through a flood of dead offers from 320 ids on 16 addresses, it
 * cost `mycel serve` 30–45 MiB of RSS while 4 of 4 honest gets went through.
 */
export const MAX_CONNECTING = 64;
/**
 * Of those, from one origin (the signaling server's opaque tag for the sender's address): an
 * address (a NAT, an IPv6 /64) cannot hold more; its further offers are refused. An attempt that
 * ends before ICE connected keeps its slot until ICE_TIMEOUT_MS after its offer, so an origin
 * makes us build at most this many connections per ICE_TIMEOUT_MS however it abandons them. 16 (a
 * quarter of MAX_CONNECTING) lets many people behind one NAT connect at once (an honest attempt
 * frees its slot once proven, within about a second here): 16 connects at once from one address
 * all succeeded; with 8, 26 of 64 offers were refused at first and 2 connects failed all three tries.
 */
export const MAX_CONNECTING_PER_ORIGIN = 16;
/**
 * After the other side refused or dropped our offer, wait about this long (jittered ±50%, so the
 * refused do not return together) before the next try: its slots free as attempts finish, within
 * about a second for honest ones, while offering again at once would only be refused again.
 */
export const CONNECT_RETRY_AFTER_REFUSAL_MS = 1_000;
/**
 * Signals telling a peer we gave up on its attempt (refused, dropped, timed out): a token bucket.
 * The signaling server allows an ordinary socket 50 messages per second (burst 200) and closes
 * one that keeps going over: a flood of offers must not make us spend that on notices. Past it the
 * other side finds out at its own deadline.
 */
export const ABANDON_NOTICE_BURST = 20;
export const ABANDON_NOTICES_PER_SECOND = 5;
/**
 * After a peer broke the protocol, how long its channel stays up for the error frame that says why:
 * the frame waits behind frames already being sent (up to 4 blocks being served, ~1 MiB, which
 * loopback drains in ~20 ms and a loaded machine in a few hundred). Bounded, since the peer may
 * have stopped reading.
 */
export const ERROR_FLUSH_MS = 1_000;
/** Once the error frame is in the channel, the channel stays up this long more so it is delivered. */
export const ERROR_LINGER_MS = 50;

// --- A seed's storage for others (seed hardening: quotas, expiry, disk faults, repair) ---

/**
 * Default most one peer not on a seed's allow list may keep on it, pinned files and uploads in
 * progress together: one large video or a few thousand photos, and a tenth of the default 10 GiB
 * quota, so one stranger cannot take the seed.
 */
export const DEFAULT_PEER_QUOTA = 2 ** 30;
/**
 * Default share of a seed's quota all peers not on its allow list may pin together. Peer ids cost
 * nothing, so per-peer quotas alone do not stop many strangers; the rest of the quota stays for
 * cache and repair, so a full open share fails new puts but not gets or healing.
 */
export const DEFAULT_OPEN_SHARE = 0.5;
/**
 * Default time a file kept for a peer not on the allow list lives without being renewed. A month:
 * a page opened now and then (it renews on start) or a monthly `mycel renew` keeps a file; what
 * nobody cared about for a month is reclaimed.
 */
export const DEFAULT_OPEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** How often a page renews, with every seed it reaches, the files it added (and once on connecting). */
export const RENEW_INTERVAL_MS = 6 * 60 * 60 * 1000;
/** Uploads in progress one peer may have, and a seed keeps at once (more are refused as busy). */
export const MAX_UPLOADS_PER_PEER = 16;
export const MAX_UPLOADS = 1024;
/**
 * Least a block and a file are charged against a stranger's quota, whatever their size: what a
 * block file costs on disk, and what a file's record costs in memory and in the held-file list.
 * Without them a quota of tiny blocks or files would grow those tables by millions of entries.
 */
export const MIN_BLOCK_CHARGE = 4 * 1024;
export const MIN_FILE_CHARGE = 64 * 1024;
/**
 * A renewal this soon after the same peer's last one is kept in memory and written with others
 * every RENEW_FLUSH_MS, not at once: a flood of renewals costs one write per flush, and a crash
 * loses at most a few seconds of a file's life.
 */
export const RENEW_WRITE_GAP_MS = 60 * 60 * 1000;
export const RENEW_FLUSH_MS = 5_000;
/** Most peers one file is kept for: each renews and is charged for it; more are refused. */
export const MAX_OWNERS_PER_FILE = 16;
/** The expiry sweep runs this often at most (and ttl/8 at least, so short test TTLs are prompt). */
export const EXPIRY_SWEEP_MAX_MS = 60_000;
/** ...but never more often than this, whatever the ttl. */
export const EXPIRY_SWEEP_MIN_MS = 250;
/** Uploads idle past UPLOAD_IDLE_TTL_MS are looked for this often. */
export const IDLE_UPLOAD_SWEEP_MS = 60_000;
/** Peers a seed keeps links to (a page keeps MAX_PEERS): it serves everyone who holds its files. */
export const SEED_MAX_PEERS = 256;
/** Largest signaling message a seed's socket takes (a lookup answer is at most a few KiB). */
export const SEED_SIGNAL_MAX_PAYLOAD = 1024 * 1024;
/** Uploads stopped by a refusal remembered, so their blocks still in flight are refused too. */
export const MAX_STOPPED_UPLOADS = 1024;
/**
 * Default free disk space a seed keeps: stores are refused below it, before the disk is full and
 * writes (its own file list, logs, other programs') start failing. 0 turns the watch off.
 */
export const DEFAULT_MIN_FREE_BYTES = 1 * 2 ** 30;
/** Free space is read from the file system at most this often; writes since are subtracted. */
export const DISK_STAT_INTERVAL_MS = 1_000;
/** The same local fault (error code) is logged once per this period, with a count. */
export const FAULT_LOG_INTERVAL_MS = 60_000;
/**
 * A block of a held file that went bad is fetched again from other holders of the file; with none
 * found in this long, the file is withdrawn (no longer announced) until a later attempt heals it.
 */
export const HEAL_NO_HOLDER_MS = 10_000;
/** A repair stops after this long whatever happens (a disk that fails every write, a slow holder). */
export const HEAL_DEADLINE_MS = 120_000;
/** A withdrawn file is tried again this often. */
export const HEAL_RETRY_MS = 5 * 60_000;
/** Files repaired at once. */
export const HEAL_CONCURRENCY = 2;

/**
 * How often a seed looks for blocks no pin needs (no file it holds, no upload in progress) and
 * deletes them: leftovers of abandoned uploads, of files whose holds ended, of repairs.
 */
export const COLLECT_SWEEP_MS = 5 * 60_000;
/**
 * How long a block must stay unneeded, seen so by two sweeps, before it is deleted: an uploader
 * retrying (UPLOAD_IDLE_TTL_MS idle ends its upload, and the retry pins the same blocks again) or a
 * peer renewing the file gets that long to need it again before it is gone.
 */
export const COLLECT_DELAY_MS = 30 * 60_000;
/** Most blocks one sweep deletes: a sweep is short, and the next one goes on. */
export const COLLECT_BATCH = 4096;
/** Most unneeded blocks remembered with the time they were first seen so (the rest wait their turn). */
export const MAX_COLLECT_CANDIDATES = 65_536;
/**
 * A seed's replication engine (src/node/replication.ts) looks and plans this many times per grace
 * period, but never more often than REPLICATION_TICK_MIN_MS nor less often than
 * REPLICATION_TICK_MAX_MS: an absence is noticed well within the grace, and what `mycel status`
 * and lost reports see is at most that old whatever the grace.
 */
export const REPLICATION_TICKS_PER_GRACE = 8;
export const REPLICATION_TICK_MIN_MS = 500;
export const REPLICATION_TICK_MAX_MS = 10_000;
/**
 * Signaling lookups per second the engine spends on average: under a tenth of the server's
 * per-socket message rate (50/s), leaving the rest to the seed's signals and announces.
 */
export const REPLICATION_LOOKUPS_PER_SECOND = 4;
/** Rounds a file new to a seed waits before it is planned (its put's other copies are on their way). */
export const REPLICATION_SETTLE_TICKS = 2;
/** Holders one root's view keeps: a lookup's sample (64) and as many gone ones. */
export const REPLICATION_MAX_VIEW_HOLDERS = 128;
/** Roots all lost reports together may touch: bounds the work a crowd of new identities can cause. */
export const REPLICATION_LOST_ROOTS_BURST = 1024;
export const REPLICATION_LOST_ROOTS_PER_SECOND = 64;
/**
 * Audits a seed runs because of suspect reports, all reporters together (one token each): bounds the
 * work a crowd of new identities reporting can cause. Past it, reports are noted and ignored.
 */
export const SUSPECT_AUDITS_BURST = 32;
export const SUSPECT_AUDITS_PER_SECOND = 1;
/** Reported audits running at once on a seed (each may move a block). */
export const MAX_SUSPECT_AUDITS_IN_FLIGHT = 2;
/**
 * Distinct blocks a seed checks when it audits a holder on report, stopping at the first that fails.
 * One is not enough: the holder's own read of the block the reporter found bad has dropped it and
 * fetched it again, so a holder whose copy rotted can pass on that very block, and one missing a
 * fraction p of the file passes a one-block check with probability 1 - p. Four checks pass it with
 * about (1 - p)^4 (a fifth of its copy gone: 0.41 instead of 0.8), for at most four block reads and
 * 32-byte digests each way per report, within the reports' own bounds above.
 */
export const SUSPECT_AUDIT_BLOCKS = 4;
/**
 * A (file, holder) pair is audited on report at most once this often: more reports about it prove
 * nothing new, and an honest holder is not made to answer a flood of them.
 */
export const SUSPECT_PAIR_COOLDOWN_MS = 60_000;
/** Pairs remembered for that cooldown (oldest forgotten first). */
export const MAX_SUSPECT_PAIRS_REMEMBERED = 4096;
/** A repair push (connect, blocks, commit, read-back) to one target must finish within this. */
export const REPLICATION_PUSH_TIMEOUT_MS = 10 * 60_000;
