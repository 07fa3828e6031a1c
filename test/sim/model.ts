// The churn model of the replication simulation: who is online when, what fails, what gets uploaded
// and opened. Every figure is an assumption, chosen on the pessimistic side of what published
// measurements report (cited from memory; no network here to re-check them):
// - P2P session lengths are heavy-tailed, median tens of minutes, with a strong daily cycle
//   (Stutzbach & Rejaie, "Understanding churn in peer-to-peer networks", IMC 2006; Steiner et al.,
//   Kad measurements, IMC 2007; Bhagwan et al., "Understanding availability", IPTPS 2003).
// - In data centres most node unavailability is short (restarts, upgrades), which is why storage
//   systems wait ~15 min before re-replicating (Ford et al., "Availability in globally distributed
//   storage systems", OSDI 2010). Our seeds are volunteer or small VPS machines: outages are rarer
//   than browser churn but longer, and permanent losses far more frequent than disks' 1–2 %/year.
// - Browsers evict best-effort storage under pressure, Safari drops script-written storage of sites
//   unused for 7 days, people clear data; persisted storage survives all but the last.
// Times are in milliseconds of simulated time; t = 0 is midnight UTC at the start of the warm-up.

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const MB = 1e6;

export interface Model {
  /** Seed of every random stream: the same seed gives the same world and the same results. */
  seed: string;
  /** Days measured, after a warm-up that lets the initial state settle (not measured). */
  days: number;
  warmupDays: number;
  seeds: number;
  /** Browsers at the start; departures are replaced by newcomers at the same rate. */
  browsers: number;
  /** Browsers whose storage is persisted (navigator.storage.persist() granted). */
  persistedFraction: number;
  /** Share of each browser habit. */
  mix: { occasional: number; daily: number; alwaysOn: number };
  /** Visits a few days a week, short sessions, afternoons and evenings. */
  occasional: { activeDay: number; extraSessions: number; medianMin: number; sigma: number };
  /** A work-day tab (most days) and sometimes an evening visit. */
  daily: {
    activeDay: number;
    startHour: number;
    medianHours: number;
    sigma: number;
    evening: number;
    eveningMedianMin: number;
  };
  /** A tab left open for days (a desktop, an installed PWA), closed now and then. */
  alwaysOn: { onMedianHours: number; onSigma: number; offMedianMin: number; offSigma: number };
  /** Short disconnects inside a session: network changes, a laptop lid, a reload. */
  flap: { perHour: number; medianSec: number; sigma: number };
  /** Chance per day that a browser leaves for good (uninstalls, never comes back). */
  departPerDay: number;
  /** Chance per day that a browser's storage is wiped (between two visits). */
  evictPerDay: { persisted: number; plain: number };
  /** Time zones (hours from UTC) and their weights. */
  timezones: { offset: number; weight: number }[];
  seedChurn: {
    /** Outages per seed per day, and their length (hours, log-normal). */
    outagePerDay: number;
    outageMedianHours: number;
    outageSigma: number;
    /** Restarts (deploys, updates) per seed per day, and their length (minutes). */
    restartPerDay: number;
    restartMedianMin: number;
    /** Seeds lost for good (disk and all) during the measured days, each at its own random time. */
    permanentFailures: number;
    /** Hosting providers; seed s is with provider s mod providers (its failure domain). */
    providers: number;
    /** Seeds of one provider lost for good together, at one random time (one account closed). */
    lostTogether: number;
    /** Every seed of one provider down together once, for hours (a provider outage). */
    providerOutageHours: number;
    /** Blocks silently lost or corrupted per seed per day (bit rot, bugs, a full disk). */
    corruptPerDay: number;
    /** Seeds that silently drop data at a high rate (lazy or broken), and that rate. */
    faulty: number;
    faultyCorruptPerDay: number;
  };
  files: {
    /** Files that exist at the start, already placed. */
    initial: number;
    uploadsPerDay: number;
    /** Links opened per day (the opener keeps the file, like the page does). */
    opensPerDay: number;
    /** File size: log-normal; median and log-space sigma, clamped. */
    sizeMedianBytes: number;
    sizeSigma: number;
    minBytes: number;
    maxBytes: number;
    /** At the start, chance that the uploader still holds its file, and readers holding it (mean). */
    uploaderKeeps: number;
    initialReaders: number;
  };
  /** Upload rates (bytes/s) and a fixed per-transfer set-up delay. */
  bandwidth: { seed: number; browser: number; setupMs: number };
  /** No churn at all: everyone online throughout, no failure, no upload, no open. */
  zeroChurn?: boolean;
}

export const DEFAULT_MODEL: Model = {
  seed: 'mycel-sim-1',
  days: 30,
  warmupDays: 2,
  seeds: 20,
  browsers: 9_980,
  persistedFraction: 0.25,
  mix: { occasional: 0.6, daily: 0.3, alwaysOn: 0.1 },
  occasional: { activeDay: 0.3, extraSessions: 0.5, medianMin: 12, sigma: 1.0 },
  daily: { activeDay: 0.75, startHour: 9, medianHours: 5, sigma: 0.4, evening: 0.3, eveningMedianMin: 45 },
  alwaysOn: { onMedianHours: 48, onSigma: 0.8, offMedianMin: 20, offSigma: 1.5 },
  flap: { perHour: 0.3, medianSec: 20, sigma: 1.5 },
  departPerDay: 0.01,
  evictPerDay: { persisted: 1 / 180, plain: 1 / 20 },
  timezones: [
    { offset: 1, weight: 0.35 },
    { offset: -5, weight: 0.3 },
    { offset: 8, weight: 0.25 },
    { offset: 5.5, weight: 0.05 },
    { offset: -8, weight: 0.05 },
  ],
  seedChurn: {
    outagePerDay: 1 / 10,
    outageMedianHours: 1,
    outageSigma: 1.2,
    restartPerDay: 1 / 7,
    restartMedianMin: 2,
    permanentFailures: 1,
    providers: 5,
    lostTogether: 2,
    providerOutageHours: 6,
    corruptPerDay: 0.5,
    faulty: 1,
    faultyCorruptPerDay: 40,
  },
  files: {
    initial: 100_000,
    uploadsPerDay: 1_000,
    opensPerDay: 3_000,
    sizeMedianBytes: 3 * MB,
    sizeSigma: 1.6,
    minBytes: 4_096,
    maxBytes: 4_000 * MB,
    uploaderKeeps: 0.3,
    initialReaders: 0.4,
  },
  bandwidth: { seed: 25 * MB, browser: 2 * MB, setupMs: 1_000 },
};

/** A model of the same shape, scaled down (for the unit test of the simulation). */
export function scaledModel(overrides: {
  seed?: string;
  seeds: number;
  browsers: number;
  files: number;
  days: number;
  warmupDays?: number;
  zeroChurn?: boolean;
  permanentFailures?: number;
  lostTogether?: number;
}): Model {
  const scale = overrides.browsers / DEFAULT_MODEL.browsers;
  const fileScale = overrides.files / DEFAULT_MODEL.files.initial;
  return {
    ...DEFAULT_MODEL,
    seed: overrides.seed ?? DEFAULT_MODEL.seed,
    seeds: overrides.seeds,
    browsers: overrides.browsers,
    days: overrides.days,
    warmupDays: overrides.warmupDays ?? DEFAULT_MODEL.warmupDays,
    zeroChurn: overrides.zeroChurn ?? false,
    seedChurn: {
      ...DEFAULT_MODEL.seedChurn,
      permanentFailures: overrides.permanentFailures ?? DEFAULT_MODEL.seedChurn.permanentFailures,
      lostTogether: overrides.lostTogether ?? DEFAULT_MODEL.seedChurn.lostTogether,
      faultyCorruptPerDay: DEFAULT_MODEL.seedChurn.faultyCorruptPerDay * fileScale,
    },
    files: {
      ...DEFAULT_MODEL.files,
      initial: overrides.files,
      uploadsPerDay: DEFAULT_MODEL.files.uploadsPerDay * fileScale,
      opensPerDay: DEFAULT_MODEL.files.opensPerDay * Math.max(scale, fileScale),
    },
  };
}
