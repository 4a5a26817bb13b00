// Unmanaged units: processes HSU watches but did not start and never restarts.
export { attachUnmanaged, type AttachUnmanagedOptions, type GoneReason, type UnmanagedEvent, type UnmanagedEvents, type UnmanagedUnit } from "./unmanaged-unit.ts";
export { checkUnmanagedSpec, validateUnmanagedSpec, type Locator, type UnmanagedUnitInput, type UnmanagedUnitSpec } from "./spec.ts";
export { locateProcess, type ProcessIdentity } from "./locate.ts";
export { pidsListeningOn } from "./ports.ts";
