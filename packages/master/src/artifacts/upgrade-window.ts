// `upgrade.window`: the minutes in which `hsu upgrade` may run without --now, as a cron expression
// read by the library schedules use (croner, through @hsu/client's checkCronSchedule).
import { checkCronSchedule, HsuError } from "@hsu/client";

/** Whether `now` is in a minute the expression matches; else when the window opens next. */
export function windowState(cron: string, now: Date): { open: true } | { open: false; next: Date | undefined } {
  const checked = checkCronSchedule(cron, undefined, "upgrade");
  if (!checked.value) throw new HsuError("invalid_config", `upgrade.window: ${checked.issues[0]?.message ?? `bad cron expression "${cron}"`}`);
  const minute = Math.floor(now.getTime() / 60_000) * 60_000;
  const first = checked.value.nextRun(new Date(minute - 1));
  if (first && first.getTime() < minute + 60_000) return { open: true };
  return { open: false, next: checked.value.nextRun(now) ?? undefined };
}
