// Counters and gauges rendered in the Prometheus text exposition format (version 0.0.4).

type Labels = Record<string, string>;

interface Series {
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, number>;
}

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const parts = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class Metrics {
  private readonly series = new Map<string, Series>();
  private readonly collectors: (() => void)[] = [];

  /** Runs `collect` before every render, to set gauges owned by another part of the process. */
  addCollector(collect: () => void): void {
    this.collectors.push(collect);
  }

  private get(name: string, help: string, type: Series['type']): Series {
    let s = this.series.get(name);
    if (!s) this.series.set(name, (s = { help, type, values: new Map() }));
    return s;
  }

  inc(name: string, help: string, labels?: Labels, by = 1): void {
    const s = this.get(name, help, 'counter');
    const key = labelKey(labels);
    s.values.set(key, (s.values.get(key) ?? 0) + by);
  }

  /** Sets a counter kept by another part of the process (from a collector) to its running total. */
  counter(name: string, help: string, value: number, labels?: Labels): void {
    this.get(name, help, 'counter').values.set(labelKey(labels), value);
  }

  gauge(name: string, help: string, value: number, labels?: Labels): void {
    this.get(name, help, 'gauge').values.set(labelKey(labels), value);
  }

  value(name: string, labels?: Labels): number {
    return this.series.get(name)?.values.get(labelKey(labels)) ?? 0;
  }

  render(): string {
    for (const collect of this.collectors) collect();
    const lines: string[] = [];
    for (const [name, s] of this.series) {
      lines.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`);
      for (const [labels, value] of s.values) lines.push(`${name}${labels} ${value}`);
    }
    return lines.join('\n') + '\n';
  }
}
