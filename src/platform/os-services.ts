/** The craton_os addon (native/os/os.c): advisory file locks and kernel entropy. */
import { loadAddon } from '../backends/libcrypto';

interface OsAddon {
  lockFile(fd: number): void;
  unlockFile(fd: number): void;
  osEntropy(length: number): Uint8Array;
}

let addon: OsAddon | null = null;

function os(): OsAddon {
  addon ??= loadAddon<OsAddon>(undefined, 'craton_os.node').addon;
  return addon;
}

/** Runs `fn` holding the exclusive lock of an open file, so processes take turns. */
export function withFileLock<T>(fd: number, fn: () => T): T {
  os().lockFile(fd);
  try {
    return fn();
  } finally {
    os().unlockFile(fd);
  }
}

/** Bytes from the kernel's generator (getrandom, BCryptGenRandom), at most 4096 per call. */
export function osEntropy(length: number): Uint8Array {
  return os().osEntropy(length);
}
