/** @hsu/gateway: the HSU gateway unit (see README.md). */
export {};
