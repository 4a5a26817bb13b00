import { HsuError } from "@hsu/client/hsu-error";

/**
 * A secret's name: it names its file (`<name>.age` in the store, `<name>` in
 * a unit's credentials directory), so no path separators, no leading dot
 * (no `.`/`..`, no hidden files), nothing a shell would need quoting for.
 */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** How a valid name looks, for error messages. */
export const SECRET_NAME_HINT = 'letters, digits, "_", "." or "-", starting with a letter or digit, at most 128 (like "db_password")';

/** Throws `invalid_argument` naming the rule when `name` is not a valid secret name. */
export function checkSecretName(name: string): string {
  if (SECRET_NAME.test(name) && !name.endsWith(".age") && !name.endsWith(".tmp")) return name;
  throw new HsuError("invalid_argument", `${JSON.stringify(name)} is not a valid secret name: use ${SECRET_NAME_HINT}, not ending in .age or .tmp`);
}
