// Splits a `perf record -e cpu-clock` profile of a process (all its threads) into what the time
// was spent on: content hashing, content AES-GCM, the channel's own crypto (DTLS) and SCTP, copies,
// allocation, V8's garbage collector and JS, kernel work for files and for the network, scheduling.
// Symbols decide the kind of work; the thread (main thread, a pool thread, the WebRTC threads)
// is shown beside it. Node needs `--perf-basic-prof` for JS names (JS is one bucket regardless).
// Usage: npx tsx test/bench/perf-split.ts <perf.data> [MB moved, to print ms per MB]
import { execFileSync } from 'node:child_process';

/** The kind of work a sample's symbol does. Order matters: first match wins. */
const KINDS: [string, RegExp][] = [
  ['sha-256', /sha256|SHA256|sha2_/],
  ['aes-gcm', /aesni|aes_hw|gcm_|_gcm|ghash|AES_|aes_gcm|CRYPTO_gcm/i],
  ['crypto: buffer zeroing', /OPENSSL_cleanse/],
  ['sctp (usrsctp)', /sctp/i],
  ['dtls/ssl framing', /^(ssl|SSL_|dtls|DTLS|tls1_|BIO_|ERR_)/],
  ['copies (memcpy/memmove)', /memmove|memcpy|__memcpy|copy_user|rep_movs/],
  ['allocation (malloc/free)', /malloc|_int_free|^free$|cfree|calloc|realloc|tcache|arena/],
  [
    'v8 gc',
    /v8::internal::(Heap|Mark|Sweep|Scaveng|Concurrent|Evacuat|MemoryChunk|BasicMemoryChunk|PagedSpace|NewSpace|OldSpace|Minor|Young|BodyDescriptor|HeapObject::SizeFrom|Worklist|MainMarking|RememberedSet|SlotSet|Compactor|GlobalHandles|LocalHeap)|ProcessStrongHeapObject|MarkingVisitor/,
  ],
  [
    'v8 js + builtins',
    /^(Builtins_|LazyCompile|JS:|Function:|Script:|~|\*|RegExp:|Stub:|BytecodeHandler|Interpreter)|v8::internal::(Runtime_|Builtin|Compiler|Parser|interpreter|maglev|compiler|Isolate|JSObject|Factory|Object::|String|ArrayBuffer|JSArrayBuffer|Execution|FeedbackVector|Map::|LookupIterator|Deserializer|MicrotaskQueue)/,
  ],
  [
    'kernel: network',
    /udp|ip6|ip_|ipv6|skb|sock|net_|dev_|icmp|recvfrom|sendto|sendmsg|recvmsg|_copy_to_iter|_copy_from_iter|move_addr|nf_|netif|napi|loopback|fib|rt6|dst_|csum|__sys_send|__sys_recv|neigh|qdisc|tcp|inet|sk_filter|process_backlog|siphash/,
  ],
  [
    'kernel: files',
    /ext4|filemap|folio|jbd2|inode|dentry|vfs_|find_get_block|xas_|page_cache|mpage|blk_|bio_|d_alloc|path_|rename|recently_deleted|__block_commit|block_write|generic_perform_write|mark_buffer|truncate|mkdir|do_sys_open|writeback|percpu_counter|radix|shmem|__filemap|mapping|getblk|fsnotify|dput|fput|fdget|link_path|walk_component|lookup_fast|namei|open_last|do_filp_open|file_|iomap/,
  ],
  [
    'kernel: memory',
    /alloc_page|clear_page|lru|kmem_cache|memcg|slab|rmqueue|page_fault|exc_page|handle_mm|do_anonymous|pte|pmd|vma|mmap|munmap|folio_add|zap_|tlb|get_mem_cgroup/,
  ],
  [
    'kernel: scheduling, syscalls, interrupts',
    /schedule|task_switch|spin_unlock|spin_lock|futex|wake|irqentry|softirq|do_syscall|entry_SYSCALL|syscall_exit|irq|epoll|poll|hrtimer|timer|clock|rcu|pick_next|enqueue|dequeue|update_|try_to_wake|exit_to_user|__x64|native_|ktime|select_task|cpuacct|psi_|mutex|rseq|local_bh|check_object_size|virt_addr_valid|copy_to_user|copy_from_user|get_user|list_del/,
  ],
  ['v8 runtime (other)', /^v8::|^node::|^uv_|^uv__|Scanner|RelocIterator/],
];

export function kindOf(sym: string, dso: string): string {
  for (const [kind, re] of KINDS) if (re.test(sym)) return kind;
  if (dso.includes('kernel')) return 'kernel: other';
  if (dso.includes('node_datachannel')) return 'libdatachannel: other';
  if (/perf-\d+\.map|JIT|\[unknown\]/.test(dso) || sym === '[unknown]') return 'v8 js + builtins';
  if (/chrom|libblink|libv8|content/.test(dso)) return 'chromium: other';
  return 'other';
}

export interface Split {
  samples: number;
  /** kind → thread → samples */
  byKind: Map<string, Map<string, number>>;
}

export function split(file: string): Split {
  const text = execFileSync('perf', ['script', '-i', file, '-F', 'pid,tid,comm,ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const byKind = new Map<string, Map<string, number>>();
  let samples = 0;
  for (const line of text.split('\n')) {
    // "  comm  pid/tid  ip sym (dso)"
    const m = /^\s*(.+?)\s+(\d+)\/(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/.exec(line);
    if (!m) continue;
    const [, comm, pid, tid, sym, dso] = m as unknown as [string, string, string, string, string, string];
    const thread = pid === tid ? `${comm} (main thread)` : comm.replace(/\d+$/, '');
    const kind = kindOf(sym, dso);
    let row = byKind.get(kind);
    if (!row) byKind.set(kind, (row = new Map()));
    row.set(thread, (row.get(thread) ?? 0) + 1);
    samples++;
  }
  return { samples, byKind };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, mbText, hzText] = process.argv.slice(2);
  const mb = Number(mbText ?? 0);
  const hz = Number(hzText ?? 499);
  const s = split(file!);
  const ms = (n: number) => (n * 1000) / hz;
  console.log(
    `${s.samples} samples = ${ms(s.samples).toFixed(0)} ms CPU${mb ? ` = ${(ms(s.samples) / mb).toFixed(2)} ms/MB` : ''}`,
  );
  const rows = [...s.byKind].map(([kind, threads]) => ({
    kind,
    threads,
    n: [...threads.values()].reduce((a, b) => a + b, 0),
  }));
  for (const { kind, threads, n } of rows.sort((a, b) => b.n - a.n)) {
    const where = [...threads]
      .sort((a, b) => b[1] - a[1])
      .map(([t, c]) => `${t} ${((100 * c) / n).toFixed(0)}%`)
      .join(', ');
    console.log(
      `${(mb ? ms(n) / mb : ms(n)).toFixed(2).padStart(7)} ${mb ? 'ms/MB' : 'ms'}  ${((100 * n) / s.samples).toFixed(1).padStart(5)}%  ${kind.padEnd(40)} ${where}`,
    );
  }
}
