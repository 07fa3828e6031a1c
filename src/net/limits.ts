// Every tuning knob and bound of the network layer, in one place. Figures behind the choices are
// in ../shared/notes/webrtc-node.md.

/** Largest data-channel message we send: 64 KiB was fastest and every implementation takes it. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Pause sending above this many bytes buffered in the channel; resume on bufferedamountlow. */
export const SEND_HIGH_WATER = 512 * 1024;
export const SEND_LOW_WATER = 64 * 1024;

/** Requests (wants, stores) one peer may have outstanding from us, and we from it. */
export const MAX_INFLIGHT_PER_PEER = 8;
/** Requests from one peer we queue before calling it a flood. */
export const MAX_QUEUED_REQUESTS = 64;
/** Time one request may take before another holder is asked. */
export const REQUEST_TIMEOUT_MS = 15_000;

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

/** Signaling reconnect backoff. */
export const RECONNECT_MIN_MS = 250;
export const RECONNECT_MAX_MS = 5_000;

/** An upload's blocks stay pinned on a seed this long without activity before a commit. */
export const UPLOAD_IDLE_TTL_MS = 60 * 60 * 1000;

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
