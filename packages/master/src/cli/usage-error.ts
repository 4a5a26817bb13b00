import { HsuError } from "@hsu/client/hsu-error";

/** A mistake in how hsu was called (exit code 2), with the command's usage line appended. */
export function usageError(command: string, message: string, args?: string): HsuError {
  return new HsuError("invalid_argument", `${message}\nusage: hsu ${command}${args ? ` ${args}` : ""} (see \`hsu ${command} --help\`)`);
}
