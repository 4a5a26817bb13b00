/** What went wrong, as a fixed code the CLI maps onto an exit status. */
export type GeneratorErrorCode =
  | "usage"
  | "bad_proto"
  | "clash"
  | "bad_template"
  | "command_failed"
  | "not_a_project";

/**
 * The one error type of create-hsu-unit. The message says what was wrong,
 * where (a file, a flag) and what to do; the CLI prints it without a stack.
 */
export class GeneratorError extends Error {
  override readonly name = "GeneratorError";
  readonly code: GeneratorErrorCode;

  constructor(code: GeneratorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** True for a GeneratorError, also across module copies (checks `name`). */
  static is(value: unknown): value is GeneratorError {
    return value instanceof Error && value.name === "GeneratorError";
  }
}
