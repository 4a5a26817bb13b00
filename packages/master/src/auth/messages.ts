// Refusal texts that more than one side reads: the master writes them, the CLI recognizes them.
// No imports, so the CLI's error path stays light.

/** How the refusal of a JWT that could not be checked begins (its provider down: UNAVAILABLE from a master that did answer). */
export const JWT_UNCHECKED = "the JWT cannot be checked now";
