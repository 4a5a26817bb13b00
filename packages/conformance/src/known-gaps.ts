import type { ConformanceLanguage } from "./prepare.ts";

/** A check a language cannot pass for a documented reason (KNOWN_GAPS.md). */
export interface KnownGap {
  language: ConformanceLanguage;
  check: "reflection" | "socket-activation";
  reason: string;
}

/**
 * The checks skipped on purpose, with why. Keep in step with KNOWN_GAPS.md;
 * every gap there is a skip here and nothing else is skipped.
 */
export const knownGaps: readonly KnownGap[] = [
  ...(["python", "python-binary"] as const).map((language) => ({
    language,
    check: "socket-activation" as const,
    reason: "grpcio has no API to serve on an inherited listening fd: the unit binds HSU_LISTEN itself (the master's fallback)",
  })),
];

/** The reason a check is skipped for a language, or undefined when it runs. */
export function gapReason(language: ConformanceLanguage, check: KnownGap["check"]): string | undefined {
  return knownGaps.find((g) => g.language === language && g.check === check)?.reason;
}
