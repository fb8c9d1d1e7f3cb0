// The [P-10] checklist as the kit fills it: one line per rule, pass, fail or not run, with what was observed.

export interface CheckResult {
  /** The PROTOCOL.md sections the rule comes from. */
  section: string;
  title: string;
  status: 'pass' | 'fail' | 'not run';
  observed: string;
}

export class Results {
  readonly list: CheckResult[] = [];

  constructor(private readonly progress?: (line: string) => void) {}

  add(section: string, title: string, ok: boolean, observed: string): boolean {
    return this.push({ section, title, status: ok ? 'pass' : 'fail', observed });
  }

  notRun(section: string, title: string, why: string): void {
    this.push({ section, title, status: 'not run', observed: why });
  }

  private push(r: CheckResult): boolean {
    this.list.push(r);
    this.progress?.(formatResult(r));
    return r.status === 'pass';
  }

  get failed(): number {
    return this.list.filter((r) => r.status !== 'pass').length;
  }
}

export function formatResult(r: CheckResult): string {
  const mark = { pass: 'PASS', fail: 'FAIL', 'not run': 'SKIP' }[r.status];
  return `${mark}  [${r.section}] ${r.title}\n      observed: ${r.observed}`;
}
