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
