/**
 * The module's log. It never writes to stdout (that belongs to the host
 * program) and never receives PINs or key values.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

let threshold: LogLevel = 'warn';

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

function emit(level: LogLevel, message: string): void {
  if (ORDER[level] > ORDER[threshold]) return;
  process.stderr.write(`craton-hsm ${level}: ${message}\n`);
}

export const log = {
  error: (m: string) => emit('error', m),
  warn: (m: string) => emit('warn', m),
  info: (m: string) => emit('info', m),
  debug: (m: string) => emit('debug', m),
};
