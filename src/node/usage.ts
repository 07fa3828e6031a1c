// The command line's help: one text per command, shown by `mycel <command> --help`, all of them by
// `mycel --help`, and copied verbatim into the README (a test keeps the two the same).

export const COMMAND_HELP = {
  serve: `  serve [--port 8080] [--host 0.0.0.0] [--data ./mycel-data] [--quota 10GiB] [--allow id,...]
        [--peer-quota 1GiB] [--open-share 0.5] [--open-ttl 30d] [--min-free 1GiB]
        [--copies 3] [--grace 30m] [--audit-every 6h]
        [--seed id,...] [--web dir] [--trust-proxy addr,...] [--header-timeout 10] [--redis url]
        [reach options]
        signaling server, seed and web app in one process (what npm start runs); its own seed is
        trusted, --seed names more`,
  signal: `  signal [--port 8080] [--host 0.0.0.0] [--seed id,...] [--web dir] [--trust-proxy addr,...]
        [--header-timeout 10] [--redis url] [reach options]
        the signaling server alone (serves the web app too, if built); --seed names the peer ids
        of the deployment's seeds (repeatable): only they are offered as seeds
        --trust-proxy: reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names
        the client; --header-timeout: seconds a client has to send a request's headers;
        --redis (redis://host:6379, rediss://…, unix:///path): several signaling processes on one
        Redis share peers, files and limits (put them behind one load balancer)`,
  seed: `  seed --signal <ws url>[,<ws url>...] [--data ./mycel-data] [--quota 10GiB] [--allow id,...]
        [--peer-quota 1GiB] [--open-share 0.5] [--open-ttl 30d] [--min-free 1GiB]
        [--copies 3] [--grace 30m] [--audit-every 6h] [--metrics [host:]port]
        a seed alone, joining the network through a signaling server; several URLs (processes
        of one deployment on one Redis) are tried in turn when the one in use is lost;
        --metrics serves its /metrics and /health there (a port alone: on 127.0.0.1)`,
  id: `  id [--data ./mycel-data]
        print the peer id kept in the data folder (made if missing): what --seed and --allow take`,
  repair: `  repair [--data ./mycel-data]
        with the seed stopped: walk every block file and make the seed's ledger agree with the
        disk (blocks copied in or deleted by hand); prints what it changed`,
  put: `  put <file | folder | file…> [--server http://localhost:8080[,url...]] [--timeout 30]
        [--identity dir] [--copies 3] [--expire 30d] [--json]
        encrypt, store on the seed(s), print one link. One file is shared as a file; a folder
        (its contents, tree kept, symbolic links left out) or several paths as one collection.
        --copies: live copies the network keeps (1 to 16); the file goes to that many seeds,
        and seeds add the rest when fewer are reachable.
        --identity puts as the peer kept in that folder (see id), for seeds that --allow only
        some peers; --json prints the link, size, seeds, copies and entries as one JSON line;
        --expire: seeds drop the file (and delete its blocks) that long after the put.
        --server (put, renew, get, status): several URLs (processes of one deployment on one
        Redis) are tried in turn when one cannot be reached or is lost; get, renew and status
        try the link's own server after them (alone without --server)`,
  renew: `  renew <link> --identity dir [--server url[,url...]] [--timeout 30] [--expire 30d]
        renew the hold of every seed on the file the link names, as the peer kept in that folder
        (the one that put it, or any other: it then holds the file too); open seeds drop a file
        not renewed within --open-ttl. A file put with --expire keeps its expiry, unless
        --expire here moves it later`,
  get: `  get <link> [dir] [-o path|-] [--force] [--server url[,url...]] [--timeout 30] [--json]
        [--cache dir] [--cache-quota 2GiB]
        fetch, verify and decrypt what the link names. A file is saved as its name (or path;
        - for stdout); --force replaces an existing file. A collection is written into the
        folder (default ./mycel-<root>), its tree restored: every path is checked first,
        nothing is written outside the folder, nothing existing is replaced, no link followed.
        --json prints a summary (a collection's entries too) as one JSON line.
        A file saved to a path is written once, to .<name>.<root>.mycel-partial beside it and
        renamed when whole; after an interruption that part is kept, and the same get checks it
        chunk by chunk and fetches only the rest. While one get writes it, another to the same
        file stops at once (the claim is <partial>.lock, taken over if its get was killed).
        A collection's or stdout's blocks are kept in a cache instead (--cache, default
        $XDG_CACHE_HOME/mycel, else ~/.cache/mycel), so a get again fetches only what is
        missing; it never grows past --cache-quota (oldest blocks go first). Empty it with:
        mycel cache --clear`,
  status: `  status <link> [--server url[,url...]] [--timeout 30] [--json]
        how many live copies the file has and of which kinds (seeds, browsers), how many its
        owner wants, and each holder's state, as the first seed holding it reports them;
        --json prints that report (target, live, holders with peer id, kind and state)`,
  cache: `  cache [--cache dir] [--clear]
        show where get's block cache (collections, stdout) is and how much it holds;
        --clear empties it`,
} as const;

export type Command = keyof typeof COMMAND_HELP;

/** Notes on flags several commands share, shown with the full help. */
const REACH_NOTE = `      reach (serve and signal): --tls-cert <pem> --tls-key <pem> serve https and wss on the
        port; --public-url <https url> is the origin links carry; --stun <url> and --turn <url>
        (repeatable) are handed to every peer, TURN with credentials from coturn's shared secret
        (--turn-secret-file <path>, or MYCEL_TURN_SECRET; never a flag) valid --turn-ttl (12h)`;

const SETTINGS_NOTE = `      settings (serve, signal, seed): --config <file.json> with the flag names as keys, and
        MYCEL_<FLAG> environment variables (MYCEL_PUBLIC_URL…); flags win over the environment,
        the environment over the file; --print-config shows the result, secrets masked`;

const STORAGE_NOTE = `      storage (serve and seed): --allow keeps files only for the listed peer ids, for good (use
        it on a public host). Without it the seed is open to anyone: each peer may keep
        --peer-quota (files and uploads), all of them together --open-share of --quota, and a
        file lives --open-ttl (30d, 12h, 90m…) after its last renewal. --min-free: disk space
        kept free; stores are refused below it (0: not watched).
        Replication: --copies is the live copies kept of files whose owner did not say (3);
        --grace how long a holder may be away before its copy is replaced (30m);
        --audit-every: each other holder of a file the seed holds is challenged to prove it at
        random within every such interval (6h)`;

const ORDER: Command[] = ['serve', 'signal', 'seed', 'id', 'repair', 'put', 'renew', 'get', 'status', 'cache'];

export const USAGE = [
  'usage: mycel <command> [options]    (mycel <command> --help: that command alone)',
  '',
  ...ORDER.flatMap((command) =>
    command === 'id' ? [REACH_NOTE, SETTINGS_NOTE, STORAGE_NOTE, COMMAND_HELP[command]] : [COMMAND_HELP[command]],
  ),
].join('\n');

/** One command's help, with the storage note for the commands it concerns. */
export function commandHelp(command: Command): string {
  const notes = [
    ...(command === 'serve' || command === 'signal' ? [REACH_NOTE] : []),
    ...(command === 'serve' || command === 'signal' || command === 'seed' ? [SETTINGS_NOTE] : []),
    ...(command === 'serve' || command === 'seed' ? [STORAGE_NOTE] : []),
  ];
  const extra = notes.map((note) => `\n${note}`).join('');
  return `usage: mycel${COMMAND_HELP[command].replace(/^ +/, ' ')}${extra}`;
}

export function isCommand(name: string | undefined): name is Command {
  return name !== undefined && Object.hasOwn(COMMAND_HELP, name);
}
