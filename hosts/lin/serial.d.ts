/** Creates the PTY (its path is printed as "pty=PATH" on stdout) and registers the receiver; returns the path. */
export declare function open(receiver: (bytes: ArrayBuffer) => void): string;
/** Writes every byte to the PTY (dropped if no client reads for 2 s). */
export declare function write(bytes: Uint8Array): void;
/** Bytes from the PC not yet delivered. */
export declare function pending(): number;
