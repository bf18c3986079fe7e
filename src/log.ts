/**
 * The module's log. It never writes to stdout (that belongs to the host
 * program) and never receives PINs or key values. Lines go to standard
 * error and, when logging.file is set, are appended to that file too.
 */
import { appendFileSync } from 'node:fs';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

let threshold: LogLevel = 'warn';
let file: string | null = null;

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

export function setLogFile(path: string | null): void {
  file = path;
}

function emit(level: LogLevel, message: string): void {
  if (ORDER[level] > ORDER[threshold]) return;
  const line = `craton-hsm ${level}: ${message}\n`;
  process.stderr.write(line);
  if (file) {
    try {
      appendFileSync(file, `${new Date().toISOString()} [${process.pid}] ${line}`, { mode: 0o600 });
    } catch {
      // The log file is best effort: standard error has the line.
    }
  }
}

export const log = {
  error: (m: string) => emit('error', m),
  warn: (m: string) => emit('warn', m),
  info: (m: string) => emit('info', m),
  debug: (m: string) => emit('debug', m),
};
