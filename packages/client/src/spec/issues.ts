/** One problem found in a spec: the field (dotted path inside the spec) and what is wrong with it. */
export interface SpecIssue {
  field: string;
  message: string;
}

/** What a `check*` function returns: every issue, and the checked value when there are none. */
export interface Checked<T> {
  readonly value: T | undefined;
  readonly issues: readonly SpecIssue[];
}

/** Collects issues under a path prefix. */
export class IssueList {
  readonly issues: SpecIssue[] = [];
  private readonly prefix: string;
  constructor(prefix = "") {
    this.prefix = prefix;
  }

  /** Records a problem with `field` (relative to the prefix; "" for the whole value). */
  add(field: string, message: string): undefined {
    const full = !field ? this.prefix : this.prefix ? `${this.prefix}.${field}` : field;
    this.issues.push({ field: full || "(spec)", message });
    return undefined;
  }

  /** Adds issues found by a nested check; their fields are already full paths. */
  addAll(issues: readonly SpecIssue[]): void {
    this.issues.push(...issues);
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }
}

/** Describes a value in an issue message. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
